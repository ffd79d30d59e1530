// CUDA helpers of flashmla_bench's GPU runners (gpu_runner.cpp: dense; sparse_bench.cpp: sparse decode and
// prefill): errors as exceptions naming the call and its place, the sticky-error test that ends a run,
// RAII device buffers, streams and event pairs. Included only where FLASHMLA_BENCH_CUDA is set.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace flashmla::bench {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void check_cuda(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) {
    const char* base = std::strrchr(file, '/');
    throw CudaError(std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                    ") [" + (base ? base + 1 : file) + ":" + std::to_string(line) + "]");
  }
}
#define BENCH_CUDA(call) ::flashmla::bench::check_cuda((call), #call, __FILE__, __LINE__)

// A sticky error (illegal address, launch failure...) leaves the context unusable for the process.
inline bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorUnknown: return true;
    default: return false;
  }
}

// After a case failed: if the context now holds a sticky error, appends why to `error` and returns true
// (no later case can run in this process).
inline bool note_sticky_error(std::string& error) {
  cudaError_t last = cudaDeviceSynchronize();
  if (last == cudaSuccess) last = cudaGetLastError();
  if (!is_sticky(last)) return false;
  error += std::string(" [sticky CUDA error ") + cudaGetErrorName(last) + ": no further case can run]";
  return true;
}

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) BENCH_CUDA(cudaMalloc(&ptr_, bytes));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { BENCH_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
};

struct EventPair {
  cudaEvent_t a = nullptr, b = nullptr;
  EventPair() {
    BENCH_CUDA(cudaEventCreate(&a));
    BENCH_CUDA(cudaEventCreate(&b));
  }
  ~EventPair() {
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
  }
  float ms() const {
    float t = 0;
    BENCH_CUDA(cudaEventElapsedTime(&t, a, b));
    return t;
  }
};

}  // namespace flashmla::bench
