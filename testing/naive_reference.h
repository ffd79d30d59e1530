// An independent, deliberately simple reference of docs/spec.md §1, used only to check the CPU backend.
// Single-threaded, float64, two passes per row (max, then sums) over a "logical" unpaged
// K[b][t][h_kv][576] that is first gathered from the case by following the block table for t < L only.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cases.h"
#include "common/numerics.h"

namespace flashmla::test {

struct NaiveResult {
  std::vector<double> out;  // [b, s_q, h_q, 512]
  std::vector<double> lse;  // [b, h_q, s_q]; +inf for rows that see no key
};

inline NaiveResult naive_decode(const HostCase& c) {
  const int32_t b = c.dims.batch, s_q = c.dims.s_q, h_q = c.dims.h_q, h_kv = c.dims.h_kv;
  const int32_t group = h_q / h_kv;
  const double scale = static_cast<double>(c.softmax_scale);  // the resolved float scale, as the API passes it
  const DType dt = c.spec.dtype;
  NaiveResult r;
  r.out.assign(static_cast<size_t>(b) * s_q * h_q * kDV, 0.0);
  r.lse.assign(static_cast<size_t>(b) * h_q * s_q, std::numeric_limits<double>::infinity());
  for (int32_t i = 0; i < b; ++i) {
    const int32_t L = c.seqlens[i];
    // Gather the logical keys of request i.
    std::vector<double> K(static_cast<size_t>(L > 0 ? L : 0) * h_kv * kD);
    for (int32_t t = 0; t < L; ++t) {
      const int32_t page = c.block_table[static_cast<size_t>(i) * c.dims.max_blocks + t / kPage];
      for (int32_t g = 0; g < h_kv; ++g) {
        for (int32_t d = 0; d < kD; ++d) {
          const size_t src = ((static_cast<size_t>(page) * kPage + t % kPage) * h_kv + g) * kD + d;
          K[(static_cast<size_t>(t) * h_kv + g) * kD + d] = numerics::half_to_float(c.k_cache[src], dt);
        }
      }
    }
    for (int32_t j = 0; j < s_q; ++j) {
      const int32_t visible = c.spec.causal ? L - (s_q - 1 - j) : L;
      for (int32_t h = 0; h < h_q; ++h) {
        const int32_t g = h / group;
        if (visible <= 0) continue;  // out 0, lse +inf
        const size_t qoff = ((static_cast<size_t>(i) * s_q + j) * h_q + h) * kD;
        std::vector<double> s(visible);
        for (int32_t t = 0; t < visible; ++t) {
          double dot = 0.0;
          for (int32_t d = 0; d < kD; ++d) {
            dot += numerics::half_to_float(c.q[qoff + d], dt) * K[(static_cast<size_t>(t) * h_kv + g) * kD + d];
          }
          s[t] = dot * scale;
        }
        double m = -std::numeric_limits<double>::infinity();
        for (double v : s) m = v > m ? v : m;
        double sum = 0.0;
        for (double v : s) sum += std::exp(v - m);
        double* o = &r.out[((static_cast<size_t>(i) * s_q + j) * h_q + h) * kDV];
        for (int32_t t = 0; t < visible; ++t) {
          const double p = std::exp(s[t] - m) / sum;
          for (int32_t d = 0; d < kDV; ++d) o[d] += p * K[(static_cast<size_t>(t) * h_kv + g) * kD + d];
        }
        r.lse[(static_cast<size_t>(i) * h_q + h) * s_q + j] = m + std::log(sum);
      }
    }
  }
  return r;
}

}  // namespace flashmla::test
