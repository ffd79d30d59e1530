// sparse_prefill(), can_implement(SparsePrefillArgs): validation into a SparsePrefillProblem, then the
// registry (CPU reference for host tensors, sm90 kernels for CUDA tensors).
//
// Checked here: presence, rank, device, dtype and shape of every tensor (q [s_q, h_q, d_qk] bf16,
// d_qk in {512, 576}, 1 <= h_q <= 128, s_q * h_q <= 2^31 - 1; kv [s_kv, 1, d_qk] bf16; indices
// [s_q, 1, topk] int32, topk >= 1; optional topk_length [s_q] int32 and attn_sink [h_q] fp32; out
// [s_q, h_q, 512] bf16, max_logits and lse [s_q, h_q] fp32); d_v = 512; sm_scale a normal float in
// (0, 1e4]; last dimensions of q, kv, out contiguous, other strides >= 0 (CUDA: q and kv row strides
// multiples of 8 elements for 16-byte loads); outputs not overlapping themselves, each other or any
// input; pointers non-null and aligned. Index values are only checked in debug mode (args.debug_checks:
// a host copy, synchronizing); otherwise out-of-range ones are masked.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "api/checks.h"
#include "api/guard.h"
#include "common/sparse_prefill_problem.h"
#include "flashmla/sparse_prefill.h"
#include "kernels/registry.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace flashmla {
namespace detail {
namespace {

using namespace checks;  // NOLINT: the primitives are this file's vocabulary

constexpr int64_t kMaxHeads = 128;

// rank, device (same as q), dtype, sizes.
Status check_tensor(const TensorView& v, const char* name, int32_t rank, const char* layout, DType dtype,
                    const TensorView& q) {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, rank, layout));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, q, "q"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, dtype));
  return check_sizes(v, name);
}

Status check_dims(const TensorView& v, const char* name, std::initializer_list<int64_t> want, const char* layout) {
  int i = 0;
  bool ok = true;
  std::string s = "[";
  for (int64_t w : want) {
    ok &= v.shape[i] == w;
    s += cat(i ? ", " : "", w);
    ++i;
  }
  if (ok) return Status::Ok();
  return invalid(cat(name, ".shape"), cat(s, "] (", layout, ")"), dims_string(v), ErrorKind::kShape);
}

