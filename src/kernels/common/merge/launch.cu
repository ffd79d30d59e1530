// Host side of the merge kernel: MergeProblem -> MergeParams, choice of the vector or scalar path,
// launch on args.stream. No host synchronization, no allocation.
#include <cuda_runtime.h>

#include <cstdint>

#include "flashmla/flashmla.h"
#include "kernels/common/merge/config.h"
#include "kernels/common/merge/launch.h"
#include "kernels/common/merge/variant.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"

namespace flashmla::kernels::merge {
namespace {

Fmt fmt_of(DType t) { return t == DType::kBF16 ? Fmt::kBF16 : (t == DType::kFP16 ? Fmt::kFP16 : Fmt::kFP32); }

// Every row of `v` (the last dimension is contiguous) starts on a 16-byte boundary and spans a whole
// number of 16-byte vectors: base aligned, each stride of a dimension that has more than one index a
// multiple of 16 bytes, and dv * element size a multiple of `vector_bytes`.
bool rows_aligned(const TensorView& v, int64_t vector_bytes) {
  const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
  if (reinterpret_cast<uintptr_t>(v.data) % 16 != 0) return false;
  for (int i = 0; i + 1 < v.rank; ++i)
    if (v.shape[i] > 1 && (v.stride[i] * es) % 16 != 0) return false;
  return (v.shape[v.rank - 1] * es) % vector_bytes == 0;
}


}  // namespace

Status supports(const MergeProblem& p) { return device_supported(p.args->outs.device_index); }

Status run(const MergeProblem& p) {
  const MergeArgs& a = *p.args;
  gpu::DeviceGuard guard(a.outs.device_index);
  if (guard.error() != cudaSuccess) return gpu::cuda_status(guard.error(), "merge_partial_attention: cudaSetDevice");
  const bool vector = rows_aligned(a.outs, 16) &&
                      // out: the same number of elements per vector (8 for 16-bit outs) in its own dtype
                      rows_aligned(a.out, (a.out.dtype == DType::kFP32 ? 4 : 2) * (16 / dtype_size(a.outs.dtype)));
  const int chunk = vector ? kVectorChunk : kScalarChunk;
  MergeParams mp{};
  mp.outs = a.outs.data;
  mp.stride_outs_n = a.outs.stride[0];
  mp.stride_outs_b = a.outs.stride[1];
  mp.stride_outs_s = a.outs.stride[2];
  mp.stride_outs_h = a.outs.stride[3];
  mp.lses = static_cast<const float*>(a.lses.data);
  mp.stride_lses_n = a.lses.stride[0];
  mp.stride_lses_b = a.lses.stride[1];
  mp.stride_lses_h = a.lses.stride[2];
  mp.stride_lses_s = a.lses.stride[3];
  mp.out = a.out.data;
  mp.stride_out_b = a.out.stride[0];
  mp.stride_out_s = a.out.stride[1];
  mp.stride_out_h = a.out.stride[2];
  mp.lse = static_cast<float*>(a.lse.data);
  mp.stride_lse_b = a.lse.stride[0];
  mp.stride_lse_h = a.lse.stride[1];
  mp.stride_lse_s = a.lse.stride[2];
  mp.num_parts = p.num_parts;
  mp.s_q = p.s_q;
  mp.h_q = p.h_q;
  mp.head_dim = p.head_dim;
  mp.chunks = (p.head_dim + chunk - 1) / chunk;
  mp.num_rows = static_cast<int32_t>(p.rows);  // validation: rows <= 2^31 - 1

  const auto stream = reinterpret_cast<cudaStream_t>(a.stream);
  const Fmt in_fmt = fmt_of(p.in_dtype), out_fmt = fmt_of(p.out_dtype);
  const int rows = rows_per_group(in_fmt, vector, p.num_parts);
  const int sms = gpu::num_sms_or(a.outs.device_index, 132);  // the grid is one wave of warps
  cudaError_t err = cudaErrorInvalidValue;
  switch (in_fmt) {
    case Fmt::kBF16: err = launch<Fmt::kBF16>(mp, out_fmt, vector, rows, sms, stream); break;
    case Fmt::kFP16: err = launch<Fmt::kFP16>(mp, out_fmt, vector, rows, sms, stream); break;
    case Fmt::kFP32: err = launch<Fmt::kFP32>(mp, out_fmt, vector, rows, sms, stream); break;
  }
  return gpu::cuda_status(err, "merge_partial_attention: kernel launch");
}

}  // namespace flashmla::kernels::merge
