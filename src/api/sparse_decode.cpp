// sparse_decode(), can_implement(SparseDecodeArgs), sparse_decode_workspace_size(): validation into a
// SparseDecodeProblem, then the registry (CPU reference for host tensors, sm90 kernels for CUDA ones).
//
// Checked here: presence, rank, device, dtype and shape of every tensor (q [b, s_q, h_q, d_qk] bf16 with
// d_qk 576 -> V32 or 512 -> MODEL1, h_q >= 1, b * s_q * h_q <= 2^31 - 1; k_cache [num_blocks, page, 1,
// bytes_per_token] of a 1-byte dtype, page >= 1; indices int32 [b, s_q, topk], topk >= 1; optional
// topk_length [b], attn_sink [h_q]; the extra pool likewise, extra_indices iff extra_k_cache,
// extra_topk_length only with it; out [b, s_q, h_q, 512] bf16, lse [b, h_q, s_q] fp32); strides (q, out
// last dim contiguous; cache rows contiguous with row stride bytes_per_token and page stride >= page *
// bytes_per_token; CUDA: 16-byte aligned q rows, 8-byte aligned cache base and page stride, even out
// strides); outputs not overlapping themselves, each other or any input, the workspace not overlapping
// anything; softmax_scale; num_splits >= 0 (a forced split's grid and combine fit); the workspace (size,
// 16-byte alignment) when the sm90 plan splits (split_plan.h). Index values are only checked in debug
// mode: out-of-range ones are masked like -1.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "api/checks.h"
#include "api/guard.h"
#include "common/kv_format.h"
#include "common/sparse_decode_problem.h"
#include "flashmla/sparse_decode.h"
#include "kernels/registry.h"
#include "kernels/sm90/sparse_decode/split_plan.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace flashmla {
namespace detail {
namespace {

using namespace checks;  // NOLINT: the primitives are this file's vocabulary

constexpr int64_t kCacheAlignBytes = 8;  // CUDA: cache base and page stride (the kernel's smallest cp.async)

// rank, device (same as q), dtype, sizes.
Status check_view(const TensorView& v, const char* name, int32_t rank, const char* layout, DType dtype,
                  const TensorView& q) {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, rank, layout));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, q, "q"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, dtype));
  return check_sizes(v, name);
}

Status check_dim(const TensorView& v, const char* name, int dim, const char* what, int64_t want, const char* why) {
  if (v.shape[dim] == want) return Status::Ok();
  return invalid(dim_name(name, dim, what), cat(want, " (", why, ")"), cat(v.shape[dim]), ErrorKind::kShape);
}

Status check_nonneg_strides(const TensorView& v, const char* name) {
  for (int i = 0; i < v.rank; ++i)
    if (v.shape[i] > 1 && v.stride[i] < 0)
      return invalid(cat(name, ".stride[", i, "]"), ">= 0", cat(v.stride[i]), ErrorKind::kStride);
  return Status::Ok();
}

