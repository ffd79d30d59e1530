// Cases of the sparse FP8 decode (include/flashmla/sparse_decode.h), shared by the CPU and GPU tests.
//
// make_sparse_case() builds host buffers with the adversarial layout of docs/architecture.md:
//   - every cache byte starts as 0xff (NaN as e4m3, fp32, bf16 and e8m0), page padding included; only
//     the tokens that a COUNTED, in-range index position selects are then quantized from
//     clamp(randn / 10, +-1) * 2^k (k per token in [-3, 3], exercising the scales);
//   - index lists hold -1 holes, garbage (INT_MIN, INT_MAX, num_tokens, num_tokens + 1) when asked,
//     and positions at or past topk_length hold indices of NaN tokens;
//   - q, the indices and the cache page stride can be padded (non-contiguous views);
//   - out and lse are NaN-poisoned.
// Names are stable gtest-safe strings built from the spec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/sparse_decode.h"
#include "flashmla/types.h"

namespace flashmla::test {

enum class SinkKind { kNone, kRandom, kPosInf, kNegInf };

struct SparseCaseSpec {
  KvFormat format = KvFormat::kSparseV32;
  int32_t batch = 1, s_q = 1, h_q = 64, topk = 64;
  int32_t page_size = 64;
  int32_t extra_topk = 0;           // 0: no extra cache
  int32_t extra_page_size = 64;
  bool topk_length = false;         // random lengths in [0, topk] (request 0: topk, request 1: 0 if b > 1)
  bool holes = true;                // ~1/8 of positions are -1
  bool garbage = false;             // out-of-range entries
  bool all_invalid = false;         // every position of request 0 masked
  SinkKind sink = SinkKind::kNone;
  bool strided = false;             // padded q, indices and page strides
  int32_t page_pad = -1;            // bytes added to every page stride; -1: 48 if strided, else 0
  float softmax_scale = 0.0f;       // 0: default
  std::string name;                 // filled by finish()
  uint64_t seed = 0;
};
SparseCaseSpec finish(SparseCaseSpec s);  // fills name and seed
// A spec with the given shape and every other field at its default.
SparseCaseSpec sparse_spec(KvFormat f, int32_t b, int32_t s_q, int32_t h, int32_t topk, int32_t page);

struct HostPool {
  std::vector<uint8_t> cache;      // num_blocks * page_stride bytes
  int64_t num_blocks = 0, page_stride = 0;
  int32_t page_size = 0, topk = 0;
  std::vector<int32_t> indices;    // [b, s_q, topk] with strides idx_stride
  int64_t idx_stride[3] = {};
  std::vector<int32_t> topk_length;  // [b] or empty
};

struct SparseHostCase {
  SparseCaseSpec spec;
  int32_t d_qk = 0;
  std::vector<uint16_t> q;  // [b, s_q, h_q, d_qk] with strides q_stride
  int64_t q_stride[4] = {};
  HostPool main, extra;
  std::vector<float> sink;  // [h_q] or empty
  std::vector<uint16_t> out;  // [b, s_q, h_q, 512] contiguous, NaN
  std::vector<float> lse;     // [b, h_q, s_q] contiguous, NaN
};
SparseHostCase make_sparse_case(const SparseCaseSpec& spec);
void poison(SparseHostCase& c);

// Pointers (host or device copies of the host case's buffers, same layout) -> views and args.
struct SparsePointers {
  void *q = nullptr, *cache = nullptr, *indices = nullptr, *topk_length = nullptr;
  void *extra_cache = nullptr, *extra_indices = nullptr, *extra_topk_length = nullptr;
  void *sink = nullptr, *out = nullptr, *lse = nullptr;
};
SparseDecodeArgs make_sparse_args(const SparseHostCase& c, const SparsePointers& p, DeviceType dev = DeviceType::kCPU,
                                  int32_t device_index = 0);
SparsePointers host_pointers(SparseHostCase& c);

}  // namespace flashmla::test