Status validate(const SparsePrefillArgs& a, SparsePrefillProblem* pb) {
  const TensorView &q = a.q, &kv = a.kv, &ind = a.indices, &tl = a.topk_length, &sink = a.attn_sink;
  const TensorView &out = a.out, &ml = a.max_logits, &lse = a.lse;

  // ---- q ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(q, "q", 3, "[s_q, h_q, d_qk]"));
  FLASHMLA_RETURN_IF_ERROR(check_device_known(q, "q"));
  const bool cuda = q.is_cuda();
  FLASHMLA_RETURN_IF_ERROR(check_dtype(q, "q", DType::kBF16));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(q, "q"));
  const int64_t s_q = q.shape[0], h_q = q.shape[1], d_qk = q.shape[2];
  if (h_q < 1 || h_q > kMaxHeads)
    return invalid(dim_name("q", 1, "h_q"), cat("1..", kMaxHeads), cat(h_q), ErrorKind::kShape);
  if (static_cast<__int128>(s_q) * h_q > kMaxQueryRows)
    return invalid("q", cat("at most ", kMaxQueryRows, " query rows (s_q * h_q)"), cat("shape ", dims_string(q)),
                   ErrorKind::kShape);
  if (d_qk != 512 && d_qk != 576)
    return unsupported(dim_name("q", 2, "d_qk"), "512 or 576", cat(d_qk), ErrorKind::kShape);
  if (a.d_v != kHeadDimV) return unsupported("d_v", cat(kHeadDimV), cat(a.d_v), ErrorKind::kValue);

  // ---- kv, indices, optional inputs ----
  FLASHMLA_RETURN_IF_ERROR(check_tensor(kv, "kv", 3, "[s_kv, h_kv, d_qk]", DType::kBF16, q));
  const int64_t s_kv = kv.shape[0];
  if (kv.shape[1] != 1) return unsupported(dim_name("kv", 1, "h_kv"), "1", cat(kv.shape[1]), ErrorKind::kShape);
  if (kv.shape[2] != d_qk)
    return invalid(dim_name("kv", 2, "d_qk"), cat(d_qk, " (same as q)"), cat(kv.shape[2]), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_tensor(ind, "indices", 3, "[s_q, h_kv, topk]", DType::kInt32, q));
  if (ind.shape[0] != s_q)
    return invalid(dim_name("indices", 0, "s_q"), cat(s_q, " (s_q of q)"), cat(ind.shape[0]), ErrorKind::kShape);
  if (ind.shape[1] != 1)
    return invalid(dim_name("indices", 1, "h_kv"), "1 (h_kv of kv)", cat(ind.shape[1]), ErrorKind::kShape);
  const int64_t topk = ind.shape[2];
  if (topk < 1 || topk > std::numeric_limits<int32_t>::max())
    return invalid(dim_name("indices", 2, "topk"), "1..2^31 - 1", cat(topk), ErrorKind::kShape);
  if (tl.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_tensor(tl, "topk_length", 1, "[s_q]", DType::kInt32, q));
    FLASHMLA_RETURN_IF_ERROR(check_dims(tl, "topk_length", {s_q}, "[s_q]"));
  }
  if (sink.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_tensor(sink, "attn_sink", 1, "[h_q]", DType::kFP32, q));
    FLASHMLA_RETURN_IF_ERROR(check_dims(sink, "attn_sink", {h_q}, "[h_q]"));
  }

  // ---- outputs ----
  FLASHMLA_RETURN_IF_ERROR(check_tensor(out, "out", 3, "[s_q, h_q, d_v]", DType::kBF16, q));
  FLASHMLA_RETURN_IF_ERROR(check_dims(out, "out", {s_q, h_q, kHeadDimV}, "[s_q, h_q, d_v]"));
  FLASHMLA_RETURN_IF_ERROR(check_tensor(ml, "max_logits", 2, "[s_q, h_q]", DType::kFP32, q));
  FLASHMLA_RETURN_IF_ERROR(check_dims(ml, "max_logits", {s_q, h_q}, "[s_q, h_q]"));
  FLASHMLA_RETURN_IF_ERROR(check_tensor(lse, "lse", 2, "[s_q, h_q]", DType::kFP32, q));
  FLASHMLA_RETURN_IF_ERROR(check_dims(lse, "lse", {s_q, h_q}, "[s_q, h_q]"));

  // ---- strides and pointers ----
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(q, "q", 2, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(kv, "kv", 2, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(out, "out", 2, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(q, "q", cuda, "16-byte loads of q rows"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(kv, "kv", cuda, "16-byte gathers of kv rows"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(ind, "indices", false, ""));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(out, "out", false, ""));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(ml, "max_logits", false, ""));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(lse, "lse", false, ""));
  if (tl.defined()) FLASHMLA_RETURN_IF_ERROR(check_row_strides(tl, "topk_length", false, ""));
  if (sink.defined()) FLASHMLA_RETURN_IF_ERROR(check_row_strides(sink, "attn_sink", false, ""));
  // Strides of 1-element last dimensions are free; the CPU backend and the kernel address them anyway.
  if (ind.shape[2] > 1 && ind.stride[2] < 0)
    return invalid("indices.stride[2]", ">= 0", cat(ind.stride[2]), ErrorKind::kStride);
  if (tl.defined() && tl.stride[0] < 0)
    return invalid("topk_length.stride[0]", ">= 0", cat(tl.stride[0]), ErrorKind::kStride);
  if (sink.defined() && sink.stride[0] < 0)
    return invalid("attn_sink.stride[0]", ">= 0", cat(sink.stride[0]), ErrorKind::kStride);
  if (cuda && out.shape[1] > 1 && out.stride[1] % 2 != 0)
    return invalid("out.stride[1]", "an even number of elements (4-byte stores)", cat(out.stride[1]),
                   ErrorKind::kStride);
  if (cuda && out.shape[0] > 1 && out.stride[0] % 2 != 0)
    return invalid("out.stride[0]", "an even number of elements (4-byte stores)", cat(out.stride[0]),
                   ErrorKind::kStride);
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(out, "out"));
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(ml, "max_logits"));
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(lse, "lse"));
  const int64_t align16 = cuda ? kBaseAlignBytes : 0;
  FLASHMLA_RETURN_IF_ERROR(check_pointer(q, "q", align16, "16-byte loads"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(kv, "kv", align16, "16-byte gathers"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(ind, "indices"));
  if (tl.defined()) FLASHMLA_RETURN_IF_ERROR(check_pointer(tl, "topk_length"));
  if (sink.defined()) FLASHMLA_RETURN_IF_ERROR(check_pointer(sink, "attn_sink"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(out, "out", cuda ? 4 : 0, "4-byte stores"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(ml, "max_logits"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(lse, "lse"));

  // ---- sm_scale: required (no default, as upstream) ----
  if (!(a.sm_scale >= std::numeric_limits<float>::min() && a.sm_scale <= kMaxSoftmaxScale))
    return invalid("sm_scale", cat("a normal float in (0, ", kMaxSoftmaxScale, "]"), cat(a.sm_scale),
                   ErrorKind::kValue);

  // ---- aliasing: outputs vs inputs and each other ----
  {
    const ByteRange inputs[] = {range_of(q, "q"), range_of(kv, "kv"), range_of(ind, "indices"),
                                range_of(tl, "topk_length"), range_of(sink, "attn_sink")};
    const ByteRange r_out = range_of(out, "out"), r_ml = range_of(ml, "max_logits"), r_lse = range_of(lse, "lse");
    for (const ByteRange& r : inputs) {
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_out, r));
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ml, r));
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r));
    }
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ml, r_out));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r_out));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r_ml));
  }

  pb->args = &a;
  pb->s_q = s_q;
  pb->s_kv = s_kv;
  pb->h_q = static_cast<int32_t>(h_q);
  pb->d_qk = static_cast<int32_t>(d_qk);
  pb->d_v = a.d_v;
  pb->topk = static_cast<int32_t>(topk);
  pb->has_topk_length = tl.defined();
  pb->has_attn_sink = sink.defined();
  pb->sm_scale = a.sm_scale;
  return Status::Ok();
}

