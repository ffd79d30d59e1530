// flashmla — torch-free tensor views.
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

enum class DType : int32_t { kBF16 = 0, kFP16 = 1, kFP32 = 2, kInt32 = 3 };
enum class DeviceType : int32_t { kCPU = 0, kCUDA = 1 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kBF16: return "bfloat16";
    case DType::kFP16: return "float16";
    case DType::kFP32: return "float32";
    case DType::kInt32: return "int32";
  }
  return "unknown";
}

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::kBF16:
    case DType::kFP16: return 2;
    case DType::kFP32:
    case DType::kInt32: return 4;
  }
  return 0;
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
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  bool is_cuda() const { return device == DeviceType::kCUDA; }
};

// A row-major (contiguous) view. Shapes of rank > kMaxRank are truncated; validation reports them.
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
    st *= v.shape[i];
  }
  return v;
}

}  // namespace flashmla
