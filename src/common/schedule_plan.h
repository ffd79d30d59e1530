// The split-KV schedule as pure functions: the CPU twin (src/cpu/schedule.cpp) and the device kernel
// (src/kernels/common/sched_meta.cu) both call these, so their outputs are bit-identical.
//
// Cost model. A request of L tokens has n = ceil(L / 64) pages. Processing one page on one SM costs 1
// unit; every piece ("split") of a request costs a further kFixedOverheadBlocks units (loading Q, the
// epilogue, writing and later combining a partial result). Requests are laid end to end on a line of
// cost positions: request i starts at start_i = sum_{j<i} (n_j + F); its F overhead units come first,
// then page k sits at position start_i + F + k (an empty request sits at start_i + F).
// The line is cut into num_sm_parts equal pieces of `payload` = floor(total / num_sm_parts) + 1
// positions (positions run from 0 to total inclusive: see payload_of);
// partition p owns positions [p * payload, (p + 1) * payload). A request whose pages straddle a cut is
// split there. Since positions grow monotonically, every partition owns a contiguous run of
// (request, page-range) chunks, and the number of splits of request i is
// part(last position of i) - part(first position of i) + 1.
//
// Balance bound (tested): for every partition, sum over its chunks of (pages + F) <= payload + F.
//
// tile_scheduler_metadata record layout, int32 [num_sm_parts, 8]:
//   [0] begin_req   first request with pages (or an empty request) in this partition
//   [1] begin_block first page of begin_req's chunk
//   [2] end_req     last request of this partition (inclusive); begin_req > end_req = no work
//   [3] end_block   one past the last page of end_req's chunk
//   [4] begin_slot  split slot of begin_req's chunk (index into the fp32 partial-result workspace);
//                   later requests of the partition start at page 0, so their slot is num_splits[req]
//   [5] payload     positions per partition (informative)
//   [6] reserved    0
//   [7] status      record 0 only: 0 = ok, 1 = a negative cache_seqlens entry was seen (treated as 0)
// num_splits int32 [b + 1]: num_splits[0] = 0, request i owns slots [num_splits[i], num_splits[i+1]).
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::plan {

constexpr int32_t kBlockSize = 64;  // tokens per KV page = tokens per kernel KV tile
// Overhead of one split in page units. Loading a 64 x 576 Q tile, the epilogue and the combine of a
// split cost about as much as streaming 4-6 pages; FlashMLA measured 5 for the same trade-off.
constexpr int32_t kFixedOverheadBlocks = 5;
constexpr int32_t kTileRows = 64;  // WGMMA M: query rows per CTA tile

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

FLASHMLA_HD int32_t num_blocks_of(int32_t seqlen) {
  return seqlen <= 0 ? 0 : (seqlen + kBlockSize - 1) / kBlockSize;
}
FLASHMLA_HD int64_t request_cost(int32_t seqlen) { return num_blocks_of(seqlen) + kFixedOverheadBlocks; }
// floor(total / parts) + 1 rather than ceil(total / parts): an empty last request sits at position
// `total` itself (start + F with cost F), which must still fall inside partition parts - 1.
FLASHMLA_HD int64_t payload_of(int64_t total_cost, int32_t num_parts) {
  return total_cost / num_parts + 1;
}
FLASHMLA_HD int32_t part_of(int64_t position, int64_t payload) { return static_cast<int32_t>(position / payload); }
// First and last partition touched by a request that starts at cost offset `start`.
FLASHMLA_HD int32_t first_part(int64_t start, int64_t payload) { return part_of(start + kFixedOverheadBlocks, payload); }
FLASHMLA_HD int32_t last_part(int64_t start, int32_t seqlen, int64_t payload) {
  const int32_t n = num_blocks_of(seqlen);
  return part_of(start + kFixedOverheadBlocks + (n > 0 ? n - 1 : 0), payload);
}
// Pages [*begin, *end) of the request's chunk inside partition p (p within [first_part, last_part]).
FLASHMLA_HD void chunk_of(int64_t start, int32_t seqlen, int64_t payload, int32_t p, int32_t* begin, int32_t* end) {
  const int64_t n = num_blocks_of(seqlen);
  int64_t b = static_cast<int64_t>(p) * payload - start - kFixedOverheadBlocks;
  int64_t e = static_cast<int64_t>(p + 1) * payload - start - kFixedOverheadBlocks;
  b = b < 0 ? 0 : b;
  e = e > n ? n : e;
  *begin = static_cast<int32_t>(b);
  *end = static_cast<int32_t>(e < b ? b : e);
}

// --- M tiling: which (query token, head) pairs a 64-row CTA tile holds -------------------------------
// Rows of one KV head's problem are the pairs (token j < s_q, head hh < hpk = h_q / h_kv). A tile is a
// rectangular box of `tokens` x `heads` pairs so that Q can be fetched with one TMA box per 64 channels:
//   hpk <= 64: a tile holds min(64 / hpk, s_q) whole tokens (all hpk heads each);
//   hpk  > 64: a tile holds 64 heads of one token (ceil(hpk / 64) tiles per token).
// Row r of a tile is token j0 + r / heads, head h0 + r % heads; rows past tokens * heads, tokens past
// s_q and heads past hpk are padding (TMA zero-fills them; they are never stored).
struct TileMap {
  int32_t heads;           // box height in heads
  int32_t tokens;          // box height in tokens
  int32_t tiles_per_token; // hpk > 64: tiles covering one token's heads; else 1
  int32_t num_tiles;       // tiles per (request, KV head)
};

FLASHMLA_HD TileMap make_tile_map(int32_t s_q, int32_t hpk) {
  TileMap t{};
  if (hpk <= kTileRows) {
    int32_t tok = kTileRows / hpk;
    tok = tok < s_q ? tok : s_q;
    tok = tok < 1 ? 1 : tok;
    t.heads = hpk;
    t.tokens = tok;
    t.tiles_per_token = 1;
    t.num_tiles = (s_q + tok - 1) / tok;
  } else {
    t.heads = kTileRows;
    t.tokens = 1;
    t.tiles_per_token = (hpk + kTileRows - 1) / kTileRows;
    t.num_tiles = s_q * t.tiles_per_token;
  }
  return t;
}
FLASHMLA_HD int32_t tile_first_token(const TileMap& t, int32_t tile) {
  return t.tiles_per_token > 1 ? tile / t.tiles_per_token : tile * t.tokens;
}
FLASHMLA_HD int32_t tile_first_head(const TileMap& t, int32_t tile) {
  return t.tiles_per_token > 1 ? (tile % t.tiles_per_token) * kTileRows : 0;
}

// M tiles per (request, KV head) when only rows = s_q * hpk is known (FlashMLA's API), or exact.
inline int32_t num_m_tiles(int32_t rows, int32_t s_q) {
  if (rows <= 0) return 1;
  if (s_q > 0 && rows % s_q == 0) return make_tile_map(s_q, rows / s_q).num_tiles;
  return (rows + kTileRows - 1) / kTileRows;
}

// SM partitions: one CTA per (M tile, KV head, partition), so that the grid is one full wave.
inline int32_t num_sm_parts_for(int32_t num_sms, int32_t m_tiles, int32_t h_kv) {
  const int32_t per = (m_tiles < 1 ? 1 : m_tiles) * (h_kv < 1 ? 1 : h_kv);
  const int32_t p = num_sms / per;
  return p < 1 ? 1 : p;
}

}  // namespace flashmla::plan
