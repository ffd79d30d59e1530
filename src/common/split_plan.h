// The split-KV plan as pure functions: the CPU twin (src/cpu/schedule.cpp) and the device scheduler
// (src/kernels/common/sched_meta.cu) both call these, so their outputs are bit-identical. The plan is
// generic: a request is a number of work items (KV tiles of kTileTokens tokens for dense decode, blocks of
// top-k indices for a sparse family); every function takes item counts, not lengths.
//
// Cost model. Processing one item on one SM costs 1 unit; every piece ("split") of a request costs a
// further kFixedOverheadItems units (loading Q, the epilogue, writing and later combining a partial
// result). Requests are laid end to end on a line of cost positions: request i starts at
// start_i = sum_{j<i} (n_j + F); its F overhead units come first, then item k sits at position
// start_i + F + k (an empty request sits at start_i + F). The line is cut into num_sm_parts equal pieces
// of `payload` = floor(total / num_sm_parts) + 1 positions (positions run from 0 to total inclusive: see
// payload_of); partition p owns positions [p * payload, (p + 1) * payload). A request whose items
// straddle a cut is split there. Positions grow monotonically, so every partition owns a contiguous run
// of (request, item-range) chunks, and request i has part(last position) - part(first position) + 1 splits.
//
// Balance bound (tested): for every partition, sum over its chunks of (items + F) <= payload + F.
// Everything is 64-bit: lengths up to 2^31 - 1 and 2^20 requests stay exact (item counts fit in int32,
// positions and payloads in int64). The record layout is documented in include/flashmla/decode.h.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::plan {

// Tokens per dense KV tile: the unit of the dense decode's plan (= the sm90 kernel's page tile).
constexpr int32_t kDenseTileTokens = 64;
// Overhead of one split in item units. Loading a 64 x 576 Q tile, the epilogue and the combine of a
// split cost about as much as streaming 4-6 tiles; FlashMLA measured 5 for the same trade-off.
constexpr int32_t kFixedOverheadItems = 5;

enum RecordField : int32_t {
  kRecBeginReq = 0,
  kRecBeginBlock = 1,
  kRecEndReq = 2,
  kRecEndBlock = 3,
  kRecBeginSlot = 4,
  kRecPayload = 5,
  kRecReserved = 6,
  kRecStatus = 7,
};
constexpr int32_t kRecordInts = 8;
constexpr int32_t kStatusNegativeSeqlen = 1;

// Items of a request of `len` tokens cut into tiles of `tile_tokens` (negative lengths count as 0).
FLASHMLA_HD int32_t items_of_length(int64_t len, int32_t tile_tokens) {
  return len <= 0 ? 0 : static_cast<int32_t>((len + tile_tokens - 1) / tile_tokens);
}
// Dense decode: KV tiles of a request of `len` tokens.
FLASHMLA_HD int32_t dense_items(int64_t len) { return items_of_length(len, kDenseTileTokens); }
FLASHMLA_HD int64_t request_cost(int32_t items) { return static_cast<int64_t>(items) + kFixedOverheadItems; }
// floor(total / parts) + 1 rather than ceil(total / parts): an empty last request sits at position
// `total` itself (start + F with cost F), which must still fall inside partition parts - 1.
FLASHMLA_HD int64_t payload_of(int64_t total_cost, int32_t num_parts) { return total_cost / num_parts + 1; }
// The payload as stored in the record (informative): saturated to int32.
FLASHMLA_HD int32_t payload_field(int64_t payload) {
  return payload > INT32_MAX ? INT32_MAX : static_cast<int32_t>(payload);
}
FLASHMLA_HD int32_t part_of(int64_t position, int64_t payload) { return static_cast<int32_t>(position / payload); }
// First and last partition touched by a request of `items` items that starts at cost offset `start`.
FLASHMLA_HD int32_t first_part(int64_t start, int64_t payload) { return part_of(start + kFixedOverheadItems, payload); }
FLASHMLA_HD int32_t last_part(int64_t start, int32_t items, int64_t payload) {
  return part_of(start + kFixedOverheadItems + (items > 0 ? items - 1 : 0), payload);
}
// Items [*begin, *end) of the request's chunk inside partition p (p within [first_part, last_part]).
FLASHMLA_HD void chunk_of(int64_t start, int32_t items, int64_t payload, int32_t p, int32_t* begin, int32_t* end) {
  int64_t b = static_cast<int64_t>(p) * payload - start - kFixedOverheadItems;
  int64_t e = static_cast<int64_t>(p + 1) * payload - start - kFixedOverheadItems;
  b = b < 0 ? 0 : b;
  e = e > items ? items : e;
  *begin = static_cast<int32_t>(b);
  *end = static_cast<int32_t>(e < b ? b : e);
}

// SM partitions: one CTA per (M tile, KV head, partition), so that the grid is one full wave.
inline int32_t num_sm_parts_for(int32_t num_sms, int64_t m_tiles, int64_t h_kv) {
  const int64_t per = (m_tiles < 1 ? 1 : m_tiles) * (h_kv < 1 ? 1 : h_kv);
  const int64_t p = num_sms / per;
  return p < 1 ? 1 : static_cast<int32_t>(p);
}

}  // namespace flashmla::plan
