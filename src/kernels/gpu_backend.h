// Host-side entry points of the CUDA backend (implemented in src/kernels/**). Arguments are already
// validated; these functions only launch. None synchronizes the host except debug_check_inputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/decode_shape.h"
#include "flashmla/params.h"
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

// Device-side split-KV scheduler (src/kernels/common/sched_meta.cu).
Status launch_schedule(const ScheduleArgs& args, int32_t batch) noexcept;

// Split kernel (sm90 decode_dense) then combine kernel, on args.stream.
Status launch_decode(const DecodeArgs& args, const DecodeShape& shape) noexcept;

// Debug mode: copies cache_seqlens and the block table to the host (synchronizes args.stream) and
// checks lengths and every used page id. Returns kInvalidArgument naming the first bad entry.
Status debug_check_inputs(const DecodeArgs& args, const DecodeShape& shape) noexcept;

}  // namespace flashmla::gpu
