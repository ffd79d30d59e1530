// Host side of the dense FP8-cache decode on sm_90: registry hooks, TMA descriptors, kernel parameters,
// split kernel + combine launch. No allocation, no host synchronization, descales read on the device:
// everything is capturable in a CUDA graph.
#include <cuda.h>
#include <cuda_runtime.h>

#include <string>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/common/split_kv.h"
#include "kernels/common/tma.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/decode_dense_common/host.h"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/decode_dense_fp8/launch.h"
#include "kernels/sm90/decode_dense_fp8/variant.h"
#include "kernels/sm90/decode_dense_fp8q/launch.h"

namespace flashmla::sm90::dense_fp8 {

Status supports(const DecodeProblem& pr) {
  return dense_common::supports(pr, kSmemBytes, "sm90 dense FP8 decode kernel", "dense FP8 decode kernel");
}

size_t workspace_bytes(const DecodeProblem& pr) { return kernels::split_kv_workspace_bytes(pr.shape); }

template <bool kFp8Q>
Status run(const DecodeProblem& pr) {
  const DecodeArgs& args = *pr.args;
  const DecodeShape& sh = pr.shape;
  const int device = args.q.device_index;
  gpu::DeviceGuard guard(device);
  if (guard.error() != cudaSuccess) return gpu::cuda_status(guard.error(), "cudaSetDevice");
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(args.stream);
  const plan::TileMap tm = plan::make_tile_map(sh.s_q, sh.heads_per_kv);

  CUtensorMap tmap_q, tmap_k;
  {
    // Q as 5-D (channel, head-in-group, kv group, token, request). bf16: one 64 x 64 box per 64
    // channels; e4m3: one 128-byte-wide box per 128 channels (the QGMMA kernel loads all five, the
    // fifth's channels 576..639 out of bounds and zero-filled).
    const uint64_t es = kFp8Q ? 1 : 2;
    const uint64_t row_bytes = static_cast<uint64_t>(sh.head_dim) * es;
    const TensorView& q = args.q;
    const uint64_t dims[5] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.heads_per_kv),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.s_q),
                              static_cast<uint64_t>(sh.batch)};
    const uint64_t strides[4] = {gpu::tma_stride(sh.heads_per_kv, q.stride[2], es, row_bytes),
                                 gpu::tma_stride(sh.h_kv, q.stride[2] * sh.heads_per_kv, es, row_bytes),
                                 gpu::tma_stride(sh.s_q, q.stride[1], es, row_bytes),
                                 gpu::tma_stride(sh.batch, q.stride[0], es, row_bytes)};
    const uint32_t box[5] = {static_cast<uint32_t>(kFp8Q ? kF8BoxCols : kBoxCols), static_cast<uint32_t>(tm.heads), 1,
                             static_cast<uint32_t>(tm.tokens), 1};
    const CUtensorMapDataType qdt = kFp8Q ? CU_TENSOR_MAP_DATA_TYPE_UINT8 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    if (Status st = gpu::encode_tma(&tmap_q, qdt, 5, q.data, dims, strides, box,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_128B, "q");
        !st.ok())
      return st;
  }
  {
    // The e4m3 cache as bytes, 4-D (channel, token, kv head, block); boxes of 128 channels x 64 tokens
    // (128 B rows: the 128B swizzle span). The box at channel 512 runs 64 channels past the row; TMA
    // fills those with zeros and never reads them from memory.
    const uint64_t row_bytes = static_cast<uint64_t>(sh.head_dim);
    const TensorView& k = args.k_cache;
    const uint64_t dims[4] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.page_size),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.num_blocks)};
    const uint64_t strides[3] = {gpu::tma_stride(sh.page_size, k.stride[1], 1, row_bytes),
                                 gpu::tma_stride(sh.h_kv, k.stride[2], 1, row_bytes),
                                 gpu::tma_stride(sh.num_blocks, k.stride[0], 1, row_bytes)};
    const uint32_t box[4] = {kF8BoxCols, kPageTokens, 1, 1};
    if (Status st = gpu::encode_tma(&tmap_k, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, k.data, dims, strides, box,
                                    CU_TENSOR_MAP_L2_PROMOTION_L2_256B, "k_cache");
        !st.ok())
      return st;
  }

  DenseFp8DecodeParams p{};
  dense_common::set_common_params(p, args, sh, tm);
  p.descale_k = static_cast<const float*>(args.descale_k.data);
  p.descale_q = kFp8Q ? static_cast<const float*>(args.descale_q.data) : nullptr;

  const dim3 grid(tm.num_tiles, sh.h_kv, sh.num_sm_parts);
  // An e4m3 q runs on the FP8 tensor cores (decode_dense_fp8q/: same maps, parameters and grid); a
  // bf16 q on the converter kernel (the e4m3 page converted to bf16 exactly, bf16 WGMMA).
  cudaError_t err = kFp8Q ? dense_fp8q::run_split_kernel(tmap_q, tmap_k, p, grid, stream, device)
                          : run_split_kernel(tmap_q, tmap_k, p, grid, stream, device);
  if (err != cudaSuccess) return gpu::cuda_status(err, "decode (fp8 cache): split kernel launch");
  err = kernels::launch_combine(p.split, /*fp16=*/false, device, stream);
  return gpu::cuda_status(err, "decode (fp8 cache): combine kernel launch");
}

template Status run<false>(const DecodeProblem&);
template Status run<true>(const DecodeProblem&);

}  // namespace flashmla::sm90::dense_fp8
