// Host side of the sm90 sparse decode: device capability check, parameters, one launch.
// No allocation, no host synchronization: capturable in a CUDA graph.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "api/checks.h"
#include "kernels/cuda_util.h"
#include "kernels/sm90/sparse_decode/config.h"
#include "kernels/sm90/sparse_decode/launch.h"
#include "kernels/sm90/sparse_decode/params.h"
#include "kernels/sm90/sparse_decode/variant.h"

namespace flashmla::sm90::sparse_decode {
namespace {

PoolParams pool_params(const TensorView& cache, const TensorView& ind, const TensorView& tl, const SparseKvPool& d) {
  PoolParams pp{};
  if (d.topk == 0) return pp;
  pp.cache = static_cast<const uint8_t*>(cache.data);
  pp.page_stride = d.page_stride;
  pp.num_tokens = d.num_tokens;
  pp.page_size = d.page_size;
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
  const int64_t grid = int64_t{pb.batch} * pb.s_q * p.num_head_blocks;  // <= 2^31 - 1 (validation)
  const auto stream = reinterpret_cast<cudaStream_t>(a.stream);
  const cudaError_t err = v32 ? launch_v32(p, static_cast<unsigned>(grid), stream)
                              : launch_model1(p, static_cast<unsigned>(grid), stream);
  return gpu::cuda_status(err, v32 ? "sparse_decode (sm90, V32): launch" : "sparse_decode (sm90, MODEL1): launch");
}

}  // namespace

Status supports(const SparseDecodeProblem& pb) {
  const int dev = pb.args->q.device_index;
  int major = 0, minor = 0, smem = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return checks::unsupported("q.device", "a CUDA device present in this process", checks::cat("cuda:", dev),
                               ErrorKind::kDevice);
  }
  if (major != 9 || minor != 0)
    return checks::unsupported("q.device", "an sm_90 GPU (H100 / H200 / H800 / H20)",
                               checks::cat("compute capability ", major, ".", minor), ErrorKind::kDevice);
  const int need = pb.format == KvFormat::kSparseV32 ? smem_bytes_v32() : smem_bytes_model1();
  if (smem < need)
    return checks::unsupported("q.device", checks::cat(need, " bytes of opt-in shared memory per block"),
                               checks::cat(smem), ErrorKind::kDevice);
  return Status::Ok();
}

size_t workspace_bytes(const SparseDecodeProblem&) { return 0; }

Status run_v32(const SparseDecodeProblem& pb) { return run(pb, true); }
Status run_model1(const SparseDecodeProblem& pb) { return run(pb, false); }

}  // namespace flashmla::sm90::sparse_decode