// One KV pool: cache [num_blocks, page, 1, bpt], indices [b, s_q, topk], optional topk_length [b].
Status check_pool(const TensorView& cache, const char* cname, const TensorView& ind, const char* iname,
                  const TensorView& tl, const char* tname, const TensorView& q, int32_t bpt, const char* fmt,
                  SparseKvPool* pool) {
  const bool cuda = q.is_cuda();
  FLASHMLA_RETURN_IF_ERROR(check_rank(cache, cname, 4, "[num_blocks, page_block_size, 1, bytes_per_token]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(cache, cname, q, "q"));
  if (cache.dtype != DType::kUInt8 && cache.dtype != DType::kInt8 && cache.dtype != DType::kFP8E4M3)
    return invalid(cat(cname, ".dtype"), "uint8, int8 or float8_e4m3fn (a byte view of the cache)",
                   dtype_string(cache.dtype), ErrorKind::kType);
  FLASHMLA_RETURN_IF_ERROR(check_sizes(cache, cname));
  const int64_t nb = cache.shape[0], page = cache.shape[1];
  if (page < 1 || page > std::numeric_limits<int32_t>::max())
    return invalid(dim_name(cname, 1, "page_block_size"), ">= 1", cat(page), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_dim(cache, cname, 2, "h_kv", 1, "one latent KV head"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(cache, cname, 3, "bytes_per_token", bpt, fmt));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(cache, cname, 3, "token bytes contiguous"));
  if (page > 1 && cache.stride[1] != bpt)
    return invalid(cat(cname, ".stride[1]"), cat(bpt, " (row stride = bytes_per_token)"), cat(cache.stride[1]),
                   ErrorKind::kStride);
  const int64_t page_bytes = page * bpt;
  const int64_t page_stride = nb > 1 ? cache.stride[0] : page_bytes;
  if (page_stride < page_bytes)
    return invalid(cat(cname, ".stride[0]"), cat(">= ", page_bytes, " bytes (page_block_size * bytes_per_token)"),
                   cat(cache.stride[0]), ErrorKind::kStride);
  // CUDA gathers token rows in 16-byte pieces when base and page stride are 16-aligned, else in 8-byte
  // pieces (e.g. MODEL1 pages of odd size: page * 584 bytes); rows are multiples of 16 (656, 576) or 8.
  if (cuda && page_stride % kCacheAlignBytes != 0)
    return invalid(cat(cname, ".stride[0]"),
                   cat("a multiple of ", kCacheAlignBytes, " bytes (8-byte gathers of cache rows)"),
                   cat(cache.stride[0]), ErrorKind::kStride);
  FLASHMLA_RETURN_IF_ERROR(check_pointer(cache, cname, cuda ? kCacheAlignBytes : 0, "8-byte gathers"));

  FLASHMLA_RETURN_IF_ERROR(check_view(ind, iname, 3, "[b, s_q, topk]", DType::kInt32, q));
  FLASHMLA_RETURN_IF_ERROR(check_dim(ind, iname, 0, "b", q.shape[0], "b of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(ind, iname, 1, "s_q", q.shape[1], "s_q of q"));
  const int64_t topk = ind.shape[2];
  if (topk < 1 || topk > std::numeric_limits<int32_t>::max())
    return invalid(dim_name(iname, 2, "topk"), "1..2^31 - 1", cat(topk), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(ind, iname));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(ind, iname));
  if (tl.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_view(tl, tname, 1, "[b]", DType::kInt32, q));
    FLASHMLA_RETURN_IF_ERROR(check_dim(tl, tname, 0, "b", q.shape[0], "b of q"));
    FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(tl, tname));
    FLASHMLA_RETURN_IF_ERROR(check_pointer(tl, tname));
  }
  pool->num_blocks = nb;
  pool->page_size = static_cast<int32_t>(page);
  pool->page_stride = page_stride;
  pool->num_tokens = nb * page;  // fits: check_sizes bounded nb * page * bpt
  pool->topk = static_cast<int32_t>(topk);
  pool->has_topk_length = tl.defined();
  return Status::Ok();
}

Status validate(const SparseDecodeArgs& a, SparseDecodeProblem* pb) {
  const TensorView &q = a.q, &out = a.out, &lse = a.lse, &sink = a.attn_sink;

  // ---- q, format ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(q, "q", 4, "[b, s_q, h_q, d_qk]"));
  FLASHMLA_RETURN_IF_ERROR(check_device_known(q, "q"));
  const bool cuda = q.is_cuda();
  FLASHMLA_RETURN_IF_ERROR(check_dtype(q, "q", DType::kBF16));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(q, "q"));
  const int64_t b = q.shape[0], s_q = q.shape[1], h_q = q.shape[2], d_qk = q.shape[3];
  KvFormat fmt;
  if (!kvfmt::format_of_dim(d_qk, &fmt))
    return unsupported(dim_name("q", 3, "d_qk"), "576 (V32 cache) or 512 (MODEL1 cache)", cat(d_qk), ErrorKind::kShape);
  if (h_q < 1) return invalid(dim_name("q", 2, "h_q"), ">= 1", cat(h_q), ErrorKind::kShape);
  if (b > kMaxBatch) return invalid(dim_name("q", 0, "b"), cat("<= ", kMaxBatch), cat(b), ErrorKind::kShape);
  if (static_cast<__int128>(b) * s_q * h_q > kMaxQueryRows)
    return invalid("q", cat("at most ", kMaxQueryRows, " query rows (b * s_q * h_q)"), cat("shape ", dims_string(q)),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(q, "q", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(q, "q"));
  if (cuda)
    for (int i = 0; i < 3; ++i)
      if (q.shape[i] > 1 && q.stride[i] % 8 != 0)
        return invalid(cat("q.stride[", i, "]"), "a multiple of 8 elements (16-byte loads of q rows)", cat(q.stride[i]),
                       ErrorKind::kStride);
  FLASHMLA_RETURN_IF_ERROR(check_pointer(q, "q", cuda ? kBaseAlignBytes : 0, "16-byte loads"));

  // ---- pools ----
  const int32_t bpt = kvfmt::bytes_per_token(fmt);
  const char* fmt_note = fmt == KvFormat::kSparseV32 ? "V32 format, chosen by d_qk = 576"
                                                     : "MODEL1 format, chosen by d_qk = 512";
  FLASHMLA_RETURN_IF_ERROR(check_pool(a.k_cache, "k_cache", a.indices, "indices", a.topk_length, "topk_length", q,
                                      bpt, fmt_note, &pb->main));
  pb->extra = SparseKvPool{};
  if (a.extra_k_cache.defined()) {
    if (!a.extra_indices.defined())
      return invalid("extra_indices", "an int32 [b, s_q, extra_topk] tensor (extra_k_cache is given)",
                     "undefined tensor", ErrorKind::kShape);
    FLASHMLA_RETURN_IF_ERROR(check_pool(a.extra_k_cache, "extra_k_cache", a.extra_indices, "extra_indices",
                                        a.extra_topk_length, "extra_topk_length", q, bpt, fmt_note, &pb->extra));
    if (a.extra_k_cache.dtype != a.k_cache.dtype)
      return invalid("extra_k_cache.dtype", cat(dtype_name(a.k_cache.dtype), " (same as k_cache)"),
                     dtype_string(a.extra_k_cache.dtype), ErrorKind::kType);
  } else {
    if (a.extra_indices.defined())
      return invalid("extra_indices", "undefined (no extra_k_cache)", cat("rank ", a.extra_indices.rank, " ",
                     dims_string(a.extra_indices)), ErrorKind::kShape);
    if (a.extra_topk_length.defined())
      return invalid("extra_topk_length", "undefined (no extra_k_cache)",
                     cat("rank ", a.extra_topk_length.rank, " ", dims_string(a.extra_topk_length)), ErrorKind::kShape);
  }
  if (sink.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_view(sink, "attn_sink", 1, "[h_q]", DType::kFP32, q));
    FLASHMLA_RETURN_IF_ERROR(check_dim(sink, "attn_sink", 0, "h_q", h_q, "h_q of q"));
    FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(sink, "attn_sink"));
    FLASHMLA_RETURN_IF_ERROR(check_pointer(sink, "attn_sink"));
  }

  // ---- outputs ----
  FLASHMLA_RETURN_IF_ERROR(check_view(out, "out", 4, "[b, s_q, h_q, 512]", DType::kBF16, q));
  FLASHMLA_RETURN_IF_ERROR(check_dim(out, "out", 0, "b", b, "b of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(out, "out", 1, "s_q", s_q, "s_q of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(out, "out", 2, "h_q", h_q, "h_q of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(out, "out", 3, "d_v", kvfmt::kHeadDimV, "head_dim_v"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(out, "out", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(out, "out"));
  if (cuda)
    for (int i = 0; i < 3; ++i)
      if (out.shape[i] > 1 && out.stride[i] % 2 != 0)
        return invalid(cat("out.stride[", i, "]"), "an even number of elements (4-byte stores)", cat(out.stride[i]),
                       ErrorKind::kStride);
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(out, "out"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(out, "out", cuda ? 4 : 0, "4-byte stores"));
  FLASHMLA_RETURN_IF_ERROR(check_view(lse, "lse", 3, "[b, h_q, s_q]", DType::kFP32, q));
  FLASHMLA_RETURN_IF_ERROR(check_dim(lse, "lse", 0, "b", b, "b of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(lse, "lse", 1, "h_q", h_q, "h_q of q"));
  FLASHMLA_RETURN_IF_ERROR(check_dim(lse, "lse", 2, "s_q", s_q, "s_q of q"));
  FLASHMLA_RETURN_IF_ERROR(check_nonneg_strides(lse, "lse"));
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(lse, "lse"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(lse, "lse"));

  // ---- scalars ----
  float scale = 0.0f;
  FLASHMLA_RETURN_IF_ERROR(resolve_softmax_scale(a.softmax_scale, default_softmax_scale(d_qk), "softmax_scale", &scale));
  if (a.num_splits < 0)
    return invalid("num_splits", ">= 0 (0: automatic, n >= 1: that many splits of each top-k list)", cat(a.num_splits),
                   ErrorKind::kValue);
  if (cuda && a.num_splits > 1) {
    // A forced split count depends on shapes only: its grid and the combine's must fit (an automatic one
    // always does: it splits only grids smaller than the GPU).
    namespace sd = sm90::sparse_decode;
    const sd::SplitPlan plan = sd::make_split_plan(b, s_q, h_q, pb->main.topk, pb->extra.topk, sd::kMaxSmsSm90,
                                                   a.num_splits);
    if (plan.num_splits > 1) {
      if (plan.overflow || plan.ctas * plan.num_splits > std::numeric_limits<int32_t>::max())
        return invalid("num_splits", cat("at most ", std::numeric_limits<int32_t>::max() / plan.ctas,
                                         " for this shape (b * s_q * ceil(h_q / 64) * num_splits CTAs)"),
                       cat(a.num_splits), ErrorKind::kValue);
      if (s_q * h_q > sd::kMaxCombineRows)
        return invalid("num_splits", cat("0 or 1 when s_q * h_q > ", sd::kMaxCombineRows, " (the combine's grid)"),
                       cat(a.num_splits, " with s_q * h_q = ", s_q * h_q), ErrorKind::kValue);
    }
  }

  // ---- aliasing: outputs vs inputs, each other and the workspace ----
  {
    const ByteRange inputs[] = {range_of(q, "q"),
                                range_of(a.k_cache, "k_cache"),
                                range_of(a.indices, "indices"),
                                range_of(a.topk_length, "topk_length"),
                                range_of(sink, "attn_sink"),
                                range_of(a.extra_k_cache, "extra_k_cache"),
                                range_of(a.extra_indices, "extra_indices"),
                                range_of(a.extra_topk_length, "extra_topk_length"),
                                range_of_bytes(a.workspace, a.workspace_bytes, "workspace")};
    const ByteRange r_out = range_of(out, "out"), r_lse = range_of(lse, "lse");
    for (const ByteRange& r : inputs) {
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_out, r));
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r));
    }
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r_out));
    // The split kernel writes the workspace while it reads the inputs.
    const ByteRange& r_ws = inputs[sizeof(inputs) / sizeof(inputs[0]) - 1];
    for (size_t i = 0; i + 1 < sizeof(inputs) / sizeof(inputs[0]); ++i)
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ws, inputs[i]));
  }

  pb->args = &a;
  pb->format = fmt;
  pb->batch = static_cast<int32_t>(b);
  pb->s_q = static_cast<int32_t>(s_q);
  pb->h_q = static_cast<int32_t>(h_q);
  pb->d_qk = static_cast<int32_t>(d_qk);
  pb->bytes_per_token = bpt;
  pb->has_attn_sink = sink.defined();
  pb->softmax_scale = scale;
  return Status::Ok();
}

