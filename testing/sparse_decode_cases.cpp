// Sparse decode cases (see sparse_decode_cases.h).
#include "sparse_decode_cases.h"

#include <climits>
#include <cmath>
#include <cstring>
#include <random>

#include "cases.h"
#include "common/kv_format.h"
#include "common/numerics.h"
#include "cpu/quantize.h"

namespace flashmla::test {

SparseCaseSpec sparse_spec(KvFormat f, int32_t b, int32_t s_q, int32_t h, int32_t topk, int32_t page) {
  SparseCaseSpec s;
  s.format = f;
  s.batch = b;
  s.s_q = s_q;
  s.h_q = h;
  s.topk = topk;
  s.page_size = page;
  return s;
}

SparseCaseSpec finish(SparseCaseSpec s) {
  std::string n = s.format == KvFormat::kSparseV32 ? "v32" : "model1";
  n += "_b" + std::to_string(s.batch) + "_sq" + std::to_string(s.s_q) + "_h" + std::to_string(s.h_q) + "_topk" +
       std::to_string(s.topk) + "_page" + std::to_string(s.page_size);
  if (s.extra_topk > 0) n += "_extra" + std::to_string(s.extra_topk) + "p" + std::to_string(s.extra_page_size);
  if (s.topk_length) n += "_len";
  if (!s.holes) n += "_noholes";
  if (s.garbage) n += "_garbage";
  if (s.all_invalid) n += "_allinvalid";
  if (s.sink == SinkKind::kRandom) n += "_sink";
  if (s.sink == SinkKind::kPosInf) n += "_sinkposinf";
  if (s.sink == SinkKind::kNegInf) n += "_sinkneginf";
  if (s.strided) n += "_strided";
  if (s.page_pad >= 0) n += "_pagepad" + std::to_string(s.page_pad);
  if (s.softmax_scale != 0.0f) n += "_scaled";
  s.name = n;
  s.seed = seed_of_name(n);
  return s;
}

namespace {

uint16_t rand_bf16(std::mt19937_64& rng, float mul) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  float v = nd(rng) / 10.0f;
  v = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
  return numerics::float_to_bf16(v * mul);
}

void make_pool(const SparseCaseSpec& s, int32_t d_qk, int32_t topk, int32_t page, bool lengths, std::mt19937_64& rng,
               HostPool* pool, bool is_extra) {
  const KvFormat f = s.format;
  const int32_t bpt = kvfmt::bytes_per_token(f);
  pool->topk = topk;
  pool->page_size = page;
  const int64_t want_tokens = std::max<int64_t>(64, std::min<int64_t>(int64_t{4} * topk, 16384));
  pool->num_blocks = (want_tokens + page - 1) / page + 1;
  pool->page_stride = int64_t{page} * bpt + (s.page_pad >= 0 ? s.page_pad : (s.strided ? 48 : 0));
  pool->cache.assign(static_cast<size_t>(pool->num_blocks * pool->page_stride), 0xff);
  const int64_t num_tokens = pool->num_blocks * page;

  const int64_t pad = s.strided ? 5 : 0;
  pool->idx_stride[2] = 1;
  pool->idx_stride[1] = topk + pad;
  pool->idx_stride[0] = int64_t{s.s_q} * pool->idx_stride[1] + pad;
  pool->indices.assign(static_cast<size_t>(s.batch * pool->idx_stride[0]), INT_MIN + 7);
  if (lengths) {
    pool->topk_length.resize(s.batch);
    for (int32_t i = 0; i < s.batch; ++i)
      pool->topk_length[i] = i == 0 ? topk : (i == 1 ? 0 : static_cast<int32_t>(rng() % (topk + 1)));
  }
  std::vector<char> selected(static_cast<size_t>(num_tokens), 0);
  const int32_t garbage_vals[4] = {INT_MIN, INT_MAX, static_cast<int32_t>(std::min<int64_t>(num_tokens, INT_MAX)),
                                   static_cast<int32_t>(std::min<int64_t>(num_tokens + 1, INT_MAX))};
  for (int32_t i = 0; i < s.batch; ++i) {
    const int32_t n = lengths ? pool->topk_length[i] : topk;
    for (int32_t j = 0; j < s.s_q; ++j)
      for (int32_t t = 0; t < topk; ++t) {
        int32_t idx = static_cast<int32_t>(rng() % num_tokens);
        const uint32_t r = static_cast<uint32_t>(rng() % 64);
        if (t >= n) {
          // not counted: point at (probably NaN) tokens or garbage
          if (r < 8) idx = garbage_vals[r % 4];
        } else if ((s.all_invalid && i == 0 && !is_extra) || (s.holes && r < 8)) {
          idx = -1;
        } else if (s.garbage && r >= 8 && r < 12) {
          idx = garbage_vals[r - 8];
        } else {
          selected[static_cast<size_t>(idx)] = 1;
        }
        if (s.all_invalid && i == 0 && !is_extra && t < n && idx != -1) idx = -1;
        pool->indices[static_cast<size_t>(i * pool->idx_stride[0] + j * pool->idx_stride[1] + t)] = idx;
      }
  }
  // Quantize every selected token from fresh random latent values.
  std::vector<uint16_t> x(static_cast<size_t>(d_qk));
  for (int64_t tok = 0; tok < num_tokens; ++tok) {
    if (!selected[static_cast<size_t>(tok)]) continue;
    const float mul = std::ldexp(1.0f, static_cast<int>(rng() % 7) - 3);
    for (int32_t c = 0; c < d_qk; ++c) x[c] = rand_bf16(rng, mul);
    const cpu::TokenBytes tb = cpu::token_bytes(f, pool->cache.data(), pool->page_stride, page, tok / page, tok % page);
    cpu::quantize_token(f, x.data(), const_cast<uint8_t*>(tb.data), const_cast<uint8_t*>(tb.scales));
  }
}

}  // namespace

