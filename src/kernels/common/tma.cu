// TMA descriptor encoding with a per-thread cache (see tma.h).
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "kernels/common/tma.h"

namespace flashmla::gpu {
namespace {

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

}  // namespace

Status encode_tma(CUtensorMap* map, CUtensorMapDataType dt, uint32_t rank, const void* base, const uint64_t* dims,
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

}  // namespace flashmla::gpu