// ---- debug mode: index values -------------------------------------------------------------------------


Status debug_check_pool(const SparseDecodeProblem& p, const TensorView& ind, const char* iname, const TensorView& tl,
                        const char* tname, const SparseKvPool& pool, const char* cname) {
  const Stream stream = p.args->stream;
  std::vector<int32_t> ibuf, tbuf;
  const int32_t *iv = nullptr, *tv = nullptr;
  FLASHMLA_RETURN_IF_ERROR(host_ints(ind, iname, stream, &ibuf, &iv));
  if (tl.defined()) FLASHMLA_RETURN_IF_ERROR(host_ints(tl, tname, stream, &tbuf, &tv));
  for (int32_t i = 0; i < p.batch; ++i) {
    int64_t n = pool.topk;
    if (tv) {
      n = tv[i * tl.stride[0]];
      if (n < 0 || n > pool.topk)
        return invalid(cat(tname, "[", i, "]"), cat("a length in [0, ", pool.topk, "] (debug_checks)"), cat(n),
                       ErrorKind::kValue);
    }
    for (int32_t j = 0; j < p.s_q; ++j)
      for (int64_t t = 0; t < n; ++t) {
        const int32_t idx = iv[i * ind.stride[0] + j * ind.stride[1] + t * ind.stride[2]];
        if (idx != -1 && (idx < 0 || idx >= pool.num_tokens))
          return invalid(cat(iname, "[", i, "][", j, "][", t, "]"),
                         cat("-1 or a token in [0, ", pool.num_tokens, ") (", cname, ": ", pool.num_blocks,
                             " pages of ", pool.page_size, "; debug_checks)"),
                         cat(idx), ErrorKind::kValue);
      }
  }
  return Status::Ok();
}