SparseHostCase make_sparse_case(const SparseCaseSpec& s) {
  SparseHostCase c;
  c.spec = s;
  std::mt19937_64 rng(s.seed);
  c.d_qk = kvfmt::dim_qk(s.format);
  const int64_t pad = s.strided ? 64 : 0;
  c.q_stride[3] = 1;
  c.q_stride[2] = c.d_qk + pad;
  c.q_stride[1] = int64_t{s.h_q} * c.q_stride[2] + pad;
  c.q_stride[0] = int64_t{s.s_q} * c.q_stride[1];
  c.q.assign(static_cast<size_t>(s.batch * c.q_stride[0]), numerics::kBF16QuietNaN);
  for (int32_t i = 0; i < s.batch; ++i)
    for (int32_t j = 0; j < s.s_q; ++j)
      for (int32_t h = 0; h < s.h_q; ++h)
        for (int32_t d = 0; d < c.d_qk; ++d)
          c.q[static_cast<size_t>(i * c.q_stride[0] + j * c.q_stride[1] + h * c.q_stride[2] + d)] = rand_bf16(rng, 1.0f);
  make_pool(s, c.d_qk, s.topk, s.page_size, s.topk_length, rng, &c.main, false);
  if (s.extra_topk > 0) make_pool(s, c.d_qk, s.extra_topk, s.extra_page_size, s.topk_length, rng, &c.extra, true);
  if (s.sink != SinkKind::kNone) {
    c.sink.resize(s.h_q);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f);
    for (int32_t h = 0; h < s.h_q; ++h)
      c.sink[h] = s.sink == SinkKind::kRandom ? u(rng) : (s.sink == SinkKind::kPosInf ? INFINITY : -INFINITY);
  }
  c.out.resize(static_cast<size_t>(int64_t{s.batch} * s.s_q * s.h_q * kvfmt::kHeadDimV));
  c.lse.resize(static_cast<size_t>(int64_t{s.batch} * s.h_q * s.s_q));
  poison(c);
  return c;
}

void poison(SparseHostCase& c) {
  std::fill(c.out.begin(), c.out.end(), numerics::kBF16QuietNaN);
  std::fill(c.lse.begin(), c.lse.end(), NAN);
}

namespace {
TensorView strided_view(void* data, DType dt, std::initializer_list<int64_t> shape, const int64_t* strides,
                        DeviceType dev, int32_t index) {
  TensorView v = make_view(data, dt, shape, dev, index);
  for (int i = 0; i < v.rank; ++i) v.stride[i] = strides[i];
  return v;
}
TensorView cache_view(const HostPool& pool, void* data, KvFormat f, DeviceType dev, int32_t index) {
  const int64_t bpt = kvfmt::bytes_per_token(f);
  const int64_t st[4] = {pool.page_stride, bpt, bpt, 1};
  return strided_view(data, DType::kUInt8, {pool.num_blocks, pool.page_size, 1, bpt}, st, dev, index);
}
}  // namespace

SparseDecodeArgs make_sparse_args(const SparseHostCase& c, const SparsePointers& p, DeviceType dev, int32_t di) {
  const SparseCaseSpec& s = c.spec;
  SparseDecodeArgs a;
  a.q = strided_view(p.q, DType::kBF16, {s.batch, s.s_q, s.h_q, c.d_qk}, c.q_stride, dev, di);
  a.k_cache = cache_view(c.main, p.cache, s.format, dev, di);
  a.indices = strided_view(p.indices, DType::kInt32, {s.batch, s.s_q, s.topk}, c.main.idx_stride, dev, di);
  if (!c.main.topk_length.empty()) a.topk_length = make_view(p.topk_length, DType::kInt32, {s.batch}, dev, di);
  if (s.extra_topk > 0) {
    a.extra_k_cache = cache_view(c.extra, p.extra_cache, s.format, dev, di);
    a.extra_indices =
        strided_view(p.extra_indices, DType::kInt32, {s.batch, s.s_q, s.extra_topk}, c.extra.idx_stride, dev, di);
    if (!c.extra.topk_length.empty())
      a.extra_topk_length = make_view(p.extra_topk_length, DType::kInt32, {s.batch}, dev, di);
  }
  if (!c.sink.empty()) a.attn_sink = make_view(p.sink, DType::kFP32, {s.h_q}, dev, di);
  a.softmax_scale = s.softmax_scale;
  a.out = make_view(p.out, DType::kBF16, {s.batch, s.s_q, s.h_q, kvfmt::kHeadDimV}, dev, di);
  a.lse = make_view(p.lse, DType::kFP32, {s.batch, s.h_q, s.s_q}, dev, di);
  return a;
}

SparsePointers host_pointers(SparseHostCase& c) {
  SparsePointers p;
  p.q = c.q.data();
  p.cache = c.main.cache.data();
  p.indices = c.main.indices.data();
  p.topk_length = c.main.topk_length.empty() ? nullptr : c.main.topk_length.data();
  if (c.spec.extra_topk > 0) {
    p.extra_cache = c.extra.cache.data();
    p.extra_indices = c.extra.indices.data();
    p.extra_topk_length = c.extra.topk_length.empty() ? nullptr : c.extra.topk_length.data();
  }
  p.sink = c.sink.empty() ? nullptr : c.sink.data();
  p.out = c.out.data();
  p.lse = c.lse.data();
  return p;
}

}  // namespace flashmla::test
