// TMA (cp.async.bulk.tensor) descriptors for the launchers: encoding through the driver entry point
// (fetched via the runtime, so nothing links libcuda), with a per-thread cache because engines call with
// the same few (pointer, shape) pairs every step and an encode costs about a microsecond of host time.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "flashmla/status.h"

namespace flashmla::gpu {

// cuTensorMapEncodeTiled with 128 B swizzle, no interleave, unit element strides. `what` names the
// tensor in the error message (a rejected descriptor is kInvalidArgument).
Status encode_tma(CUtensorMap* map, CUtensorMapDataType dt, uint32_t rank, const void* base, const uint64_t* dims,
                  const uint64_t* strides, const uint32_t* box, CUtensorMapL2promotion promo, const char* what);

// TMA wants every stride a multiple of 16 B, even of size-1 dimensions whose stride nobody uses
// (frameworks put arbitrary values there); give those a harmless valid one.
inline uint64_t tma_stride(int64_t size, int64_t stride_elems, uint64_t elem_bytes, uint64_t fallback_bytes) {
  return size == 1 ? fallback_bytes : static_cast<uint64_t>(stride_elems) * elem_bytes;
}

}  // namespace flashmla::gpu
