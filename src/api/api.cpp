// The public entry points (include/flashmla/flashmla.h): validate, then dispatch to the CPU backend
// (host tensors) or the CUDA backend (device tensors). Nothing throws across this boundary.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>

#include "api/validate.h"
#include "common/decode_shape.h"
#include "common/schedule_plan.h"
#include "cpu/cpu_backend.h"
#include "flashmla/flashmla.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#define FLASHMLA_API_CUDA 1
#include "kernels/gpu_backend.h"
#else
#define FLASHMLA_API_CUDA 0
#endif

#ifndef FLASHMLA_VERSION_STRING
#define FLASHMLA_VERSION_STRING "0.1.0"
#endif

namespace flashmla {
namespace {

// The SM count the CPU backend plans for: an H100 SXM, so CPU and GPU plans are comparable.
constexpr int32_t kCpuPlanNumSms = 132;

const char* const kNotBuilt = "flashmla was built without CUDA kernels (FLASHMLA_ENABLE_CUDA=OFF)";

Status internal_error(const char* where) {
  try {
    return Status(StatusCode::kInternal, std::string(where) + ": unexpected C++ exception; please report");
  } catch (...) {
    return Status(StatusCode::kInternal, "");  // std::string itself failed: return without a message
  }
}

Status internal_error(const char* where, const std::exception& e) {
  try {
    return Status(StatusCode::kInternal,
                  std::string(where) + ": unexpected C++ exception (" + e.what() + "); please report");
  } catch (...) {
    return Status(StatusCode::kInternal, "");
  }
}

// Runs an entry point's body so that no exception crosses the API boundary.
template <class Body>
Status guarded(const char* where, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return internal_error(where, e);
  } catch (...) {
    return internal_error(where);
  }
}

#if FLASHMLA_API_CUDA
Status check_device(int32_t device_index, gpu::DeviceInfo* info_out) {
  if (device_index < 0)
    return Status(StatusCode::kInvalidArgument, "device_index: expected >= 0, got " + std::to_string(device_index));
  gpu::DeviceInfo info;
  Status st = gpu::get_device_info(device_index, &info);
  if (!st.ok()) return st;
  if (info.major != 9)
    return Status(StatusCode::kNotSupported,
                  "device cuda:" + std::to_string(device_index) +
                      ": expected compute capability 9.x (sm_90: H100, H800, H200, H20), got " +
                      std::to_string(info.major) + "." + std::to_string(info.minor));
  if (info_out) *info_out = info;
  return Status::Ok();
}
#endif

}  // namespace

const char* version() noexcept { return FLASHMLA_VERSION_STRING; }

bool built_with_cuda() noexcept { return FLASHMLA_API_CUDA != 0; }

Status device_supported(int32_t device_index) noexcept {
  return guarded("device_supported", [&]() -> Status {
#if FLASHMLA_API_CUDA
    return check_device(device_index, nullptr);
#else
    (void)device_index;
    return Status(StatusCode::kNotSupported, std::string("device_supported: ") + kNotBuilt);
#endif
  });
}

Status query_num_sm_parts(DeviceType device, int32_t device_index, int32_t num_q_rows_per_head_k,
                          int32_t num_heads_k, int32_t s_q, int32_t* num_sm_parts) noexcept {
  return guarded("query_num_sm_parts", [&]() -> Status {
    if (num_sm_parts == nullptr)
      return Status(StatusCode::kInvalidArgument, "num_sm_parts: expected a non-null pointer, got null");
    Status st = detail::validate_sm_parts_query(num_q_rows_per_head_k, num_heads_k, s_q);
    if (!st.ok()) return st;
    int32_t num_sms = 0;
    if (device == DeviceType::kCPU) {
      num_sms = kCpuPlanNumSms;
    } else if (device == DeviceType::kCUDA) {
#if FLASHMLA_API_CUDA
      gpu::DeviceInfo info;
      st = check_device(device_index, &info);
      if (!st.ok()) return st;
      num_sms = info.num_sms;
#else
      (void)device_index;
      return Status(StatusCode::kNotSupported, std::string("device: expected cpu (") + kNotBuilt + "), got cuda:" +
                                                   std::to_string(device_index));
#endif
    } else {
      return Status(StatusCode::kInvalidArgument,
                    "device: expected cpu or cuda, got " + detail::device_string(device, device_index));
    }
    const int32_t m_tiles = plan::num_m_tiles(num_q_rows_per_head_k, s_q);
    *num_sm_parts = plan::num_sm_parts_for(num_sms, m_tiles, num_heads_k);
    return Status::Ok();
  });
}

Status compute_schedule(const ScheduleArgs& args) noexcept {
  return guarded("compute_schedule", [&]() -> Status {
    int32_t batch = 0;
    Status st = detail::validate_schedule(args, &batch);
    if (!st.ok()) return st;
    if (!args.cache_seqlens.is_cuda()) {
      cpu::compute_schedule(static_cast<const int32_t*>(args.cache_seqlens.data), batch, args.num_sm_parts,
                            static_cast<int32_t*>(args.tile_scheduler_metadata.data),
                            static_cast<int32_t*>(args.num_splits.data));
      return Status::Ok();
    }
#if FLASHMLA_API_CUDA
    st = check_device(args.cache_seqlens.device_index, nullptr);
    if (!st.ok()) return st;
    return gpu::launch_schedule(args, batch);
#else
    return Status(StatusCode::kNotSupported, std::string("cache_seqlens.device: ") + kNotBuilt);
#endif
  });
}

size_t decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                             int32_t num_sm_parts) noexcept {
  // Negative arguments describe no valid call: 0 (decode() rejects the call itself). A size that
  // does not fit in size_t comes back as SIZE_MAX, so that the allocation fails loudly.
  if (batch < 0 || s_q < 0 || h_q < 0 || head_dim_v < 0 || num_sm_parts < 0) return 0;
  size_t bytes = 0;
  if (!detail::checked_workspace_bytes(batch, s_q, h_q, head_dim_v, num_sm_parts, &bytes))
    return std::numeric_limits<size_t>::max();
  return bytes;
}

Status can_implement(const DecodeArgs& args) noexcept {
  return guarded("can_implement", [&]() -> Status {
    DecodeShape shape;
    Status st = detail::validate_decode(args, &shape);
    if (!st.ok()) return st;
#if FLASHMLA_API_CUDA
    if (args.q.is_cuda()) return check_device(args.q.device_index, nullptr);
#endif
    return Status::Ok();
  });
}

Status decode(const DecodeArgs& args) noexcept {
  return guarded("decode", [&]() -> Status {
    DecodeShape shape;
    Status st = detail::validate_decode(args, &shape);
    if (!st.ok()) return st;
    if (!args.q.is_cuda()) return cpu::decode(args, shape);
#if FLASHMLA_API_CUDA
    st = check_device(args.q.device_index, nullptr);
    if (!st.ok()) return st;
    if (args.debug_checks) {
      st = gpu::debug_check_inputs(args, shape);
      if (!st.ok()) return st;
    }
    return gpu::launch_decode(args, shape);
#else
    // validate_decode already answers kNotSupported for CUDA tensors in this build.
    return Status(StatusCode::kNotSupported, std::string("q.device: ") + kNotBuilt);
#endif
  });
}

}  // namespace flashmla
