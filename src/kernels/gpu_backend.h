// Host-side device queries shared by every CUDA variant (src/kernels/device_info.cu).
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmla/status.h"

namespace flashmla::gpu {

struct DeviceInfo {
  int32_t major = 0;
  int32_t minor = 0;
  int32_t num_sms = 0;
  size_t max_smem_per_block_optin = 0;
};

// Properties of device `index`, read once and cached. kNotSupported if there is no such device.
Status get_device_info(int32_t index, DeviceInfo* info) noexcept;

// The SM count of device `index` (get_device_info: cached, no synchronization), or `fallback` if it cannot
// be read. For launch shapes only (grid sizes, split counts): nothing may depend on it for correctness.
int32_t num_sms_or(int32_t index, int32_t fallback) noexcept;

// kOk if device `index` is an sm_90 GPU (H100, H800, H200, H20); its properties in *info (may be null).
Status check_sm90_device(int32_t index, DeviceInfo* info) noexcept;

}  // namespace flashmla::gpu
