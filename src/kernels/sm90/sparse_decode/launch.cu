// Host side of the sm90 sparse decode: device capability check, the split plan (split_plan.h), parameters,
// the launch, and for a split launch the shared combine right after it (a programmatic dependent launch).
// No allocation, no host synchronization: capturable in a CUDA graph.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "api/checks.h"
#include "kernels/common/split_kv.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/sparse_decode/config.h"
#include "kernels/sm90/sparse_decode/launch.h"
#include "kernels/sm90/sparse_decode/params.h"
#include "kernels/sm90/sparse_decode/split_plan.h"
#include "kernels/sm90/sparse_decode/variant.h"

namespace flashmla::sm90::sparse_decode {
namespace {

static_assert(kSplitTokensPerBlock == kTokensPerBlock && kSplitHeadsPerCta == kHeadsPerCta,
              "split_plan.h mirrors config.h");

// The device's SM count, clamped to kMaxSmsSm90 (the bound sparse_decode_workspace_size() sizes for).
int split_sms(int device) {
  const int sms = gpu::num_sms_or(device, kMaxSmsSm90);
  return sms < kMaxSmsSm90 ? sms : kMaxSmsSm90;
}

SplitPlan plan_of(const SparseDecodeProblem& pb) {
  return make_split_plan(pb.batch, pb.s_q, pb.h_q, pb.main.topk, pb.extra.topk, split_sms(pb.args->q.device_index),
                         pb.args->num_splits);
}

PoolParams pool_params(const TensorView& cache, const TensorView& ind, const TensorView& tl, const SparseKvPool& d) {
  PoolParams pp{};
  if (d.topk == 0) return pp;
  pp.cache = static_cast<const uint8_t*>(cache.data);
  pp.page_stride = d.page_stride;
  pp.num_tokens = d.num_tokens;
  pp.page_size = d.page_size;
  pp.page_shift = -1;
  for (int sh = 0; sh < 31; ++sh)
    if ((int64_t{1} << sh) == d.page_size) pp.page_shift = sh;
  // Validation guarantees 8-byte alignment; 16-byte pieces need base and page stride both 16-aligned.
  pp.narrow = ((reinterpret_cast<uintptr_t>(cache.data) | static_cast<uintptr_t>(d.page_stride)) % 16) != 0;
  pp.topk = d.topk;
  pp.indices = static_cast<const int32_t*>(ind.data);
  pp.stride_indices_b = ind.stride[0];
  pp.stride_indices_s = ind.stride[1];
  pp.stride_indices_k = ind.stride[2];
  pp.topk_length = tl.defined() ? static_cast<const int32_t*>(tl.data) : nullptr;
  pp.stride_topk_length_b = tl.defined() ? tl.stride[0] : 0;
  return pp;
}

Status run(const SparseDecodeProblem& pb, bool v32) {
  const SparseDecodeArgs& a = *pb.args;
  gpu::DeviceGuard guard(a.q.device_index);
  if (guard.error() != cudaSuccess) return gpu::cuda_status(guard.error(), "sparse_decode: selecting the device");
  SparseDecodeParams p{};
  p.q = static_cast<const uint16_t*>(a.q.data);
  p.stride_q_b = a.q.stride[0];
  p.stride_q_s = a.q.stride[1];
  p.stride_q_h = a.q.stride[2];
  p.pools[0] = pool_params(a.k_cache, a.indices, a.topk_length, pb.main);
  p.pools[1] = pool_params(a.extra_k_cache, a.extra_indices, a.extra_topk_length, pb.extra);
  p.attn_sink = pb.has_attn_sink ? static_cast<const float*>(a.attn_sink.data) : nullptr;
  p.stride_attn_sink_h = pb.has_attn_sink ? a.attn_sink.stride[0] : 0;
  p.out = static_cast<uint16_t*>(a.out.data);
  p.stride_out_b = a.out.stride[0];
  p.stride_out_s = a.out.stride[1];
  p.stride_out_h = a.out.stride[2];
  p.lse = static_cast<float*>(a.lse.data);
  p.stride_lse_b = a.lse.stride[0];
  p.stride_lse_h = a.lse.stride[1];
  p.stride_lse_s = a.lse.stride[2];
  p.s_q = pb.s_q;
  p.h_q = pb.h_q;
  p.num_head_blocks = (pb.h_q + kHeadsPerCta - 1) / kHeadsPerCta;
  p.scale_log2 = static_cast<float>(static_cast<double>(pb.softmax_scale) * 1.4426950408889634);
  p.batch = pb.batch;
  const SplitPlan plan = plan_of(pb);
  p.num_splits = plan.num_splits;
  uint8_t* ws = static_cast<uint8_t*>(a.workspace);
  if (plan.num_splits > 1) {  // workspace size and alignment checked by validation (workspace_bytes below)
    p.partial_o = reinterpret_cast<float*>(ws + plan.partial_o_offset);
    p.partial_lse = reinterpret_cast<float*>(ws + plan.partial_lse_offset);
    p.split_prefix = reinterpret_cast<int32_t*>(ws + plan.prefix_offset);
    p.split_status = reinterpret_cast<int32_t*>(ws + plan.status_offset);
  }
  // <= 2^31 - 1: validation bounds b * s_q * h_q, and a split plan's ctas * n (check_split_grid).
  const int64_t grid = plan.ctas * plan.num_splits;
  const auto stream = reinterpret_cast<cudaStream_t>(a.stream);
  cudaError_t err = v32 ? launch_v32(p, static_cast<unsigned>(grid), stream)
                        : launch_model1(p, static_cast<unsigned>(grid), stream);
  if (err != cudaSuccess || plan.num_splits == 1)
    return gpu::cuda_status(err, v32 ? "sparse_decode (sm90, V32): launch" : "sparse_decode (sm90, MODEL1): launch");

  // Merge the n slots of each request into out / lse; the sink factor is applied there, once.
  kernels::CombineParams c{};
  c.batch = pb.batch;
  c.s_q = pb.s_q;
  c.h_q = pb.h_q;
  c.num_splits = p.split_prefix;
  c.partial_o = p.partial_o;
  c.partial_lse = p.partial_lse;
  c.status = p.split_status;
  c.out = a.out.data;
  c.stride_o_b = a.out.stride[0];
  c.stride_o_s = a.out.stride[1];
  c.stride_o_h = a.out.stride[2];
  c.lse = p.lse;
  c.stride_lse_b = p.stride_lse_b;
  c.stride_lse_h = p.stride_lse_h;
  c.stride_lse_s = p.stride_lse_s;
  c.attn_sink = p.attn_sink;
  c.stride_attn_sink_h = p.stride_attn_sink_h;
  err = kernels::launch_combine(c, /*fp16=*/false, pb.args->q.device_index, stream);
  return gpu::cuda_status(err, "sparse_decode (sm90): combine launch");
}

}  // namespace

Status supports(const SparseDecodeProblem& pb) {
  const int dev = pb.args->q.device_index;
  gpu::DeviceInfo info;  // cached per device (no attribute queries per call)
  if (Status st = gpu::check_sm90_device(dev, &info); !st.ok()) return st;
  const int need = pb.format == KvFormat::kSparseV32 ? smem_bytes_v32() : smem_bytes_model1();
  if (info.max_smem_per_block_optin < static_cast<size_t>(need))
    return checks::unsupported("q.device", checks::cat(need, " bytes of opt-in shared memory per block"),
                               checks::cat(info.max_smem_per_block_optin), ErrorKind::kDevice);
  return Status::Ok();
}

size_t workspace_bytes(const SparseDecodeProblem& pb) { return plan_of(pb).workspace_bytes; }

Status run_v32(const SparseDecodeProblem& pb) { return run(pb, true); }
Status run_model1(const SparseDecodeProblem& pb) { return run(pb, false); }

}  // namespace flashmla::sm90::sparse_decode
