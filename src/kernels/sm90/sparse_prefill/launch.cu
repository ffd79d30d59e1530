// Host side of the sm90 sparse prefill: capability checks, parameters, the launch. Nothing here
// allocates or synchronizes, so sparse_prefill() can be captured in a CUDA graph.
#include "kernels/sm90/sparse_prefill/launch.h"

#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <string>

#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/sparse_prefill/config.h"
#include "kernels/sm90/sparse_prefill/variant.h"

namespace flashmla::sm90::sparse_prefill {
namespace {

constexpr int kMaxDevices = 64;
constexpr int kNumVariants = 2;
std::atomic<bool> g_smem_configured[kNumVariants][kMaxDevices];

int64_t stride_or_zero(const TensorView& v, int dim) { return v.shape[dim] > 1 ? v.stride[dim] : 0; }

}  // namespace

Status supports_dim(const SparsePrefillProblem& pb, int d_qk) {
  if (pb.d_qk != d_qk)
    return Status(StatusCode::kNotSupported,
                  "q.shape[2] (d_qk): expected " + std::to_string(d_qk) + ", got " + std::to_string(pb.d_qk),
                  ErrorKind::kShape);
  const int dev = pb.args->q.device_index;
  gpu::DeviceInfo info;  // cached per device (no attribute queries per call)
  if (Status st = gpu::check_sm90_device(dev, &info); !st.ok()) return st;
  const int need = d_qk == 576 ? Config<576>::kSmemBytes : Config<512>::kSmemBytes;
  if (info.max_smem_per_block_optin < static_cast<size_t>(need))
    return Status(StatusCode::kNotSupported,
                  "q.device: expected " + std::to_string(need) + " bytes of shared memory per block, got " +
                      std::to_string(info.max_smem_per_block_optin),
                  ErrorKind::kDevice);
  return Status::Ok();
}

SparsePrefillParams make_params(const SparsePrefillProblem& pb) {
  const SparsePrefillArgs& a = *pb.args;
  SparsePrefillParams p{};
  p.h_q = pb.h_q;
  p.head_groups = (pb.h_q + kBlockM - 1) / kBlockM;
  p.topk = pb.topk;
  p.s_kv = pb.s_kv;
  p.sm_scale = pb.sm_scale;
  p.scale_log2 = static_cast<float>(static_cast<double>(pb.sm_scale) * 1.4426950408889634);
  p.q = static_cast<const uint16_t*>(a.q.data);
  p.stride_q_s = stride_or_zero(a.q, 0);
  p.stride_q_h = stride_or_zero(a.q, 1);
  p.kv = static_cast<const uint16_t*>(a.kv.data);
  p.stride_kv_s = stride_or_zero(a.kv, 0);
  p.indices = static_cast<const int32_t*>(a.indices.data);
  p.stride_idx_s = stride_or_zero(a.indices, 0);
  p.stride_idx_k = stride_or_zero(a.indices, 2);
  p.topk_length = pb.has_topk_length ? static_cast<const int32_t*>(a.topk_length.data) : nullptr;
  p.stride_tl = pb.has_topk_length ? stride_or_zero(a.topk_length, 0) : 0;
  p.attn_sink = pb.has_attn_sink ? static_cast<const float*>(a.attn_sink.data) : nullptr;
  p.stride_sink = pb.has_attn_sink ? stride_or_zero(a.attn_sink, 0) : 0;
  p.out = static_cast<uint16_t*>(a.out.data);
  p.stride_o_s = stride_or_zero(a.out, 0);
  p.stride_o_h = stride_or_zero(a.out, 1);
  p.max_logits = static_cast<float*>(a.max_logits.data);
  p.stride_ml_s = stride_or_zero(a.max_logits, 0);
  p.stride_ml_h = stride_or_zero(a.max_logits, 1);
  p.lse = static_cast<float*>(a.lse.data);
  p.stride_lse_s = stride_or_zero(a.lse, 0);
  p.stride_lse_h = stride_or_zero(a.lse, 1);
  return p;
}

Status launch(const SparsePrefillProblem& pb, KernelFn kernel, int smem_bytes, int variant_slot) {
  const int dev = pb.args->q.device_index;
  gpu::DeviceGuard guard(dev);
  if (guard.error() != cudaSuccess) return gpu::cuda_status(guard.error(), "sparse_prefill: cudaSetDevice");
  const bool cached = dev < kMaxDevices && variant_slot < kNumVariants;
  if (!cached || !g_smem_configured[variant_slot][dev].load(std::memory_order_acquire)) {
    cudaError_t e = cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
    if (e != cudaSuccess) return gpu::cuda_status(e, "sparse_prefill: cudaFuncSetAttribute");
    if (cached) g_smem_configured[variant_slot][dev].store(true, std::memory_order_release);
  }
  const SparsePrefillParams params = make_params(pb);
  // 1-D grid, token-major: the head groups of one token are adjacent CTAs (kernel.cuh). s_q * groups
  // <= s_q * h_q <= 2^31 - 1 (validated), within gridDim.x's limit.
  const dim3 grid(static_cast<unsigned>(pb.s_q * params.head_groups));
  kernel<<<grid, kThreads, smem_bytes, reinterpret_cast<cudaStream_t>(pb.args->stream)>>>(params);
  return gpu::cuda_status(cudaGetLastError(), "sparse_prefill: kernel launch");
}

}  // namespace flashmla::sm90::sparse_prefill
