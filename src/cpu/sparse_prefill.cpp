// CPU reference of the sparse top-k prefill. Two passes per (token, head): scores of the valid
// positions (kept in a per-thread buffer), then max, log-sum-exp and the weighted sum of values, all in
// float64; results are rounded once (bf16 through round-to-odd, see common/numerics.h).
#include "cpu/sparse_prefill.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/numerics.h"
#include "cpu/attend.h"

namespace flashmla::cpu {
namespace {

struct Row {
  const uint16_t* q;   // q[i, h, :]
  const int32_t* idx;  // indices[i, 0, :]
  int64_t idx_stride;  // between positions
  int64_t length;      // valid positions are p < length
};

// One (token i, head h): fills out[0 .. d_v), *max_logit, *lse (no sink); out normalised.
void attend_row(const SparsePrefillProblem& pb, const Row& row, std::vector<double>& scores,
                std::vector<int64_t>& rows, double* out, double* max_logit, double* lse) {
  const SparsePrefillArgs& a = *pb.args;
  const uint16_t* kv = static_cast<const uint16_t*>(a.kv.data);
  const int64_t kv_row = a.kv.stride[0];
  const double scale = static_cast<double>(pb.sm_scale);
  scores.clear();
  rows.clear();
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t p = 0; p < row.length; ++p) {
    const int32_t idx = row.idx[p * row.idx_stride];
    if (!sparse_index_valid(idx, p, row.length, pb.s_kv)) continue;
    const uint16_t* k = kv + idx * kv_row;
    double dot = 0.0;
    for (int32_t c = 0; c < pb.d_qk; ++c)
      dot += static_cast<double>(numerics::bf16_to_float(row.q[c])) * numerics::bf16_to_float(k[c]);
    const double s = dot * scale;
    scores.push_back(s);
    rows.push_back(idx);
    m = std::max(m, s);
  }
  std::fill(out, out + pb.d_v, 0.0);
  if (scores.empty()) {
    *max_logit = -std::numeric_limits<double>::infinity();
    *lse = std::numeric_limits<double>::infinity();
    return;
  }
  double l = 0.0;
  for (size_t j = 0; j < scores.size(); ++j) {
    const double w = std::exp(scores[j] - m);
    l += w;
    const uint16_t* v = kv + rows[j] * kv_row;
    for (int32_t c = 0; c < pb.d_v; ++c) out[c] += w * numerics::bf16_to_float(v[c]);
  }
  for (int32_t c = 0; c < pb.d_v; ++c) out[c] /= l;
  *max_logit = m;
  *lse = m + std::log(l);
}

}  // namespace

Status run_sparse_prefill(const SparsePrefillProblem& pb) noexcept {
  const SparsePrefillArgs& a = *pb.args;
  const auto* q = static_cast<const uint16_t*>(a.q.data);
  const auto* ind = static_cast<const int32_t*>(a.indices.data);
  const auto* tl = static_cast<const int32_t*>(a.topk_length.data);
  const auto* sink = static_cast<const float*>(a.attn_sink.data);
  auto* out = static_cast<uint16_t*>(a.out.data);
  auto* ml = static_cast<float*>(a.max_logits.data);
  auto* lse = static_cast<float*>(a.lse.data);

  const int64_t items = pb.s_q * pb.h_q;
  const bool ok = detail::parallel_for(items, [&](int64_t item) {
    thread_local std::vector<double> scores, acc;
    thread_local std::vector<int64_t> rows;
    const int64_t i = item / pb.h_q;
    const int32_t h = static_cast<int32_t>(item % pb.h_q);
    int64_t length = pb.topk;
    if (pb.has_topk_length) length = std::clamp<int64_t>(tl[i * a.topk_length.stride[0]], 0, pb.topk);
    const Row row{q + i * a.q.stride[0] + h * a.q.stride[1], ind + i * a.indices.stride[0], a.indices.stride[2],
                  length};
    acc.resize(static_cast<size_t>(pb.d_v));
    double m = 0.0, l = 0.0;
    attend_row(pb, row, scores, rows, acc.data(), &m, &l);
    double factor = 1.0;
    if (pb.has_attn_sink && std::isfinite(l)) {
      const double s = sink[h * a.attn_sink.stride[0]];
      factor = 1.0 / (1.0 + std::exp(s - l));  // s = +inf: 0; s = -inf: 1
    }
    uint16_t* o = out + i * a.out.stride[0] + h * a.out.stride[1];
    for (int32_t c = 0; c < pb.d_v; ++c) o[c * a.out.stride[2]] = numerics::double_to_bf16(acc[c] * factor);
    ml[i * a.max_logits.stride[0] + h * a.max_logits.stride[1]] = static_cast<float>(m);
    lse[i * a.lse.stride[0] + h * a.lse.stride[1]] = static_cast<float>(l);
  });
  if (!ok) return Status(StatusCode::kInternal, "sparse_prefill (CPU): out of memory");
  return Status::Ok();
}

}  // namespace flashmla::cpu
