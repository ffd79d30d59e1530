// flashmla — the dimensions of Multi-head Latent Attention, one name per concept.
//
// A cached token is a 576-wide latent vector: 512 "NoPE" channels that are also the value, then 64
// RoPE channels. Kernel tile sizes are not here: they belong to each kernel's config.h.
#pragma once

#include <cstdint>

namespace flashmla {

constexpr int32_t kHeadDimQK = 576;   // d: width of q and of a cached key (dense and V32)
constexpr int32_t kHeadDimV = 512;    // dv: the value is the first 512 channels of the key
constexpr int32_t kHeadDimRope = 64;  // RoPE channels at the end of q and k
constexpr int32_t kMaxHeadsK = 8;     // h_kv supported by the dense decode (MLA itself uses 1)

// Records of tile_scheduler_metadata: int32 [num_sm_parts, kScheduleRecordInts] (layout: decode.h).
constexpr int32_t kScheduleRecordInts = 8;

}  // namespace flashmla
