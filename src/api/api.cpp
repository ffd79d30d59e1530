// Library-wide entry points: version and device queries. Each operation has its own file
// (decode.cpp, schedule.cpp, ...).
#include <string>

#include "api/guard.h"
#include "flashmla/flashmla.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include "kernels/gpu_backend.h"
#define FLASHMLA_API_CUDA 1
#else
#define FLASHMLA_API_CUDA 0
#endif

#ifndef FLASHMLA_VERSION_STRING
#define FLASHMLA_VERSION_STRING "0.1.0"
#endif

namespace flashmla {

const char* version() noexcept { return FLASHMLA_VERSION_STRING; }

bool built_with_cuda() noexcept { return FLASHMLA_API_CUDA != 0; }

Status device_supported(int32_t device_index) noexcept {
  return detail::guarded("device_supported", [&]() -> Status {
#if FLASHMLA_API_CUDA
    return gpu::check_sm90_device(device_index, nullptr);
#else
    (void)device_index;
    return Status(StatusCode::kNotSupported,
                  "device_supported: flashmla was built without CUDA kernels (FLASHMLA_ENABLE_CUDA=OFF)",
                  ErrorKind::kDevice);
#endif
  });
}

}  // namespace flashmla
