// Sparse top-k prefill op of the torch op library (flash_mla_sparse_fwd):
//
//   flash_mla::sparse_prefill(Tensor q, Tensor kv, Tensor indices, float sm_scale, int d_v,
//                             Tensor? attn_sink, Tensor? topk_length)
//       -> (Tensor out [s_q, h_q, d_v] bf16, Tensor max_logits [s_q, h_q] f32, Tensor lse [s_q, h_q] f32)
//
// The fake (meta) implementation lives in python/flash_mla/sparse_prefill.py.
//
// Built on PyTorch's stable C ABI; shared helpers in binding.h.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>

#include "binding.h"

namespace {

using namespace flashmla_py;  // NOLINT

constexpr const char* kOp = "flash_mla.sparse_prefill";

std::tuple<Tensor, Tensor, Tensor> sparse_prefill(const Tensor& q, const Tensor& kv,
                                                               const Tensor& indices, double sm_scale,
                                                               int64_t d_v, const OptTensor& attn_sink,
                                                               const OptTensor& topk_length) {
  const char* op = kOp;
  flashmla::SparsePrefillArgs args;
  args.q = to_view(q, op, "q", "bfloat16");
  args.kv = to_view(kv, op, "kv", "bfloat16");
  args.indices = to_view(indices, op, "indices", "int32");
  args.attn_sink = to_view_opt(attn_sink, op, "attn_sink", "float32");
  args.topk_length = to_view_opt(topk_length, op, "topk_length", "int32");
  FLASHMLA_CHECK_VALUE(dim(q) == 3, op, ": q: expected rank 3 [s_q, h_q, d_qk], got rank ", dim(q), " ", sizes(q));
  const Dev dev = device(q);
  check_same_device(kv, dev, op, "kv", "q");
  check_same_device(indices, dev, op, "indices", "q");
  if (defined(attn_sink)) check_same_device(*attn_sink, dev, op, "attn_sink", "q");
  if (defined(topk_length)) check_same_device(*topk_length, dev, op, "topk_length", "q");
  args.d_v = to_int32(d_v, op, "d_v");
  // Outputs are sized from q before the library checks everything: reject what cannot be a valid call
  // first, so that a bad d_v or an absurd q is an error rather than a huge allocation.
  FLASHMLA_CHECK_VALUE(d_v == flashmla::kHeadDimV, op, ": d_v: expected ", flashmla::kHeadDimV, ", got ", d_v);
  FLASHMLA_CHECK_VALUE(size(q, 1) >= 1 && size(q, 1) <= 128, op, ": q.shape[1] (h_q): expected 1..128, got ", size(q, 1));
  // sm_scale: float64 -> float32 without silently turning a tiny value into 0 (the library rejects 0,
  // NaN, negative, inf and > 1e4 with its own message).
  const bool huge = std::fabs(sm_scale) > std::numeric_limits<float>::max();
  const float f = std::isnan(sm_scale) ? NAN
                  : huge              ? static_cast<float>(sm_scale > 0 ? INFINITY : -INFINITY)
                                      : static_cast<float>(sm_scale);
  FLASHMLA_CHECK_VALUE(std::isnan(f) || huge || sm_scale == 0.0 || std::fabs(f) >= std::numeric_limits<float>::min(), op,
                    ": sm_scale: expected a normal float32 in (0, 1e4], got ", sm_scale,
                    " (rounds to a float32 zero or subnormal)");
  args.sm_scale = f;

  DeviceContext ctx(dev);
  Tensor out = new_empty({size(q, 0), size(q, 1), d_v}, dt::kBF16, dev);
  Tensor max_logits = new_empty({size(q, 0), size(q, 1)}, dt::kFP32, dev);
  Tensor lse = new_empty({size(q, 0), size(q, 1)}, dt::kFP32, dev);
  args.out = output_view(out);
  args.max_logits = output_view(max_logits);
  args.lse = output_view(lse);
  args.stream = ctx.stream;
  args.debug_checks = debug_mode();  // FLASH_MLA_DEBUG=1: out-of-range indices / lengths are errors
  check(flashmla::sparse_prefill(args), op);
  return {std::move(out), std::move(max_logits), std::move(lse)};
}

}  // namespace

STABLE_TORCH_LIBRARY_FRAGMENT(flash_mla, m) {
  m.def("sparse_prefill(Tensor q, Tensor kv, Tensor indices, float sm_scale, int d_v, Tensor? attn_sink, "
        "Tensor? topk_length) -> (Tensor, Tensor, Tensor)");
}

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CPU, m) { m.impl("sparse_prefill", TORCH_BOX(&sparse_prefill)); }

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CUDA, m) { m.impl("sparse_prefill", TORCH_BOX(&sparse_prefill)); }
