// An independent, deliberately dumb reference of the sparse FP8 decode for the tests: its own byte
// parsing (std::ldexp-based e4m3 / e8m0 decoding, no shared codec), one query row at a time, float64.
// Checks the CPU oracle (src/cpu/sparse_decode.cpp); the GPU tests compare against that oracle.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/numerics.h"
#include "sparse_decode_cases.h"

namespace flashmla::test::naive {

inline double e4m3(uint8_t b) {
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
  return s ? -mag : mag;
}

// Token `idx` of `pool` as d_qk doubles (bf16-rounded NoPE, as the format's contract says).
inline std::vector<double> token(const HostPool& pool, bool v32, int32_t idx) {
  const int64_t page = idx / pool.page_size, row = idx % pool.page_size;
  const uint8_t* pg = pool.cache.data() + page * pool.page_stride;
  std::vector<double> k;
  if (v32) {
    const uint8_t* t = pg + row * 656;
    for (int c = 0; c < 512; ++c) {
      float sc;
      std::memcpy(&sc, t + 512 + 4 * (c / 128), 4);
      const double scb = numerics::bf16_to_float(numerics::float_to_bf16(sc));
      k.push_back(numerics::bf16_to_float(numerics::double_to_bf16(e4m3(t[c]) * scb)));
    }
    for (int c = 0; c < 64; ++c) {
      uint16_t h;
      std::memcpy(&h, t + 528 + 2 * c, 2);
      k.push_back(numerics::bf16_to_float(h));
    }
  } else {
    const uint8_t* t = pg + row * 576;
    const uint8_t* sc = pg + int64_t{pool.page_size} * 576 + row * 8;
    for (int c = 0; c < 448; ++c) {
      const double s = sc[c / 64] == 255 ? std::nan("") : std::ldexp(1.0, sc[c / 64] - 127);
      k.push_back(numerics::bf16_to_float(numerics::double_to_bf16(e4m3(t[c]) * s)));
    }
    for (int c = 0; c < 64; ++c) {
      uint16_t h;
      std::memcpy(&h, t + 448 + 2 * c, 2);
      k.push_back(numerics::bf16_to_float(h));
    }
  }
  return k;
}

// out as doubles [b, s_q, h_q, 512] and lse [b, h_q, s_q].
inline void attention(const SparseHostCase& c, std::vector<double>* out, std::vector<double>* lse) {
  const SparseCaseSpec& s = c.spec;
  const bool v32 = s.format == KvFormat::kSparseV32;
  const int d = c.d_qk;
  const double scale = s.softmax_scale != 0.0f ? s.softmax_scale : 1.0 / std::sqrt(static_cast<double>(d));
  out->assign(static_cast<size_t>(int64_t{s.batch} * s.s_q * s.h_q * 512), 0.0);
  lse->assign(static_cast<size_t>(int64_t{s.batch} * s.h_q * s.s_q), 0.0);
  for (int i = 0; i < s.batch; ++i)
    for (int j = 0; j < s.s_q; ++j) {
      std::vector<std::vector<double>> keys;
      for (const HostPool* pool : {&c.main, &c.extra}) {
        if (pool->topk == 0) continue;
        int64_t n = pool->topk_length.empty() ? pool->topk : pool->topk_length[i];
        n = std::max<int64_t>(0, std::min<int64_t>(n, pool->topk));
        const int64_t ntok = pool->num_blocks * pool->page_size;
        for (int64_t t = 0; t < n; ++t) {
          const int32_t idx = pool->indices[static_cast<size_t>(i * pool->idx_stride[0] + j * pool->idx_stride[1] +
                                                                t * pool->idx_stride[2])];
          if (idx >= 0 && idx < ntok) keys.push_back(token(*pool, v32, idx));
        }
      }
      for (int h = 0; h < s.h_q; ++h) {
        const uint16_t* q = c.q.data() + i * c.q_stride[0] + j * c.q_stride[1] + h * c.q_stride[2];
        std::vector<double> sc;
        for (const auto& k : keys) {
          double dot = 0;
          for (int x = 0; x < d; ++x) dot += numerics::bf16_to_float(q[x]) * k[x];
          sc.push_back(dot * scale);
        }
        double mx = -INFINITY, sum = 0;
        for (double v : sc) mx = std::max(mx, v);
        for (double v : sc) sum += std::exp(v - mx);
        const double l = keys.empty() ? INFINITY : mx + std::log(sum);
        double* o = out->data() + ((int64_t{i} * s.s_q + j) * s.h_q + h) * 512;
        for (size_t k = 0; k < keys.size(); ++k)
          for (int x = 0; x < 512; ++x) o[x] += std::exp(sc[k] - l) * keys[k][x];
        if (!c.sink.empty() && !keys.empty()) {
          const double f = 1.0 / (1.0 + std::exp(static_cast<double>(c.sink[h]) - l));
          for (int x = 0; x < 512; ++x) o[x] *= f;
        }
        (*lse)[(int64_t{i} * s.h_q + h) * s.s_q + j] = l;
      }
    }
}

}  // namespace flashmla::test::naive
