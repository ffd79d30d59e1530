// Cases of the sparse prefill family (flash_mla_sparse_fwd), shared by its CPU and GPU tests.
//
// make_sparse_prefill_case() builds host buffers with the adversarial layout of docs/architecture.md:
//   - q and every kv row that a VALID index position references hold clamp(randn / 10, -1, 1) (bf16);
//   - every other kv row, and the padding channels of rows with a stride > d_qk, are NaN: the kernel
//     must never read them (positions past topk_length point at such rows on purpose);
//   - invalid positions hold the fillers INT_MIN, -1, s_kv and INT_MAX in turn;
//   - out, max_logits and lse are NaN-poisoned so that every element must be written.
// Data are deterministic functions of the case (its seed is a hash of the name).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/sparse_prefill.h"

namespace flashmla::test {

enum class SinkMode { kNone, kRandom, kNegInf, kPosInf, kMixed };  // kMixed: random with some +-inf heads
enum class LengthMode { kNone, kPartial, kZero };  // topk_length absent / random in [-3, topk + 5] / all 0

struct SparsePrefillSpec {
  std::string name;          // gtest-safe, unique in its set
  int64_t s_q = 1;
  int64_t s_kv = 1;
  int32_t h_q = 1;
  int32_t d_qk = 576;
  int32_t topk = 1;
  int64_t kv_row_stride = 0;    // elements between kv rows; 0 = d_qk
  double invalid_fraction = 0;  // share of positions holding an invalid filler
  bool all_invalid_rows = false;  // every 3rd query token: all positions invalid
  LengthMode lengths = LengthMode::kNone;
  SinkMode sink = SinkMode::kNone;
  float sm_scale = 0.0f;        // 0: 1 / sqrt(d_qk)
  uint64_t seed = 0;            // 0: derived from the name
};

struct SparsePrefillHost {
  SparsePrefillSpec spec;
  float sm_scale = 0.0f;
  std::vector<uint16_t> q;            // [s_q, h_q, d_qk]
  std::vector<uint16_t> kv;           // [s_kv, 1, d_qk] with row stride kv_row_stride
  std::vector<int32_t> indices;       // [s_q, 1, topk]
  std::vector<int32_t> topk_length;   // [s_q] (empty without)
  std::vector<float> attn_sink;       // [h_q] (empty without)
  std::vector<uint16_t> out;          // [s_q, h_q, 512], NaN-poisoned
  std::vector<float> max_logits;      // [s_q, h_q], NaN-poisoned
  std::vector<float> lse;             // [s_q, h_q], NaN-poisoned
  int64_t kv_row_stride() const { return spec.kv_row_stride > 0 ? spec.kv_row_stride : spec.d_qk; }
};

SparsePrefillHost make_sparse_prefill_case(const SparsePrefillSpec& spec);
void poison_sparse_prefill_outputs(SparsePrefillHost& c);

// Pointers of one copy of a case (host buffers or device copies).
struct SparsePrefillPointers {
  void *q = nullptr, *kv = nullptr, *indices = nullptr, *topk_length = nullptr, *attn_sink = nullptr;
  void *out = nullptr, *max_logits = nullptr, *lse = nullptr;
};
// Args with the case's shapes, strides and scale over the pointers (optional views only when the case
// has them).
SparsePrefillArgs make_sparse_prefill_args(const SparsePrefillHost& c, const SparsePrefillPointers& p,
                                           DeviceType device = DeviceType::kCPU, int32_t device_index = 0);
SparsePrefillPointers host_pointers(SparsePrefillHost& c);

// FLOP of DeepSeek's test formula: 2 * s_q * h_q * topk * (d_qk + 512).
double sparse_prefill_flops(const SparsePrefillSpec& s);

}  // namespace flashmla::test
