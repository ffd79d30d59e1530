// flashmla — torch-free tensor views, element types and KV-cache formats.
//
// A TensorView is a non-owning description of memory the caller owns: pointer, dtype, shape and strides
// (in elements, like torch). flashmla never allocates device memory on its own; the caller passes
// outputs and a workspace whose size the API reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

struct CUstream_st;  // same forward declaration as cuda_runtime_api.h: no CUDA header is needed here

namespace flashmla {

using Stream = CUstream_st*;  // a cudaStream_t; nullptr = legacy default stream

// Element types. The fp8 / byte types describe quantized KV caches (docs/spec.md §6, §8): e4m3 values,
// e8m0 (power-of-two) scales, and caches handed over as raw bytes (uint8 / int8 views of the same memory).
enum class DType : int32_t {
  kBF16 = 0,
  kFP16 = 1,
  kFP32 = 2,
  kInt32 = 3,
  kFP8E4M3 = 4,
  kFP8E8M0 = 5,
  kUInt8 = 6,
  kInt8 = 7,
};
enum class DeviceType : int32_t { kCPU = 0, kCUDA = 1 };

constexpr bool dtype_known(DType t) { return static_cast<int32_t>(t) >= 0 && static_cast<int32_t>(t) <= 7; }

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kBF16: return "bfloat16";
    case DType::kFP16: return "float16";
    case DType::kFP32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kFP8E4M3: return "float8_e4m3fn";
    case DType::kFP8E8M0: return "float8_e8m0fnu";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
  }
  return "unknown";
}

// Bytes per element (0 for an unknown dtype).
constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::kBF16:
    case DType::kFP16: return 2;
    case DType::kFP32:
    case DType::kInt32: return 4;
    case DType::kFP8E4M3:
    case DType::kFP8E8M0:
    case DType::kUInt8:
    case DType::kInt8: return 1;
  }
  return 0;
}

// How a KV cache stores its tokens; separate from q's dtype (bf16 q may read an fp8 cache).
enum class KvFormat : int32_t {
  kDenseBF16 = 0,         // [num_blocks, page, h_kv, 576] bf16
  kDenseFP16 = 1,         // [num_blocks, page, h_kv, 576] fp16
  kDenseFP8 = 2,          // [num_blocks, page, h_kv, 576] e4m3, one fp32 scale for the whole cache
  kSparseV32 = 3,         // 656 B per token: 512 e4m3 | 4 fp32 scales | 64 bf16 RoPE
  kSparseModel1 = 4,      // 584 B per token, per-page layout: 448 e4m3 + 64 bf16 RoPE rows, then 8 B scale rows
};

inline const char* kv_format_name(KvFormat f) {
  switch (f) {
    case KvFormat::kDenseBF16: return "dense bfloat16";
    case KvFormat::kDenseFP16: return "dense float16";
    case KvFormat::kDenseFP8: return "dense float8_e4m3fn (per-tensor scale)";
    case KvFormat::kSparseV32: return "V32 (656 B/token fp8)";
    case KvFormat::kSparseModel1: return "MODEL1 (584 B/token fp8)";
  }
  return "unknown";
}

constexpr int kMaxRank = 5;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kBF16;
  int32_t rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t stride[kMaxRank] = {};  // in elements
  DeviceType device = DeviceType::kCPU;
  int32_t device_index = 0;

  bool defined() const { return rank > 0 || data != nullptr; }
  // Element count; 0 if a size is negative, INT64_MAX if the product does not fit (validation rejects
  // both, so these values only ever reach an error message).
  int64_t numel() const {
    int64_t n = 1;
    const int r = rank < 0 ? 0 : (rank > kMaxRank ? kMaxRank : rank);
    for (int i = 0; i < r; ++i) {
      if (shape[i] < 0) return 0;
      if (shape[i] == 0) return 0;
      if (__builtin_mul_overflow(n, shape[i], &n)) return INT64_MAX;
    }
    return n;
  }
  bool is_cuda() const { return device == DeviceType::kCUDA; }
};

// A row-major (contiguous) view. Shapes of rank > kMaxRank are truncated; validation reports them.
// Strides that would overflow int64 saturate at INT64_MAX (validation then rejects the view).
inline TensorView make_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                            DeviceType device = DeviceType::kCPU, int32_t device_index = 0) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  v.device_index = device_index;
  int r = 0;
  for (int64_t s : shape) {
    if (r == kMaxRank) break;
    v.shape[r++] = s;
  }
  v.rank = r;
  int64_t st = 1;
  for (int i = r - 1; i >= 0; --i) {
    v.stride[i] = st;
    const int64_t size = v.shape[i] < 1 ? 1 : v.shape[i];
    if (__builtin_mul_overflow(st, size, &st)) st = INT64_MAX;
  }
  return v;
}

}  // namespace flashmla
