// merge_partial_attention() and its can_implement(): validation into a MergeProblem, then dispatch
// through the registry (key: op kMerge, backend from the tensors' device, q_dtype = outs.dtype; the KV
// format is a don't-care for this op and always kDenseBF16). Nothing is written when validation fails.
#include <cstdint>
#include <string>

#include "api/checks.h"
#include "api/guard.h"
#include "common/merge_problem.h"
#include "flashmla/merge.h"
#include "kernels/registry.h"

namespace flashmla {
namespace {

using checks::cat;
using checks::invalid;

// Strides of every dimension >= 0 (lses and lse have no contiguity requirement at all).
Status check_nonnegative_strides(const TensorView& v, const char* name) {
  for (int i = 0; i < v.rank; ++i)
    if (v.shape[i] > 1 && v.stride[i] < 0)
      return invalid(cat(name, ".stride[", i, "]"), ">= 0", cat(v.stride[i]), ErrorKind::kStride);
  return Status::Ok();
}

// One size of `v` against the value it must have; `what` names the dimension ("n", "b", ...).
Status check_dim(const TensorView& v, const char* name, int dim, int64_t want, const char* what) {
  if (v.shape[dim] == want) return Status::Ok();
  return invalid(checks::dim_name(name, dim, what), cat(want, " (", what, " of outs)"), cat(v.shape[dim]),
                 ErrorKind::kShape);
}

Status validate(const MergeArgs& a, MergeProblem* p) {
  // ---- ranks, dtypes, devices ----
  FLASHMLA_RETURN_IF_ERROR(checks::check_rank(a.outs, "outs", 5, "[n, b, s_q, h_q, dv]"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_rank(a.lses, "lses", 4, "[n, b, h_q, s_q]"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_rank(a.out, "out", 4, "[b, s_q, h_q, dv]"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_rank(a.lse, "lse", 3, "[b, h_q, s_q]"));
  const DType dt = a.outs.dtype;
  if (dt != DType::kBF16 && dt != DType::kFP16 && dt != DType::kFP32)
    return invalid("outs.dtype", "bfloat16, float16 or float32", checks::dtype_string(dt), ErrorKind::kType);
  FLASHMLA_RETURN_IF_ERROR(checks::check_dtype(a.lses, "lses", DType::kFP32));
  if (a.out.dtype != dt && a.out.dtype != DType::kFP32)
    return invalid("out.dtype", cat(dtype_name(dt), " (outs.dtype) or float32"), checks::dtype_string(a.out.dtype),
                   ErrorKind::kType);
  FLASHMLA_RETURN_IF_ERROR(checks::check_dtype(a.lse, "lse", DType::kFP32));
  FLASHMLA_RETURN_IF_ERROR(checks::check_device_known(a.outs, "outs"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_same_device(a.lses, "lses", a.outs, "outs"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_same_device(a.out, "out", a.outs, "outs"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_same_device(a.lse, "lse", a.outs, "outs"));

  // ---- sizes ----
  int64_t lo[4], hi[4];
  FLASHMLA_RETURN_IF_ERROR(checks::check_sizes(a.outs, "outs", &lo[0], &hi[0]));
  FLASHMLA_RETURN_IF_ERROR(checks::check_sizes(a.lses, "lses", &lo[1], &hi[1]));
  FLASHMLA_RETURN_IF_ERROR(checks::check_sizes(a.out, "out", &lo[2], &hi[2]));
  FLASHMLA_RETURN_IF_ERROR(checks::check_sizes(a.lse, "lse", &lo[3], &hi[3]));
  const int64_t n = a.outs.shape[0], b = a.outs.shape[1], s_q = a.outs.shape[2], h_q = a.outs.shape[3],
                dv = a.outs.shape[4];
  if (n < 1 || n > kMergeMaxParts)
    return invalid("outs.shape[0] (n, parts)", cat("1 to ", kMergeMaxParts), cat(n), ErrorKind::kShape);
  if (dv < 1 || dv > kMergeMaxHeadDim)
    return invalid("outs.shape[4] (dv)", cat("1 to ", kMergeMaxHeadDim), cat(dv), ErrorKind::kShape);
  if (b > checks::kMaxBatch)
    return invalid("outs.shape[1] (b)", cat("at most ", checks::kMaxBatch), cat(b), ErrorKind::kShape);
  int64_t rows = 0;
  if (__builtin_mul_overflow(b, s_q, &rows) || __builtin_mul_overflow(rows, h_q, &rows) ||
      rows > checks::kMaxQueryRows)
    return invalid("outs", cat("b * s_q * h_q at most ", checks::kMaxQueryRows), checks::dims_string(a.outs),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lses, "lses", 0, n, "n"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lses, "lses", 1, b, "b"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lses, "lses", 2, h_q, "h_q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lses, "lses", 3, s_q, "s_q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.out, "out", 0, b, "b"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.out, "out", 1, s_q, "s_q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.out, "out", 2, h_q, "h_q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.out, "out", 3, dv, "dv"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lse, "lse", 0, b, "b"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lse, "lse", 1, h_q, "h_q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(a.lse, "lse", 2, s_q, "s_q"));

  // ---- strides and pointers ----
  FLASHMLA_RETURN_IF_ERROR(checks::check_unit_stride(a.outs, "outs", 4, "dv must be contiguous"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_unit_stride(a.out, "out", 3, "dv must be contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_nonnegative_strides(a.outs, "outs"));
  FLASHMLA_RETURN_IF_ERROR(check_nonnegative_strides(a.lses, "lses"));
  FLASHMLA_RETURN_IF_ERROR(check_nonnegative_strides(a.out, "out"));
  FLASHMLA_RETURN_IF_ERROR(check_nonnegative_strides(a.lse, "lse"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_pointer(a.outs, "outs"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_pointer(a.lses, "lses"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_pointer(a.out, "out"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_pointer(a.lse, "lse"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_no_self_overlap(a.out, "out"));
  FLASHMLA_RETURN_IF_ERROR(checks::check_no_self_overlap(a.lse, "lse"));

  // ---- aliasing: the outputs are written while the inputs are read (no in-place merge) ----
  const checks::ByteRange r_outs = checks::range_of(a.outs, "outs"), r_lses = checks::range_of(a.lses, "lses"),
                          r_out = checks::range_of(a.out, "out"), r_lse = checks::range_of(a.lse, "lse");
  FLASHMLA_RETURN_IF_ERROR(checks::check_disjoint(r_out, r_outs));
  FLASHMLA_RETURN_IF_ERROR(checks::check_disjoint(r_out, r_lses));
  FLASHMLA_RETURN_IF_ERROR(checks::check_disjoint(r_out, r_lse));
  FLASHMLA_RETURN_IF_ERROR(checks::check_disjoint(r_lse, r_outs));
  FLASHMLA_RETURN_IF_ERROR(checks::check_disjoint(r_lse, r_lses));

  p->args = &a;
  p->num_parts = static_cast<int32_t>(n);
  p->batch = static_cast<int32_t>(b);
  p->s_q = static_cast<int32_t>(s_q);
  p->h_q = static_cast<int32_t>(h_q);
  p->head_dim = static_cast<int32_t>(dv);
  p->rows = rows;
  p->in_dtype = dt;
  p->out_dtype = a.out.dtype;
  return Status::Ok();
}

// Validation + variant selection, shared by can_implement() and merge_partial_attention().
Status select(const MergeArgs& a, MergeProblem* p, const registry::Variant<MergeProblem>** v) {
  FLASHMLA_RETURN_IF_ERROR(validate(a, p));
  registry::VariantKey key;
  key.op = registry::Op::kMerge;
  key.backend = a.outs.is_cuda() ? registry::Backend::kSm90 : registry::Backend::kCpu;
  key.q_dtype = p->in_dtype;
  key.kv_format = KvFormat::kDenseBF16;  // don't-care: merge reads no KV cache
  return registry::select(registry::merge_variants(), key, registry::kFeatureNone, *p, v);
}

}  // namespace

Status can_implement(const MergeArgs& args) noexcept {
  return detail::guarded("can_implement(MergeArgs)", [&] {
    MergeProblem p;
    const registry::Variant<MergeProblem>* v = nullptr;
    return select(args, &p, &v);
  });
}

Status merge_partial_attention(const MergeArgs& args) noexcept {
  return detail::guarded("merge_partial_attention", [&] {
    MergeProblem p;
    const registry::Variant<MergeProblem>* v = nullptr;
    FLASHMLA_RETURN_IF_ERROR(select(args, &p, &v));
    if (p.rows == 0) return Status::Ok();  // nothing to write (the dv >= 1 check keeps rows the only empty axis)
    return v->run(p);
  });
}

}  // namespace flashmla
