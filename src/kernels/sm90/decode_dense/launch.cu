// Host side of decode() on sm_90: TMA descriptors, kernel parameters, split kernel + combine launch.
// No allocation, no host synchronization: everything here is capturable in a CUDA graph.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <string>

#include "common/schedule_plan.h"
#include "common/workspace.h"
#include "kernels/common/combine.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/decode_dense/config.h"
#include "kernels/sm90/decode_dense/launch.h"

namespace flashmla::gpu {
namespace {

using sm90::dense::DenseDecodeParams;

// cuTensorMapEncodeTiled is a driver API entry point; fetch it through the runtime so that nothing
// links against libcuda directly.
PFN_cuTensorMapEncodeTiled_v12000 encode_fn() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      p = nullptr;
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// TMA wants every stride a multiple of 16 B, even of size-1 dimensions whose stride nobody uses
// (frameworks put arbitrary values there); give those a harmless valid one.
uint64_t tma_stride(int64_t size, int64_t stride_elems, uint64_t fallback_bytes) {
  return size == 1 ? fallback_bytes : static_cast<uint64_t>(stride_elems) * 2;
}

// Encoding a descriptor is a driver call that costs on the order of a microsecond of host time per
// decode(); engines call decode() with the same few (pointer, shape) pairs every step (one k_cache per
// layer, recycled activation buffers for q), so the last kCacheSize descriptors are kept per thread.
struct TmapKey {
  const void* base;
  uint64_t dims[5], strides[4];
  uint32_t box[5], rank, dtype, promo;
  bool operator==(const TmapKey& o) const { return std::memcmp(this, &o, sizeof(TmapKey)) == 0; }
};
// Direct-mapped by a hash of the key: one comparison per lookup.
struct TmapCache {
  static constexpr int kCacheSize = 256;
  TmapKey keys[kCacheSize];
  CUtensorMap maps[kCacheSize];
  bool valid[kCacheSize] = {};
  static uint32_t slot(const TmapKey& k) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the key's 8-byte words
    const uint64_t* w = reinterpret_cast<const uint64_t*>(&k);
    for (size_t i = 0; i < sizeof(TmapKey) / 8; ++i) h = (h ^ w[i]) * 1099511628211ull;
    return static_cast<uint32_t>(h ^ (h >> 29)) % kCacheSize;
  }
  const CUtensorMap* find(const TmapKey& k) const {
    const uint32_t i = slot(k);
    return valid[i] && keys[i] == k ? &maps[i] : nullptr;
  }
  void insert(const TmapKey& k, const CUtensorMap& m) {
    const uint32_t i = slot(k);
    keys[i] = k;
    maps[i] = m;
    valid[i] = true;
  }
};
static_assert(sizeof(TmapKey) % 8 == 0, "TmapKey is hashed as 8-byte words");

Status encode_uncached(CUtensorMap* map, CUtensorMapDataType dt, uint32_t rank, const void* base, const uint64_t* dims,
                       const uint64_t* strides, const uint32_t* box, CUtensorMapL2promotion promo, const char* what) {
  auto fn = encode_fn();
  if (!fn) return Status(StatusCode::kCudaError, "cuTensorMapEncodeTiled is not available from the CUDA driver");
  const cuuint32_t elem_strides[5] = {1, 1, 1, 1, 1};
  CUresult r = fn(map, dt, rank, const_cast<void*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_128B, promo, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return Status(StatusCode::kInvalidArgument,
                  std::string(what) + ": the TMA descriptor was rejected (CUresult " + std::to_string(static_cast<int>(r)) +
                      "); base address and strides must be multiples of 16 bytes");
  return Status::Ok();
}

Status encode(CUtensorMap* map, CUtensorMapDataType dt, uint32_t rank, const void* base, const uint64_t* dims,
              const uint64_t* strides, const uint32_t* box, CUtensorMapL2promotion promo, const char* what) {
  thread_local TmapCache cache;
  TmapKey key;
  std::memset(&key, 0, sizeof key);  // padding bytes take part in the comparison
  key.base = base;
  std::memcpy(key.dims, dims, rank * sizeof(uint64_t));
  std::memcpy(key.strides, strides, (rank - 1) * sizeof(uint64_t));
  std::memcpy(key.box, box, rank * sizeof(uint32_t));
  key.rank = rank;
  key.dtype = static_cast<uint32_t>(dt);
  key.promo = static_cast<uint32_t>(promo);
  if (const CUtensorMap* hit = cache.find(key)) {
    *map = *hit;
    return Status::Ok();
  }
  Status st = encode_uncached(map, dt, rank, base, dims, strides, box, promo, what);
  if (st.ok()) cache.insert(key, *map);
  return st;
}

}  // namespace

Status launch_decode(const DecodeArgs& args, const DecodeShape& sh) noexcept {
  const int device = args.q.device_index;
  DeviceGuard guard(device);
  if (guard.error() != cudaSuccess) return cuda_status(guard.error(), "cudaSetDevice");
  DeviceInfo info;
  if (Status st = get_device_info(device, &info); !st.ok()) return st;
  if (info.max_smem_per_block_optin < static_cast<size_t>(sm90::dense::kSmemBytes))
    return Status(StatusCode::kNotSupported, "device " + std::to_string(device) + ": the decode kernel needs " +
                                                 std::to_string(sm90::dense::kSmemBytes) + " B of shared memory per block, the device offers " +
                                                 std::to_string(info.max_smem_per_block_optin));
  // Grid limits: the split kernel's z dimension is the partition count, the combine's y dimension
  // the query rows of a request.
  if (sh.num_sm_parts > 65535)
    return Status(StatusCode::kNotSupported, "tile_scheduler_metadata.shape[0] (num_sm_parts): expected <= 65535, got " +
                                                 std::to_string(sh.num_sm_parts));
  if (static_cast<int64_t>(sh.s_q) * sh.h_q > 65535)
    return Status(StatusCode::kNotSupported, "s_q * h_q: expected <= 65535, got " +
                                                 std::to_string(static_cast<int64_t>(sh.s_q) * sh.h_q));
  const bool fp16 = sh.dtype == DType::kFP16;
#if !defined(FLASHMLA_ENABLE_FP16)
  if (fp16) return Status(StatusCode::kNotSupported, "q.dtype: float16 kernels were not built (FLASHMLA_ENABLE_FP16=OFF)");
#endif
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(args.stream);
  const CUtensorMapDataType tdt = fp16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const plan::TileMap tm = plan::make_tile_map(sh.s_q, sh.heads_per_kv);

  // Q as 5-D (channel, head-in-group, kv group, token, request): a tile is one box per 64 channels.
  const uint64_t row_bytes = static_cast<uint64_t>(sh.head_dim) * 2;
  CUtensorMap tmap_q, tmap_k;
  {
    const TensorView& q = args.q;
    const uint64_t dims[5] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.heads_per_kv),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.s_q), static_cast<uint64_t>(sh.batch)};
    const uint64_t strides[4] = {tma_stride(sh.heads_per_kv, q.stride[2], row_bytes),
                                 tma_stride(sh.h_kv, q.stride[2] * sh.heads_per_kv, row_bytes),
                                 tma_stride(sh.s_q, q.stride[1], row_bytes), tma_stride(sh.batch, q.stride[0], row_bytes)};
    const uint32_t box[5] = {sm90::dense::kBoxCols, static_cast<uint32_t>(tm.heads), 1, static_cast<uint32_t>(tm.tokens), 1};
    if (Status st = encode(&tmap_q, tdt, 5, q.data, dims, strides, box, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, "q"); !st.ok())
      return st;
  }
  {
    const TensorView& k = args.k_cache;
    const uint64_t dims[4] = {static_cast<uint64_t>(sh.head_dim), static_cast<uint64_t>(sh.page_size),
                              static_cast<uint64_t>(sh.h_kv), static_cast<uint64_t>(sh.num_blocks)};
    const uint64_t strides[3] = {tma_stride(sh.page_size, k.stride[1], row_bytes), tma_stride(sh.h_kv, k.stride[2], row_bytes),
                                 tma_stride(sh.num_blocks, k.stride[0], row_bytes)};
    const uint32_t box[4] = {sm90::dense::kBoxCols, sm90::dense::kPageTokens, 1, 1};
    if (Status st = encode(&tmap_k, tdt, 4, k.data, dims, strides, box, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, "k_cache"); !st.ok())
      return st;
  }

  const WorkspaceLayout ws = workspace_layout(sh.batch, sh.s_q, sh.h_q, sh.head_dim_v, sh.num_sm_parts);
  uint8_t* wsp = static_cast<uint8_t*>(args.workspace);
  DenseDecodeParams p{};
  p.batch = sh.batch;
  p.s_q = sh.s_q;
  p.h_q = sh.h_q;
  p.heads_per_kv = sh.heads_per_kv;
  p.max_blocks = sh.max_blocks_per_seq;
  p.causal = args.causal ? 1 : 0;
  p.scale_log2 = sh.softmax_scale * 1.4426950408889634f;
  p.tiles = tm;
  p.q = args.q.data;
  p.stride_q_b = args.q.stride[0];
  p.stride_q_s = args.q.stride[1];
  p.stride_q_h = args.q.stride[2];
  p.block_table = static_cast<const int32_t*>(args.block_table.data);
  p.stride_bt_b = args.block_table.stride[0];
  p.seqlens = static_cast<const int32_t*>(args.cache_seqlens.data);
  p.sched = static_cast<const int32_t*>(args.tile_scheduler_metadata.data);
  p.num_splits = static_cast<const int32_t*>(args.num_splits.data);
  p.out = args.out.data;
  p.stride_o_b = args.out.stride[0];
  p.stride_o_s = args.out.stride[1];
  p.stride_o_h = args.out.stride[2];
  p.lse = static_cast<float*>(args.lse.data);
  p.stride_lse_b = args.lse.stride[0];
  p.stride_lse_h = args.lse.stride[1];
  p.stride_lse_s = args.lse.stride[2];
  p.partial_o = reinterpret_cast<float*>(wsp + ws.partial_o_offset);
  p.partial_lse = reinterpret_cast<float*>(wsp + ws.partial_lse_offset);
  p.status = reinterpret_cast<int32_t*>(wsp + ws.status_offset);

  const dim3 grid(tm.num_tiles, sh.h_kv, sh.num_sm_parts);
  cudaError_t err = fp16 ? sm90::dense::run_split_kernel<true>(tmap_q, tmap_k, p, grid, stream, device)
                         : sm90::dense::run_split_kernel<false>(tmap_q, tmap_k, p, grid, stream, device);
  if (err != cudaSuccess) return cuda_status(err, "decode: split kernel launch");

  kernels::CombineParams cp{};
  cp.batch = sh.batch;
  cp.s_q = sh.s_q;
  cp.h_q = sh.h_q;
  cp.num_splits = p.num_splits;
  cp.partial_o = p.partial_o;
  cp.partial_lse = p.partial_lse;
  cp.status = p.status;
  cp.out = p.out;
  cp.stride_o_b = p.stride_o_b;
  cp.stride_o_s = p.stride_o_s;
  cp.stride_o_h = p.stride_o_h;
  cp.lse = p.lse;
  cp.stride_lse_b = p.stride_lse_b;
  cp.stride_lse_h = p.stride_lse_h;
  cp.stride_lse_s = p.stride_lse_s;
  err = kernels::launch_combine(cp, fp16, stream);
  return cuda_status(err, "decode: combine kernel launch");
}

}  // namespace flashmla::gpu
