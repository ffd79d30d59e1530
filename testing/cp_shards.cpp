#include "cp_shards.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "common/numerics.h"

namespace flashmla::test {

std::string ShardPlan::name() const {
  return std::string(layout == ShardLayout::kContiguous ? "contig" : "inter") + std::to_string(ranks) + "_g" +
         std::to_string(granularity);
}

std::vector<int64_t> rank_tokens(int32_t L, int32_t rank, const ShardPlan& p) {
  std::vector<int64_t> t;
  const int64_t g = p.granularity, n = p.ranks;
  if (p.layout == ShardLayout::kContiguous) {
    auto start = [&](int64_t r) { return r >= n ? int64_t{L} : (r * L / n) / g * g; };
    for (int64_t x = start(rank); x < start(rank + 1); ++x) t.push_back(x);
  } else {
    for (int64_t x = 0; x < L; ++x)
      if ((x / g) % n == rank) t.push_back(x);
  }
  return t;
}

std::vector<HostCase> shard_case(const HostCase& full, const ShardPlan& plan) {
  const CaseSpec& fs = full.spec;
  if (fs.causal && fs.s_q > 1)
    throw std::invalid_argument("shard_case(" + fs.name + "): the end-aligned causal mask with s_q > 1 does not "
                                "decompose over shards (see cp_shards.h)");
  const int64_t row = int64_t{fs.h_kv} * kD;  // elements per cache token row
  const bool reuse = plan.granularity % kPage == 0;
  std::vector<HostCase> shards(plan.ranks);
  for (int32_t r = 0; r < plan.ranks; ++r) {
    HostCase& c = shards[r];
    c.spec = fs;
    c.spec.name = fs.name + "_" + plan.name() + "_r" + std::to_string(r);
    c.softmax_scale = full.softmax_scale;
    c.q = full.q;
    std::vector<std::vector<int64_t>> toks(fs.batch);
    int32_t max_pages = 0, total_pages = 0;
    for (int32_t i = 0; i < fs.batch; ++i) {
      toks[i] = rank_tokens(full.seqlens[i], r, plan);
      c.spec.seqlens[i] = static_cast<int32_t>(toks[i].size());
      const int32_t pages = static_cast<int32_t>((toks[i].size() + kPage - 1) / kPage);
      max_pages = std::max(max_pages, pages);
      total_pages += pages;
    }
    c.seqlens = c.spec.seqlens;
    c.dims = full.dims;
    c.dims.max_blocks = max_pages + 2;
    c.block_table.assign(static_cast<size_t>(fs.batch) * c.dims.max_blocks, 0);
    if (reuse) {
      c.k_cache = full.k_cache;  // the global pages; the table selects this rank's
    } else {
      c.dims.num_blocks = total_pages + kSparePages;
      c.k_cache.assign(static_cast<size_t>(c.dims.num_blocks) * kPage * row, numerics::quiet_nan_bits(fs.dtype));
    }
    int32_t next_page = kSparePages;  // repacked pages start after the spare (all-NaN) ones
    for (int32_t i = 0; i < fs.batch; ++i) {
      int32_t* bt = c.block_table.data() + static_cast<int64_t>(i) * c.dims.max_blocks;
      const int32_t* gbt = full.block_table.data() + static_cast<int64_t>(i) * full.dims.max_blocks;
      const int32_t pages = static_cast<int32_t>((toks[i].size() + kPage - 1) / kPage);
      for (int32_t p = 0; p < pages; ++p) {
        if (reuse) {
          bt[p] = gbt[toks[i][static_cast<size_t>(p) * kPage] / kPage];
        } else {
          bt[p] = next_page++;
          for (int32_t k = 0; k < kPage && static_cast<size_t>(p) * kPage + k < toks[i].size(); ++k) {
            const int64_t t = toks[i][static_cast<size_t>(p) * kPage + k];
            const uint16_t* src = full.k_cache.data() + (static_cast<int64_t>(gbt[t / kPage]) * kPage + t % kPage) * row;
            std::copy(src, src + row, c.k_cache.data() + (static_cast<int64_t>(bt[p]) * kPage + k) * row);
          }
        }
      }
      const int32_t garbage[] = {0x7fffffff, -1, c.dims.num_blocks + 12345, INT32_MIN, c.dims.num_blocks};
      for (int32_t p = pages; p < c.dims.max_blocks; ++p) bt[p] = garbage[p % 5];
    }
    c.out.assign(full.out.size(), numerics::quiet_nan_bits(fs.dtype));
    c.lse.assign(full.lse.size(), std::numeric_limits<float>::quiet_NaN());
  }
  return shards;
}

std::string check_merged(const HostCase& full, const std::vector<uint16_t>& merged_out,
                         const std::vector<float>& merged_lse, const std::vector<uint16_t>& parts_out,
                         const std::vector<float>& parts_lse, int32_t n, const MergedTolerance& tol) {
  const CaseDims& d = full.dims;
  const DType dt = full.spec.dtype;
  const std::vector<int64_t> oshape{d.batch, d.s_q, d.h_q, kDV}, lshape{d.batch, d.h_q, d.s_q};
  std::string msg;
  const CompareResult cl = compare_lse(merged_lse.data(), full.lse.data(), full.lse.size(), lshape);
  if (!cl.ok) msg += "lse: " + cl.message + "; ";

  const int64_t out_n = d.out_numel(), lse_n = d.lse_numel();
  int64_t bad = 0, first = -1, worst = -1;
  double worst_ratio = 0.0, worst_err = 0.0, worst_bound = 0.0;
  for (int64_t e = 0; e < out_n; ++e) {
    const int64_t rowi = e / kDV;  // (b * s_q + s) * h_q + h
    const int64_t h = rowi % d.h_q, s = (rowi / d.h_q) % d.s_q, b = rowi / (int64_t{d.h_q} * d.s_q);
    const int64_t li = (b * d.h_q + h) * d.s_q + s;
    const double ref = numerics::half_to_float(full.out[e], dt), got = numerics::half_to_float(merged_out[e], dt);
    const double lse = full.lse[li];
    double mag = 0.0;
    for (int32_t i = 0; i < n; ++i) {
      const double l = parts_lse[i * lse_n + li];
      if (std::isfinite(l) && std::isfinite(lse)) mag += std::exp(l - lse) * std::fabs(numerics::half_to_float(parts_out[i * out_n + e], dt));
    }
    const double bound = tol.atol + tol.partial_rtol * mag + std::ldexp(std::fabs(ref), -7);
    const double err = std::fabs(got - ref);
    const bool ok = std::isfinite(ref) ? (std::isfinite(got) && err <= bound) : (std::isnan(ref) ? std::isnan(got) : got == ref);
    if (!ok) {
      ++bad;
      if (first < 0) first = e;
    }
    const double ratio = std::isfinite(err) ? err / bound : INFINITY;
    if (ratio > worst_ratio || worst < 0) {
      worst_ratio = ratio, worst = e, worst_err = err, worst_bound = bound;
    }
  }
  if (bad > 0) {
    msg += "out: " + std::to_string(bad) + " of " + std::to_string(out_n) + " elements outside the merged bound; first " +
           format_index(first, oshape) + " got " + std::to_string(numerics::half_to_float(merged_out[first], dt)) +
           " want " + std::to_string(numerics::half_to_float(full.out[first], dt)) + "; worst " +
           format_index(worst, oshape) + " |err| " + std::to_string(worst_err) + " vs bound " + std::to_string(worst_bound);
  }
  return msg;
}

std::vector<CaseSpec> cp_decode_cases() {
  const DType bf = DType::kBF16, hf = DType::kFP16;
  return {
      list_case({0, 1, 63, 64, 65, 200}, 1, 16, 1, false, bf),      // short and empty requests
      list_case({300, 1000, 129}, 1, 5, 1, true, hf),                 // s_q = 1: causal is a no-op
      list_case({513, 64, 127}, 2, 3, 1, false, bf),                  // s_q = 2, non-causal
      list_case({450, 777}, 1, 8, 2, false, bf),                      // h_kv = 2
  };
}

std::vector<ShardPlan> cp_plans() {
  return {
      {2, ShardLayout::kContiguous, kPage},  {4, ShardLayout::kContiguous, kPage}, {3, ShardLayout::kContiguous, 1},
      {2, ShardLayout::kInterleaved, kPage}, {4, ShardLayout::kInterleaved, kPage}, {4, ShardLayout::kInterleaved, 1},
      {3, ShardLayout::kInterleaved, 16},    {8, ShardLayout::kInterleaved, kPage},
  };
}

std::vector<CpCase> cp_cases() {
  std::vector<CpCase> v;
  for (const CaseSpec& s : cp_decode_cases())
    for (const ShardPlan& p : cp_plans()) v.push_back({s, p, s.name + "_" + p.name()});
  return v;
}

}  // namespace flashmla::test