// ---- debug mode: index values -------------------------------------------------------------------------


// The first topk_length outside [0, topk], else the first index at a counted position that is neither
// -1 (the filler) nor a row of kv.
Status debug_checks(const SparsePrefillProblem& p) {
  const SparsePrefillArgs& a = *p.args;
  std::vector<int32_t> ibuf, tbuf;
  const int32_t *iv = nullptr, *tv = nullptr;
  FLASHMLA_RETURN_IF_ERROR(host_ints(a.indices, "indices", a.stream, &ibuf, &iv));
  if (p.has_topk_length) FLASHMLA_RETURN_IF_ERROR(host_ints(a.topk_length, "topk_length", a.stream, &tbuf, &tv));
  const int64_t si = a.indices.stride[0], sk = a.indices.stride[2];
  for (int64_t i = 0; i < p.s_q; ++i) {
    int64_t n = p.topk;
    if (tv) {
      n = tv[i * a.topk_length.stride[0]];
      if (n < 0 || n > p.topk)
        return invalid(cat("topk_length[", i, "]"), cat("a length in [0, ", p.topk, "] (debug_checks)"), cat(n),
                       ErrorKind::kValue);
    }
    for (int64_t t = 0; t < n; ++t) {
      const int32_t idx = iv[i * si + t * sk];
      if (idx != -1 && (idx < 0 || idx >= p.s_kv))
        return invalid(cat("indices[", i, "][0][", t, "]"),
                       cat("-1 or a row in [0, ", p.s_kv, ") (kv: ", p.s_kv, " rows; debug_checks)"), cat(idx),
                       ErrorKind::kValue);
    }
  }
  return Status::Ok();
}

Status prepare(const SparsePrefillArgs& a, SparsePrefillProblem* pb,
               const registry::Variant<SparsePrefillProblem>** v) {
  FLASHMLA_RETURN_IF_ERROR(validate(a, pb));
  registry::VariantKey key;
  key.op = registry::Op::kSparsePrefill;
  key.backend = a.q.is_cuda() ? registry::Backend::kSm90 : registry::Backend::kCpu;
  key.q_dtype = DType::kBF16;
  key.kv_format = KvFormat::kDenseBF16;
  uint32_t features = registry::kFeatureNone;
  if (pb->has_attn_sink) features |= registry::kFeatureAttnSink;
  if (pb->has_topk_length) features |= registry::kFeatureTopkLength;
  return registry::select(registry::sparse_prefill_variants(), key, features, *pb, v);
}

}  // namespace
}  // namespace detail

Status can_implement(const SparsePrefillArgs& args) noexcept {
  return detail::guarded("can_implement(SparsePrefillArgs)", [&]() -> Status {
    SparsePrefillProblem pb;
    const registry::Variant<SparsePrefillProblem>* v = nullptr;
    return detail::prepare(args, &pb, &v);
  });
}

Status sparse_prefill(const SparsePrefillArgs& args) noexcept {
  return detail::guarded("sparse_prefill", [&]() -> Status {
    SparsePrefillProblem pb;
    const registry::Variant<SparsePrefillProblem>* v = nullptr;
    FLASHMLA_RETURN_IF_ERROR(detail::prepare(args, &pb, &v));
    if (pb.s_q == 0) return Status::Ok();  // nothing to compute or write
    if (args.debug_checks) FLASHMLA_RETURN_IF_ERROR(detail::debug_checks(pb));
    return v->run(pb);
  });
}

}  // namespace flashmla
