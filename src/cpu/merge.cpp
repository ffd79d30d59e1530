// CPU merge of partial attention results: for each (b, s_q, h_q) row, over its n parts,
//   lse = m + log(sum_i exp(lse_i - m)),  out = sum_i exp(lse_i - lse) * out_i   (m = max live lse_i)
// in float64, one rounding to the output dtype at the end. Empty parts (lse_i = +-inf) are skipped and
// their out_i never read; a NaN lse_i makes the whole row NaN; no live part: out 0, lse +inf.
#include "cpu/merge.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/numerics.h"
#include "cpu/attend.h"

namespace flashmla::cpu {
namespace {

constexpr int64_t kRowsPerItem = 64;  // rows per parallel_for item: amortizes the std::function call

double load(const void* base, DType t, int64_t off) {
  if (t == DType::kFP32) return static_cast<const float*>(base)[off];
  return numerics::half_to_float(static_cast<const uint16_t*>(base)[off], t);
}

void store(void* base, DType t, int64_t off, double v) {
  if (t == DType::kFP32)
    static_cast<float*>(base)[off] = static_cast<float>(v);
  else
    static_cast<uint16_t*>(base)[off] = numerics::double_to_half(v, t);
}

// One row; `acc` is scratch of dv doubles, `w` of n.
void merge_row(const MergeProblem& p, int64_t row, std::vector<double>& acc, std::vector<double>& w) {
  const MergeArgs& a = *p.args;
  const int64_t h = row % p.h_q, s = (row / p.h_q) % p.s_q, b = row / (int64_t{p.h_q} * p.s_q);
  const float* lses = static_cast<const float*>(a.lses.data);
  bool nan = false, any = false;
  double m = -std::numeric_limits<double>::infinity();
  for (int32_t i = 0; i < p.num_parts; ++i) {
    const double l = lses[i * a.lses.stride[0] + b * a.lses.stride[1] + h * a.lses.stride[2] + s * a.lses.stride[3]];
    w[i] = l;
    if (std::isnan(l)) nan = true;
    if (std::isfinite(l)) {
      any = true;
      m = l > m ? l : m;
    }
  }
  const int64_t out_off = b * a.out.stride[0] + s * a.out.stride[1] + h * a.out.stride[2];
  float* lse_dst = static_cast<float*>(a.lse.data) + b * a.lse.stride[0] + h * a.lse.stride[1] + s * a.lse.stride[2];
  if (nan || !any) {
    const double v = nan ? std::numeric_limits<double>::quiet_NaN() : 0.0;
    for (int32_t c = 0; c < p.head_dim; ++c) store(a.out.data, p.out_dtype, out_off + c, v);
    *lse_dst = nan ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    return;
  }
  double sum = 0.0;
  for (int32_t i = 0; i < p.num_parts; ++i)
    if (std::isfinite(w[i])) sum += std::exp(w[i] - m);
  const double lse = m + std::log(sum);
  for (int32_t c = 0; c < p.head_dim; ++c) acc[c] = 0.0;
  for (int32_t i = 0; i < p.num_parts; ++i) {
    if (!std::isfinite(w[i])) continue;  // empty part: skipped, its out_i is never read
    const double wi = std::exp(w[i] - lse);
    const int64_t off = i * a.outs.stride[0] + b * a.outs.stride[1] + s * a.outs.stride[2] + h * a.outs.stride[3];
    for (int32_t c = 0; c < p.head_dim; ++c) acc[c] += wi * load(a.outs.data, p.in_dtype, off + c);
  }
  for (int32_t c = 0; c < p.head_dim; ++c) store(a.out.data, p.out_dtype, out_off + c, acc[c]);
  *lse_dst = static_cast<float>(lse);
}

}  // namespace

Status run_merge(const MergeProblem& p) noexcept {
  const int64_t items = (p.rows + kRowsPerItem - 1) / kRowsPerItem;
  const bool ok = detail::parallel_for(items, [&](int64_t item) {
    std::vector<double> acc(p.head_dim), w(p.num_parts);
    const int64_t end = (item + 1) * kRowsPerItem < p.rows ? (item + 1) * kRowsPerItem : p.rows;
    for (int64_t row = item * kRowsPerItem; row < end; ++row) merge_row(p, row, acc, w);
  });
  if (!ok) return Status(StatusCode::kInternal, "merge_partial_attention (cpu): out of memory for scratch rows");
  return Status::Ok();
}

}  // namespace flashmla::cpu