Status debug_checks(const SparseDecodeProblem& p) {
  const SparseDecodeArgs& a = *p.args;
  FLASHMLA_RETURN_IF_ERROR(debug_check_pool(p, a.indices, "indices", a.topk_length, "topk_length", p.main, "k_cache"));
  if (p.extra.topk > 0)
    FLASHMLA_RETURN_IF_ERROR(debug_check_pool(p, a.extra_indices, "extra_indices", a.extra_topk_length,
                                              "extra_topk_length", p.extra, "extra_k_cache"));
  return Status::Ok();
}

Status prepare(const SparseDecodeArgs& a, SparseDecodeProblem* pb, const registry::Variant<SparseDecodeProblem>** v) {
  FLASHMLA_RETURN_IF_ERROR(validate(a, pb));
  registry::VariantKey key;
  key.op = registry::Op::kSparseDecode;
  key.backend = a.q.is_cuda() ? registry::Backend::kSm90 : registry::Backend::kCpu;
  key.q_dtype = DType::kBF16;
  key.kv_format = pb->format;
  uint32_t features = registry::kFeatureNone;
  if (pb->has_attn_sink) features |= registry::kFeatureAttnSink;
  if (pb->main.has_topk_length || pb->extra.has_topk_length) features |= registry::kFeatureTopkLength;
  if (pb->extra.topk > 0) features |= registry::kFeatureExtraCache;
  FLASHMLA_RETURN_IF_ERROR(registry::select(registry::sparse_decode_variants(), key, features, *pb, v));
  // sm90: non-zero when the launch splits the top-k lists (few CTAs, or a forced num_splits > 1).
  const size_t need = (*v)->workspace_bytes(*pb);
  if (need > 0 && (a.workspace == nullptr || a.workspace_bytes < need))
    return invalid("workspace", cat(need, " bytes (sparse_decode_workspace_size)"),
                   cat(a.workspace_bytes, " bytes at ", ptr_string(a.workspace)), ErrorKind::kWorkspace);
  if (need > 0 && reinterpret_cast<uintptr_t>(a.workspace) % 16 != 0)
    return invalid("workspace", "a 16-byte aligned address (float4 partials)", ptr_string(a.workspace),
                   ErrorKind::kWorkspace);
  return Status::Ok();
}

}  // namespace
}  // namespace detail

