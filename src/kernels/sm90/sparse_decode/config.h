// Tile sizes, thread roles and the shared-memory plan of the sm90 sparse decode (kernel.cuh).
#pragma once

#include <cstdint>

#include "common/kv_format.h"

namespace flashmla::sm90::sparse_decode {

constexpr int kHeadsPerCta = 64;    // query heads of one CTA (4 row groups of 16 = the mma.sync M)
constexpr int kTokensPerBlock = 64; // cache tokens gathered, dequantized and attended per iteration
constexpr int kWarps = 8;           // warp w: row group w % 4 (16 heads), column half w / 4
constexpr int kThreads = kWarps * 32;
constexpr int kRowGroups = 4;
constexpr int kHalfV = 256;         // O columns of one warp (its half of the 512 value channels)
constexpr int kMaxSmemBytes = 227 * 1024;

// Per-format plan. Rows of Q and K are padded by 16 B so that the 8 rows an ldmatrix reads fall in
// different bank groups (an unpadded 1152 / 1024 B row is a multiple of 128 B: 8-way conflicts).
template <class Fmt>
struct Plan {
  static constexpr int kDimQK = Fmt::kDimQK;
  static constexpr int kRowBytes = kDimQK * 2 + 16;                       // bf16 Q / K row in smem
  static constexpr int kRawRowBytes = (Fmt::kBytesPerToken + 15) / 16 * 16;  // raw fp8 token (656 / 592)
  static constexpr int kPRowBytes = kTokensPerBlock * 2 + 16;             // bf16 P row
  static constexpr int kQOffset = 0;
  static constexpr int kKOffset = kQOffset + kHeadsPerCta * kRowBytes;
  static constexpr int kRawOffset = kKOffset + kTokensPerBlock * kRowBytes;
  static constexpr int kPOffset = kRawOffset + kTokensPerBlock * kRawRowBytes;
  static constexpr int kPLoOffset = kPOffset + kHeadsPerCta * kPRowBytes;          // bf16 P - bf16(P), same rows
  static constexpr int kTokPtrOffset = kPLoOffset + kHeadsPerCta * kPRowBytes;     // const uint8_t*[64] x 2
  static constexpr int kValidOffset = kTokPtrOffset + 2 * kTokensPerBlock * 8;      // int32 [2][64]
  static constexpr int kRedMaxOffset = kValidOffset + 2 * kTokensPerBlock * 4;      // float [2][64]
  static constexpr int kRedSumOffset = kRedMaxOffset + 2 * kHeadsPerCta * 4;        // float [2][64]
  static constexpr int kSmemBytes = kRedSumOffset + 2 * kHeadsPerCta * 4;
  static_assert(kSmemBytes <= kMaxSmemBytes, "shared-memory plan exceeds 227 KB");
  static_assert(kRowBytes % 16 == 0 && kRawRowBytes % 16 == 0 && kPRowBytes % 16 == 0, "16-byte rows");
  static_assert(kKOffset % 128 == 0 && kRawOffset % 16 == 0 && kPOffset % 16 == 0 && kPLoOffset % 16 == 0 && kTokPtrOffset % 16 == 0,
                "aligned regions");
  static constexpr int kQChunks = kDimQK * 2 / 16;                 // 16-byte pieces of a q row
  static constexpr int kNopeChunks = Fmt::kNopeDim / 16;           // 16 e4m3 per piece
  static constexpr int kRopeChunks = Fmt::kRopeDim * 2 / 16;       // 8 bf16 per piece
  static constexpr int kConvertItems = kNopeChunks + kRopeChunks;  // per token
};
static_assert(kRowGroups * 16 == kHeadsPerCta && kWarps == 2 * kRowGroups && 2 * kHalfV == kvfmt::kHeadDimV,
              "warp roles: 4 row groups x 2 column halves");
static_assert(Plan<kvfmt::V32>::kSmemBytes < kMaxSmemBytes && Plan<kvfmt::Model1>::kSmemBytes < kMaxSmemBytes, "");

}  // namespace flashmla::sm90::sparse_decode
