// Q tiling of the dense decode: which (query token, head) pairs a 64-row CTA tile holds.
//
// Rows of one KV head's problem are the pairs (token j < s_q, head hh < hpk = h_q / h_kv). A tile is a
// rectangular box of `tokens` x `heads` pairs so that Q can be fetched with one TMA box per 64 channels:
//   hpk <= 64: a tile holds min(64 / hpk, s_q) whole tokens (all hpk heads each);
//   hpk  > 64: a tile holds 64 heads of one token (ceil(hpk / 64) tiles per token).
// Row r of a tile is token j0 + r / heads, head h0 + r % heads; rows past tokens * heads, tokens past
// s_q and heads past hpk are padding (TMA zero-fills them; they are never stored).
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::plan {

constexpr int32_t kTileRows = 64;  // WGMMA M: query rows per CTA tile

struct TileMap {
  int32_t heads;            // box height in heads
  int32_t tokens;           // box height in tokens
  int32_t tiles_per_token;  // hpk > 64: tiles covering one token's heads; else 1
  int32_t num_tiles;        // tiles per (request, KV head)
};

// Tiles per (request, KV head), in 64 bits: callers of query_num_sm_parts may pass rows near 2^31.
FLASHMLA_HD int64_t tiles_of(int64_t s_q, int64_t hpk) {
  if (hpk <= kTileRows) {
    int64_t tok = kTileRows / hpk;
    tok = tok < s_q ? tok : s_q;
    tok = tok < 1 ? 1 : tok;
    return (s_q + tok - 1) / tok;
  }
  return s_q * ((hpk + kTileRows - 1) / kTileRows);
}

// The map of a validated problem (s_q * hpk <= 2^31 - 1, so every count fits in int32).
FLASHMLA_HD TileMap make_tile_map(int32_t s_q, int32_t hpk) {
  TileMap t{};
  if (hpk <= kTileRows) {
    int32_t tok = kTileRows / hpk;
    tok = tok < s_q ? tok : s_q;
    tok = tok < 1 ? 1 : tok;
    t.heads = hpk;
    t.tokens = tok;
    t.tiles_per_token = 1;
  } else {
    t.heads = kTileRows;
    t.tokens = 1;
    t.tiles_per_token = static_cast<int32_t>((static_cast<int64_t>(hpk) + kTileRows - 1) / kTileRows);
  }
  t.num_tiles = static_cast<int32_t>(tiles_of(s_q, hpk));
  return t;
}
FLASHMLA_HD int32_t tile_first_token(const TileMap& t, int32_t tile) {
  return t.tiles_per_token > 1 ? tile / t.tiles_per_token : tile * t.tokens;
}
FLASHMLA_HD int32_t tile_first_head(const TileMap& t, int32_t tile) {
  return t.tiles_per_token > 1 ? (tile % t.tiles_per_token) * kTileRows : 0;
}

// M tiles per (request, KV head) when only rows = s_q * hpk is known (FlashMLA's API), or exact.
inline int64_t num_m_tiles(int64_t rows, int64_t s_q) {
  if (rows <= 0) return 1;
  if (s_q > 0 && rows % s_q == 0) return tiles_of(s_q, rows / s_q);
  return (rows + kTileRows - 1) / kTileRows;
}

}  // namespace flashmla::plan
