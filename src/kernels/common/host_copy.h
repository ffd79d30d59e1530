// Copies a small int32 device tensor to the host (debug mode of the entry points: the value checks that
// the hot path cannot afford). Synchronizes `stream`.
#pragma once

#include <cstdint>
#include <vector>

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla::gpu {

// dst receives rows x cols elements, row-major; v is [cols] (rows = 1) or [rows, >= cols].
Status copy_int32_to_host(const TensorView& v, int64_t rows, int64_t cols, Stream stream, std::vector<int32_t>* dst) noexcept;

}  // namespace flashmla::gpu
