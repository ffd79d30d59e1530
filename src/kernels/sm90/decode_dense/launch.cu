// Host side of the dense decode on sm_90: registry hooks, TMA descriptors, kernel parameters, split
// kernel + combine launch. No allocation, no host synchronization: everything is capturable in a graph.
#include <cuda.h>
#include <cuda_runtime.h>

#include <string>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/common/split_kv.h"
#include "kernels/common/tma.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/decode_dense/config.h"
#include "kernels/sm90/decode_dense/launch.h"
#include "kernels/sm90/decode_dense/variant.h"
#include "kernels/sm90/decode_dense_common/host.h"

namespace flashmla::sm90::dense {

Status supports(const DecodeProblem& pr) {
  return dense_common::supports(pr, kSmemBytes, "sm90 dense decode kernel", "decode kernel");
}

size_t workspace_bytes(const DecodeProblem& pr) { return kernels::split_kv_workspace_bytes(pr.shape); }

template <bool kFp16>
Status run(const DecodeProblem& pr) {
  const DecodeArgs& args = *pr.args;
  const DecodeShape& sh = pr.shape;
  const int device = args.q.device_index;
  gpu::DeviceGuard guard(device);
  if (guard.error() != cudaSuccess) return gpu::cuda_status(guard.error(), "cudaSetDevice");
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(args.stream);
  const CUtensorMapDataType tdt = kFp16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const plan::TileMap tm = plan::make_tile_map(sh.s_q, sh.heads_per_kv);

  // Q as 5-D (channel, head-in-group, kv group, token, request): a tile is one box per 64 channels.
  const uint64_t row_bytes = static_cast<uint64_t>(sh.head_dim) * 2;
  CUtensorMap tmap_q, tmap_k;
  {
    const TensorView& q = args.q;
    const uint64_t dims[5] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.heads_per_kv),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.s_q), static_cast<uint64_t>(sh.batch)};
    const uint64_t strides[4] = {gpu::tma_stride(sh.heads_per_kv, q.stride[2], 2, row_bytes),
                                 gpu::tma_stride(sh.h_kv, q.stride[2] * sh.heads_per_kv, 2, row_bytes),
                                 gpu::tma_stride(sh.s_q, q.stride[1], 2, row_bytes), gpu::tma_stride(sh.batch, q.stride[0], 2, row_bytes)};
    const uint32_t box[5] = {kBoxCols, static_cast<uint32_t>(tm.heads), 1, static_cast<uint32_t>(tm.tokens), 1};
    if (Status st = gpu::encode_tma(&tmap_q, tdt, 5, q.data, dims, strides, box, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, "q"); !st.ok())
      return st;
  }
  {
    const TensorView& k = args.k_cache;
    const uint64_t dims[4] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.page_size),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.num_blocks)};
    const uint64_t strides[3] = {gpu::tma_stride(sh.page_size, k.stride[1], 2, row_bytes), gpu::tma_stride(sh.h_kv, k.stride[2], 2, row_bytes),
                                 gpu::tma_stride(sh.num_blocks, k.stride[0], 2, row_bytes)};
    const uint32_t box[4] = {kBoxCols, kPageTokens, 1, 1};
    if (Status st = gpu::encode_tma(&tmap_k, tdt, 4, k.data, dims, strides, box, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, "k_cache"); !st.ok())
      return st;
  }

  DenseDecodeParams p{};
  dense_common::set_common_params(p, args, sh, tm);

  const dim3 grid(tm.num_tiles, sh.h_kv, sh.num_sm_parts);
  cudaError_t err = run_split_kernel<kFp16>(tmap_q, tmap_k, p, grid, stream, device);
  if (err != cudaSuccess) return gpu::cuda_status(err, "decode: split kernel launch");
  err = kernels::launch_combine(p.split, kFp16, device, stream);
  return gpu::cuda_status(err, "decode: combine kernel launch");
}

template Status run<false>(const DecodeProblem&);
#if defined(FLASHMLA_ENABLE_FP16)
template Status run<true>(const DecodeProblem&);
#endif

}  // namespace flashmla::sm90::dense