Status can_implement(const SparseDecodeArgs& args) noexcept {
  return detail::guarded("can_implement(SparseDecodeArgs)", [&]() -> Status {
    SparseDecodeProblem pb;
    const registry::Variant<SparseDecodeProblem>* v = nullptr;
    return detail::prepare(args, &pb, &v);
  });
}

Status sparse_decode(const SparseDecodeArgs& args) noexcept {
  return detail::guarded("sparse_decode", [&]() -> Status {
    SparseDecodeProblem pb;
    const registry::Variant<SparseDecodeProblem>* v = nullptr;
    FLASHMLA_RETURN_IF_ERROR(detail::prepare(args, &pb, &v));
    if (int64_t{pb.batch} * pb.s_q == 0) return Status::Ok();  // nothing to compute or write
    if (args.debug_checks) FLASHMLA_RETURN_IF_ERROR(detail::debug_checks(pb));
    return v->run(pb);
  });
}

size_t sparse_decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t topk, int32_t extra_topk,
                                    int32_t num_splits) noexcept {
  if (batch < 0 || s_q < 0 || h_q < 1 || topk < 1 || extra_topk < 0 || num_splits < 0) return 0;
  namespace sd = sm90::sparse_decode;
  // The largest sm_90 part's SM count: an automatic plan on any sm_90 device needs at most this much.
  const sd::SplitPlan plan = sd::make_split_plan(batch, s_q, h_q, topk, extra_topk, sd::kMaxSmsSm90, num_splits);
  return plan.overflow ? std::numeric_limits<size_t>::max() : plan.workspace_bytes;
}

}  // namespace flashmla
