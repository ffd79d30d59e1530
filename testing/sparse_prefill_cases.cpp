#include "sparse_prefill_cases.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <random>

#include "common/numerics.h"

namespace flashmla::test {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

uint16_t random_bf16(std::mt19937_64& g, std::normal_distribution<float>& n) {
  return numerics::float_to_bf16(std::clamp(n(g) / 10.0f, -1.0f, 1.0f));
}

constexpr int32_t kFillers[4] = {INT_MIN, -1, 0 /* s_kv, set below */, INT_MAX};

}  // namespace

void poison_sparse_prefill_outputs(SparsePrefillHost& c) {
  std::fill(c.out.begin(), c.out.end(), numerics::kBF16QuietNaN);
  std::fill(c.max_logits.begin(), c.max_logits.end(), std::numeric_limits<float>::quiet_NaN());
  std::fill(c.lse.begin(), c.lse.end(), std::numeric_limits<float>::quiet_NaN());
}

SparsePrefillHost make_sparse_prefill_case(const SparsePrefillSpec& spec) {
  SparsePrefillHost c;
  c.spec = spec;
  c.sm_scale = spec.sm_scale > 0 ? spec.sm_scale : static_cast<float>(1.0 / std::sqrt(double(spec.d_qk)));
  std::mt19937_64 g(spec.seed ? spec.seed : fnv1a(spec.name));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const int64_t sq = spec.s_q, topk = spec.topk, skv = spec.s_kv;

  // topk_length first: it decides which positions are valid.
  if (spec.lengths != LengthMode::kNone) {
    c.topk_length.resize(sq);
    for (int64_t i = 0; i < sq; ++i) {
      int64_t v = 0;
      if (spec.lengths == LengthMode::kPartial) {
        const int64_t pick = static_cast<int64_t>(g() % 8);
        v = pick == 0 ? 0 : pick == 1 ? topk : pick == 2 ? topk + 5 : pick == 3 ? -3
                                                                               : static_cast<int64_t>(g() % (topk + 1));
      }
      c.topk_length[i] = static_cast<int32_t>(v);
    }
  }

  // indices; a row is "referenced" iff a valid position holds it.
  std::vector<uint8_t> referenced(static_cast<size_t>(skv), 0);
  c.indices.resize(static_cast<size_t>(sq * topk));
  int filler = 0;
  for (int64_t i = 0; i < sq; ++i) {
    const int64_t len = c.topk_length.empty() ? topk : std::clamp<int64_t>(c.topk_length[i], 0, topk);
    const bool none = spec.all_invalid_rows && i % 3 == 1;
    for (int64_t p = 0; p < topk; ++p) {
      int32_t& e = c.indices[i * topk + p];
      const bool invalid = none || skv == 0 || uni(g) < spec.invalid_fraction;
      if (invalid) {
        const int32_t f = kFillers[filler++ % 4];
        e = (f == 0) ? static_cast<int32_t>(skv) : f;
        continue;
      }
      e = static_cast<int32_t>(g() % static_cast<uint64_t>(skv));
      if (p < len) referenced[e] = 1;  // positions past the length point anywhere, NaN rows included
    }
  }

  // kv: random where referenced, NaN everywhere else (including the stride padding).
  const int64_t rs = c.kv_row_stride();
  c.kv.assign(static_cast<size_t>(std::max<int64_t>(skv, 1) * rs), numerics::kBF16QuietNaN);
  for (int64_t r = 0; r < skv; ++r) {
    if (!referenced[r]) continue;
    for (int32_t ch = 0; ch < spec.d_qk; ++ch) c.kv[r * rs + ch] = random_bf16(g, normal);
  }
  c.q.resize(static_cast<size_t>(sq * spec.h_q * spec.d_qk));
  for (auto& x : c.q) x = random_bf16(g, normal);

  if (spec.sink != SinkMode::kNone) {
    c.attn_sink.resize(spec.h_q);
    for (int32_t h = 0; h < spec.h_q; ++h) {
      float v = static_cast<float>(uni(g) * 10.0 - 2.0);  // around typical lse values (0 .. ln topk)
      if (spec.sink == SinkMode::kNegInf || (spec.sink == SinkMode::kMixed && h % 4 == 1))
        v = -std::numeric_limits<float>::infinity();
      if (spec.sink == SinkMode::kPosInf || (spec.sink == SinkMode::kMixed && h % 4 == 2))
        v = std::numeric_limits<float>::infinity();
      c.attn_sink[h] = v;
    }
  }
  c.out.resize(static_cast<size_t>(sq * spec.h_q * 512));
  c.max_logits.resize(static_cast<size_t>(sq * spec.h_q));
  c.lse.resize(static_cast<size_t>(sq * spec.h_q));
  poison_sparse_prefill_outputs(c);
  return c;
}

SparsePrefillArgs make_sparse_prefill_args(const SparsePrefillHost& c, const SparsePrefillPointers& p,
                                           DeviceType device, int32_t device_index) {
  const SparsePrefillSpec& s = c.spec;
  SparsePrefillArgs a;
  a.q = make_view(p.q, DType::kBF16, {s.s_q, s.h_q, s.d_qk}, device, device_index);
  a.kv = make_view(p.kv, DType::kBF16, {s.s_kv, 1, s.d_qk}, device, device_index);
  a.kv.stride[0] = c.kv_row_stride();
  a.kv.stride[1] = c.kv_row_stride();
  a.indices = make_view(p.indices, DType::kInt32, {s.s_q, 1, s.topk}, device, device_index);
  if (!c.topk_length.empty()) a.topk_length = make_view(p.topk_length, DType::kInt32, {s.s_q}, device, device_index);
  if (!c.attn_sink.empty()) a.attn_sink = make_view(p.attn_sink, DType::kFP32, {s.h_q}, device, device_index);
  a.sm_scale = c.sm_scale;
  a.out = make_view(p.out, DType::kBF16, {s.s_q, s.h_q, 512}, device, device_index);
  a.max_logits = make_view(p.max_logits, DType::kFP32, {s.s_q, s.h_q}, device, device_index);
  a.lse = make_view(p.lse, DType::kFP32, {s.s_q, s.h_q}, device, device_index);
  return a;
}

SparsePrefillPointers host_pointers(SparsePrefillHost& c) {
  SparsePrefillPointers p;
  p.q = c.q.data();
  p.kv = c.kv.data();
  p.indices = c.indices.data();
  p.topk_length = c.topk_length.empty() ? nullptr : c.topk_length.data();
  p.attn_sink = c.attn_sink.empty() ? nullptr : c.attn_sink.data();
  p.out = c.out.data();
  p.max_logits = c.max_logits.data();
  p.lse = c.lse.data();
  return p;
}

double sparse_prefill_flops(const SparsePrefillSpec& s) {
  return 2.0 * static_cast<double>(s.s_q) * s.h_q * s.topk * (s.d_qk + 512);
}

}  // namespace flashmla::test
