// CPU reference of the sparse FP8 decode (see sparse_decode.h).
#include "cpu/sparse_decode.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/kv_format.h"
#include "common/numerics.h"
#include "cpu/attend.h"
#include "cpu/quantize.h"

namespace flashmla::cpu {

int64_t sparse_valid_length(const TensorView& tl, int32_t req, int32_t topk) noexcept {
  if (!tl.defined()) return topk;
  const int64_t n = static_cast<const int32_t*>(tl.data)[req * tl.stride[0]];
  return n < 0 ? 0 : (n > topk ? topk : n);
}

namespace {

struct PoolView {
  const TensorView* cache;
  const TensorView* indices;
  const TensorView* topk_length;
  const SparseKvPool* dims;
};

// Dequantizes every valid selected token of (req, tok) of one pool into `keys` (d_qk doubles each).
void gather(const SparseDecodeProblem& p, const PoolView& pool, int32_t req, int32_t tok, std::vector<double>* keys) {
  if (pool.dims->topk == 0) return;
  const int64_t n = sparse_valid_length(*pool.topk_length, req, pool.dims->topk);
  const TensorView& ind = *pool.indices;
  const int32_t* row = static_cast<const int32_t*>(ind.data) + req * ind.stride[0] + tok * ind.stride[1];
  const auto* base = static_cast<const uint8_t*>(pool.cache->data);
  for (int64_t t = 0; t < n; ++t) {
    const int32_t idx = row[t * ind.stride[2]];
    if (!sparse_token_valid(idx, pool.dims->num_tokens)) continue;
    const int64_t page = idx / pool.dims->page_size, r = idx % pool.dims->page_size;
    const TokenBytes tb = token_bytes(p.format, base, pool.dims->page_stride, pool.dims->page_size, page, r);
    const size_t off = keys->size();
    keys->resize(off + p.d_qk);
    dequantize_token(p.format, tb.data, tb.scales, keys->data() + off);
  }
}

}  // namespace

Status run_sparse_decode(const SparseDecodeProblem& p) noexcept {
  const SparseDecodeArgs& a = *p.args;
  const int32_t d = p.d_qk, dv = kvfmt::kHeadDimV;
  const PoolView pools[2] = {{&a.k_cache, &a.indices, &a.topk_length, &p.main},
                             {&a.extra_k_cache, &a.extra_indices, &a.extra_topk_length, &p.extra}};
  const auto* q = static_cast<const uint16_t*>(a.q.data);
  auto* out = static_cast<uint16_t*>(a.out.data);
  auto* lse = static_cast<float*>(a.lse.data);
  const auto* sink = static_cast<const float*>(a.attn_sink.data);
  const double scale = p.softmax_scale;
  const bool ok = detail::parallel_for(int64_t{p.batch} * p.s_q, [&](int64_t item) {
    const int32_t req = static_cast<int32_t>(item / p.s_q), tok = static_cast<int32_t>(item % p.s_q);
    std::vector<double> keys;
    for (const PoolView& pool : pools) gather(p, pool, req, tok, &keys);
    const int64_t nk = static_cast<int64_t>(keys.size()) / d;
    std::vector<double> s(nk), qd(d), o(dv);
    for (int32_t h = 0; h < p.h_q; ++h) {
      const uint16_t* qr = q + req * a.q.stride[0] + tok * a.q.stride[1] + h * a.q.stride[2];
      for (int32_t c = 0; c < d; ++c) qd[c] = numerics::bf16_to_float(qr[c]);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < nk; ++k) {
        double acc = 0.0;
        const double* kr = keys.data() + k * d;
        for (int32_t c = 0; c < d; ++c) acc += qd[c] * kr[c];
        s[k] = acc * scale;
        mx = s[k] > mx ? s[k] : mx;
      }
      std::fill(o.begin(), o.end(), 0.0);
      double sum = 0.0;
      for (int64_t k = 0; k < nk; ++k) {
        const double w = std::exp(s[k] - mx);
        sum += w;
        const double* kr = keys.data() + k * d;
        for (int32_t c = 0; c < dv; ++c) o[c] += w * kr[c];
      }
      const double l = nk > 0 ? mx + std::log(sum) : std::numeric_limits<double>::infinity();
      double f = nk > 0 ? 1.0 / sum : 0.0;
      if (sink && nk > 0) f /= 1.0 + std::exp(static_cast<double>(sink[h * a.attn_sink.stride[0]]) - l);
      uint16_t* orow = out + req * a.out.stride[0] + tok * a.out.stride[1] + h * a.out.stride[2];
      for (int32_t c = 0; c < dv; ++c) orow[c] = numerics::double_to_bf16(nk > 0 ? o[c] * f : 0.0);
      lse[req * a.lse.stride[0] + h * a.lse.stride[1] + tok * a.lse.stride[2]] = static_cast<float>(l);
    }
  });
  if (!ok) return Status(StatusCode::kInternal, "sparse_decode (cpu): out of memory or an internal exception");
  return Status::Ok();
}

}  // namespace flashmla::cpu
