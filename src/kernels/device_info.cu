// Device properties, read once per device and cached (a cudaGetDeviceProperties call costs
// microseconds; decode() must not pay that per call). decode() asks twice per call (the API's device
// check and the launcher), so a cached entry is read without taking the lock: the entry is written once,
// under the lock, before its flag is published with release ordering, and never written again.
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <string>

#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"

namespace flashmla::gpu {

Status get_device_info(int32_t index, DeviceInfo* info) noexcept {
  constexpr int kMaxDevices = 64;
  static std::mutex mu;
  static DeviceInfo cache[kMaxDevices];
  static std::atomic<bool> valid[kMaxDevices] = {};
  if (index < 0 || index >= kMaxDevices)
    return Status(StatusCode::kInvalidArgument, "device index: expected 0.." + std::to_string(kMaxDevices - 1) +
                                                    ", got " + std::to_string(index));
  if (valid[index].load(std::memory_order_acquire)) {
    *info = cache[index];
    return Status::Ok();
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!valid[index].load(std::memory_order_relaxed)) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || index >= count) {
      cudaGetLastError();
      return Status(StatusCode::kNotSupported, "CUDA device " + std::to_string(index) + ": not present (" +
                                                   std::to_string(err == cudaSuccess ? count : 0) +
                                                   " CUDA devices visible" +
                                                   (err == cudaSuccess ? std::string() : std::string(", ") + cudaGetErrorString(err)) + ")");
    }
    DeviceInfo d;
    int v = 0;
    if ((err = cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, index)) != cudaSuccess)
      return cuda_status(err, "cudaDeviceGetAttribute");
    d.major = v;
    cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMinor, index);
    d.minor = v;
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, index);
    d.num_sms = v;
    cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, index);
    d.max_smem_per_block_optin = static_cast<size_t>(v);
    cache[index] = d;
    valid[index].store(true, std::memory_order_release);
  }
  *info = cache[index];
  return Status::Ok();
}

int32_t num_sms_or(int32_t index, int32_t fallback) noexcept {
  DeviceInfo info;
  return get_device_info(index, &info).ok() && info.num_sms > 0 ? info.num_sms : fallback;
}

}  // namespace flashmla::gpu

namespace flashmla::gpu {

Status check_sm90_device(int32_t index, DeviceInfo* info_out) noexcept {
  if (index < 0)
    return Status(StatusCode::kInvalidArgument, "device_index: expected >= 0, got " + std::to_string(index),
                  ErrorKind::kDevice);
  DeviceInfo info;
  Status st = get_device_info(index, &info);
  if (!st.ok()) return st;
  if (info.major != 9)
    return Status(StatusCode::kNotSupported,
                  "device cuda:" + std::to_string(index) +
                      ": expected compute capability 9.x (sm_90: H100, H800, H200, H20), got " +
                      std::to_string(info.major) + "." + std::to_string(info.minor),
                  ErrorKind::kDevice);
  if (info_out) *info_out = info;
  return Status::Ok();
}

}  // namespace flashmla::gpu
