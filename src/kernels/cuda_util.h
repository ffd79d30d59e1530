// Small host-side CUDA helpers shared by the launchers.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "flashmla/status.h"

namespace flashmla::gpu {

// Makes `device` current for the scope and restores the caller's device afterwards. decode() runs
// this on every call, and the device is almost always current already: then it costs one
// cudaGetDevice (a thread-local read in the runtime) and nothing on exit.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess) {
      (void)cudaGetLastError();  // no current device yet: nothing to restore
      cur = -1;
    }
    if (cur == device) return;
    err_ = cudaSetDevice(device);
    if (err_ == cudaSuccess) prev_ = cur;  // restore only what we changed
  }
  ~DeviceGuard() {
    if (prev_ >= 0) cudaSetDevice(prev_);
  }
  cudaError_t error() const { return err_; }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;  // the device to restore, -1 = none
  cudaError_t err_ = cudaSuccess;
};

inline Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Status(StatusCode::kCudaError, std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

// Sets `kernel`'s dynamic shared-memory limit the first time it is launched on `device` (bit d of
// `configured`: one static per kernel). The attribute belongs to the function, so later launches skip
// the call; devices from 64 on set it every time.
template <class Kernel>
cudaError_t set_smem_limit_once(Kernel* kernel, int bytes, int device, std::atomic<uint64_t>& configured) {
  const uint64_t bit = device >= 0 && device < 64 ? (1ull << device) : 0;
  if (bit && (configured.load(std::memory_order_acquire) & bit)) return cudaSuccess;
  const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err == cudaSuccess) configured.fetch_or(bit, std::memory_order_acq_rel);
  return err;
}

}  // namespace flashmla::gpu
