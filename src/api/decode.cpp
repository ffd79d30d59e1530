// decode(), can_implement(), decode_workspace_size(): validation into a DecodeProblem, then the registry.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "api/checks.h"
#include "api/decode_validation.h"
#include "api/guard.h"
#include "common/decode_problem.h"
#include "common/workspace.h"
#include "flashmla/flashmla.h"
#include "kernels/registry.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include "kernels/common/host_copy.h"
#define FLASHMLA_DECODE_CUDA 1
#else
#define FLASHMLA_DECODE_CUDA 0
#endif

namespace flashmla {
namespace detail {
namespace {

using namespace checks;  // NOLINT: the primitives are this file's vocabulary

Status check_metadata(const TensorView& v, const TensorView& ref, bool cuda, const char* note, const char* ref_name) {
  const char* const name = "tile_scheduler_metadata";
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 2, "[num_sm_parts, 8]", note));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref, ref_name));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[0] < 1 || v.shape[0] > kMaxSmParts)
    return invalid(dim_name(name, 0, "num_sm_parts"), cat("1..", kMaxSmParts), cat(v.shape[0]), ErrorKind::kShape);
  if (v.shape[1] != kScheduleRecordInts)
    return invalid(dim_name(name, 1, "record size"), cat(kScheduleRecordInts), cat(v.shape[1]), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name, cuda ? kBaseAlignBytes : 0, "vector loads and stores of records");
}

Status check_num_splits(const TensorView& v, const TensorView& ref, int64_t batch, const char* note,
                        const char* ref_name) {
  const char* const name = "num_splits";
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 1, "[b + 1]", note));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref, ref_name));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[0] != batch + 1)
    return invalid(dim_name(name, 0, nullptr), cat(batch + 1, " (b + 1, b = ", batch, ")"), cat(v.shape[0]),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name);
}

// cache_seqlens [b] int32 contiguous; b is q's batch when known, else 1..kMaxBatch.
Status check_cache_seqlens(const TensorView& v, const TensorView& ref, int64_t batch, bool batch_known,
                           const char* ref_name) {
  const char* const name = "cache_seqlens";
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 1, "[b]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref, ref_name));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (batch_known) {
    if (v.shape[0] != batch)
      return invalid(dim_name(name, 0, nullptr), cat(batch, " (batch of q)"), cat(v.shape[0]), ErrorKind::kShape);
  } else if (v.shape[0] < 1 || v.shape[0] > kMaxBatch) {
    return invalid(dim_name(name, 0, "batch"), cat("1..", kMaxBatch), cat(v.shape[0]), ErrorKind::kShape);
  }
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name);
}

// A per-tensor FP8 descale (docs/spec.md §8): fp32 [1] on q's device; on the host, finite and > 0.
Status check_descale(const TensorView& v, const char* name, const TensorView& q, const char* why) {
  if (!v.defined()) return invalid(name, cat("a float32 [1] tensor (", why, ")"), "none", ErrorKind::kPointer);
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 1, "[1]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, q, "q"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kFP32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[0] != 1) return invalid(dim_name(name, 0, nullptr), "1", cat(v.shape[0]), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_pointer(v, name));
  if (!v.is_cuda()) {
    const float x = *static_cast<const float*>(v.data);
    if (!(std::isfinite(x) && x > 0.0f))
      return invalid(cat(name, " value"), "a finite float > 0", cat(x), ErrorKind::kValue);
  }
  return Status::Ok();
}
Status reject_descale(const TensorView& v, const char* name, const char* why) {
  if (v.defined()) return invalid(name, cat("none (", why, ")"), "a tensor", ErrorKind::kValue);
  return Status::Ok();
}

KvFormat dense_format(DType t) {
  switch (t) {
    case DType::kFP16: return KvFormat::kDenseFP16;
    case DType::kFP8E4M3: return KvFormat::kDenseFP8;
    default: return KvFormat::kDenseBF16;
  }
}

// The registry key of a validated problem.
registry::VariantKey decode_key(const DecodeArgs& a) {
  registry::VariantKey key;
  key.op = registry::Op::kDecode;
  key.backend = a.q.is_cuda() ? registry::Backend::kSm90 : registry::Backend::kCpu;
  key.q_dtype = a.q.dtype;
  key.kv_format = dense_format(a.k_cache.dtype);
  return key;
}
uint32_t decode_features(const DecodeArgs& a, const DecodeShape& s) {
  return a.causal && s.s_q > 1 ? registry::kFeatureCausal : registry::kFeatureNone;
}

// The variant's workspace: present, large enough, aligned, overlapping no tensor of the call.
Status check_workspace(const DecodeArgs& a, size_t needed) {
  if (needed == 0) return Status::Ok();
  if (a.workspace == nullptr)
    return invalid("workspace", cat("a non-null pointer to ", needed, " bytes (decode_workspace_size)"), "null",
                   ErrorKind::kWorkspace);
  if (a.workspace_bytes < needed)
    return invalid("workspace_bytes", cat(">= ", needed, " (decode_workspace_size)"), cat(a.workspace_bytes),
                   ErrorKind::kWorkspace);
  if (reinterpret_cast<uintptr_t>(a.workspace) % kBaseAlignBytes != 0)
    return invalid("workspace", cat("a ", kBaseAlignBytes, "-byte aligned address"), ptr_string(a.workspace),
                   ErrorKind::kWorkspace);
  const ByteRange ws = range_of_bytes(a.workspace, needed, "workspace");
  const TensorView* views[] = {&a.q,         &a.k_cache, &a.block_table, &a.cache_seqlens, &a.tile_scheduler_metadata,
                               &a.num_splits, &a.out,     &a.lse,         &a.descale_q,     &a.descale_k};
  const char* names[] = {"q",          "k_cache", "block_table", "cache_seqlens", "tile_scheduler_metadata",
                         "num_splits", "out",     "lse",         "descale_q",     "descale_k"};
  for (int i = 0; i < 10; ++i) FLASHMLA_RETURN_IF_ERROR(check_disjoint(ws, range_of(*views[i], names[i])));
  return Status::Ok();
}

Status select_decode(const DecodeProblem& pr, const registry::Variant<DecodeProblem>** v) {
  return registry::select(registry::decode_variants(), decode_key(*pr.args), decode_features(*pr.args, pr.shape), pr,
                          v);
}

// Validation + selection + workspace: everything but running. Shared by can_implement and decode.
Status prepare(const DecodeArgs& args, DecodeProblem* pr, const registry::Variant<DecodeProblem>** v) {
  pr->args = &args;
  FLASHMLA_RETURN_IF_ERROR(validate_decode(args, &pr->shape));
  FLASHMLA_RETURN_IF_ERROR(select_decode(*pr, v));
  return check_workspace(args, (*v)->workspace_bytes(*pr));
}

}  // namespace

bool checked_workspace_bytes(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v, int32_t num_sm_parts,
                             size_t* bytes) {
  if (batch < 0 || s_q < 0 || h_q < 0 || head_dim_v < 0 || num_sm_parts < 0) return false;
  // rows * (dv + 1) * 4 plus the layout's alignment pads and status word (well under 4 KiB) must fit.
  const unsigned __int128 slots = static_cast<unsigned __int128>(batch) + static_cast<uint32_t>(num_sm_parts);
  const unsigned __int128 rows = slots * static_cast<uint32_t>(s_q) * static_cast<uint32_t>(h_q);
  const unsigned __int128 need = rows * (static_cast<uint32_t>(head_dim_v) + 1u) * sizeof(float) + 4096u;
  if (need > static_cast<unsigned __int128>(std::numeric_limits<size_t>::max())) return false;
  if (bytes) *bytes = workspace_layout(batch, s_q, h_q, head_dim_v, num_sm_parts).total_bytes;
  return true;
}

Status validate_decode(const DecodeArgs& a, DecodeShape* out_shape) {
  const TensorView& q = a.q;
  const TensorView& k = a.k_cache;
  const TensorView& bt = a.block_table;
  const TensorView& sl = a.cache_seqlens;
  const TensorView& out = a.out;
  const TensorView& lse = a.lse;
  const TensorView& md = a.tile_scheduler_metadata;
  const TensorView& ns = a.num_splits;

  // ---- q: rank, device, dtype, shape ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(q, "q", 4, "[b, s_q, h_q, 576]"));
  FLASHMLA_RETURN_IF_ERROR(check_device_known(q, "q"));
  const bool cuda = q.is_cuda();
  if (q.dtype != DType::kBF16 && q.dtype != DType::kFP16 && q.dtype != DType::kFP8E4M3)
    return invalid("q.dtype", "bfloat16, float16 or float8_e4m3fn", dtype_string(q.dtype), ErrorKind::kType);
  const bool fp8_q = q.dtype == DType::kFP8E4M3;
  const DType out_dtype = fp8_q ? DType::kBF16 : q.dtype;
  FLASHMLA_RETURN_IF_ERROR(check_sizes(q, "q"));
  const int64_t b = q.shape[0], s_q = q.shape[1], h_q = q.shape[2], d = q.shape[3];
  if (b < 1 || b > kMaxBatch) return invalid(dim_name("q", 0, "b"), cat("1..", kMaxBatch), cat(b), ErrorKind::kShape);
  if (s_q < 1) return invalid(dim_name("q", 1, "s_q"), ">= 1", cat(s_q), ErrorKind::kShape);
  if (h_q < 1) return invalid(dim_name("q", 2, "h_q"), ">= 1", cat(h_q), ErrorKind::kShape);
  if (static_cast<__int128>(b) * s_q * h_q > kMaxQueryRows)
    return invalid("q", cat("at most ", kMaxQueryRows, " query rows (b * s_q * h_q)"), cat("shape ", dims_string(q)),
                   ErrorKind::kShape);
  if (d != kHeadDimQK) return unsupported(dim_name("q", 3, "head dim"), cat(kHeadDimQK), cat(d), ErrorKind::kShape);
  if (a.head_dim_v < 1 || a.head_dim_v > d)
    return invalid("head_dim_v", cat(kHeadDimV), cat(a.head_dim_v), ErrorKind::kValue);
  if (a.head_dim_v != kHeadDimV) return unsupported("head_dim_v", cat(kHeadDimV), cat(a.head_dim_v), ErrorKind::kValue);
  const int64_t dv = a.head_dim_v;

  // ---- k_cache ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(k, "k_cache", 4, "[num_blocks, page_size, h_kv, 576]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(k, "k_cache", q));
  const bool fp8_k = k.dtype == DType::kFP8E4M3;
  if (fp8_q && !fp8_k)
    return invalid("k_cache.dtype", "float8_e4m3fn (an fp8 q needs an fp8 cache)", dtype_string(k.dtype),
                   ErrorKind::kType);
  if (!fp8_k) FLASHMLA_RETURN_IF_ERROR(check_dtype(k, "k_cache", q.dtype, "same as q"));
  if (fp8_k && q.dtype != DType::kBF16 && !fp8_q)
    return invalid("q.dtype", "bfloat16 or float8_e4m3fn (with a float8_e4m3fn k_cache)", dtype_string(q.dtype),
                   ErrorKind::kType);
  FLASHMLA_RETURN_IF_ERROR(check_sizes(k, "k_cache"));
  const int64_t num_blocks = k.shape[0], page = k.shape[1], h_kv = k.shape[2];
  if (num_blocks < 1)
    return invalid(dim_name("k_cache", 0, "num_blocks"), ">= 1", cat(num_blocks), ErrorKind::kShape);
  if (page < 1 || page > std::numeric_limits<int32_t>::max())
    return invalid(dim_name("k_cache", 1, "page size"), "1..2^31 - 1", cat(page), ErrorKind::kShape);
  if (h_kv < 1) return invalid(dim_name("k_cache", 2, "h_kv"), cat("1..", kMaxHeadsK), cat(h_kv), ErrorKind::kShape);
  if (h_kv > kMaxHeadsK)
    return unsupported(dim_name("k_cache", 2, "h_kv"), cat("1..", kMaxHeadsK), cat(h_kv), ErrorKind::kShape);
  if (k.shape[3] != d)
    return invalid(dim_name("k_cache", 3, "head dim"), cat(d, " (same as q)"), cat(k.shape[3]), ErrorKind::kShape);
  if (h_q % h_kv != 0) return invalid("h_q % h_kv", "0", cat("h_q=", h_q, ", h_kv=", h_kv), ErrorKind::kShape);

  // ---- block_table, cache_seqlens ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(bt, "block_table", 2, "[b, max_blocks_per_seq]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(bt, "block_table", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(bt, "block_table", DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(bt, "block_table"));
  if (bt.shape[0] != b)
    return invalid(dim_name("block_table", 0, nullptr), cat(b, " (batch of q)"), cat(bt.shape[0]), ErrorKind::kShape);
  if (bt.shape[1] > std::numeric_limits<int32_t>::max())
    return invalid(dim_name("block_table", 1, "max_blocks_per_seq"), "at most 2^31 - 1", cat(bt.shape[1]),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_cache_seqlens(sl, q, b, /*batch_known=*/true, "q"));

  // ---- out, lse ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(out, "out", 4, "[b, s_q, h_q, head_dim_v]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(out, "out", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(out, "out", out_dtype, fp8_q ? "bfloat16 for an fp8 q" : "same as q"));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(out, "out"));
  if (out.shape[0] != b || out.shape[1] != s_q || out.shape[2] != h_q || out.shape[3] != dv)
    return invalid("out.shape", cat("[", b, ", ", s_q, ", ", h_q, ", ", dv, "] ([b, s_q, h_q, head_dim_v])"),
                   dims_string(out), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_rank(lse, "lse", 3, "[b, h_q, s_q]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(lse, "lse", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(lse, "lse", DType::kFP32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(lse, "lse"));
  if (lse.shape[0] != b || lse.shape[1] != h_q || lse.shape[2] != s_q)
    return invalid("lse.shape", cat("[", b, ", ", h_q, ", ", s_q, "] ([b, h_q, s_q])"), dims_string(lse),
                   ErrorKind::kShape);

  // ---- FP8 descales (§8): descale_k iff the cache is fp8, descale_q iff q is fp8 ----
  if (fp8_k) FLASHMLA_RETURN_IF_ERROR(check_descale(a.descale_k, "descale_k", q, "required with a float8_e4m3fn k_cache"));
  else FLASHMLA_RETURN_IF_ERROR(reject_descale(a.descale_k, "descale_k", "only with a float8_e4m3fn k_cache"));
  if (fp8_q) FLASHMLA_RETURN_IF_ERROR(check_descale(a.descale_q, "descale_q", q, "required with a float8_e4m3fn q"));
  else FLASHMLA_RETURN_IF_ERROR(reject_descale(a.descale_q, "descale_q", "only with a float8_e4m3fn q"));

  // ---- schedule (required for CUDA, optional on the CPU) ----
  const char* sched_note = "required for CUDA tensors: from compute_schedule()";
  int64_t num_sm_parts = 0;
  if (cuda || md.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_metadata(md, q, cuda, cuda ? sched_note : nullptr, "q"));
    num_sm_parts = md.shape[0];
  }
  if (cuda || ns.defined()) FLASHMLA_RETURN_IF_ERROR(check_num_splits(ns, q, b, cuda ? sched_note : nullptr, "q"));

  // ---- strides and pointers ----
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(q, "q", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(k, "k_cache", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(out, "out", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(bt, "block_table", 1, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(q, "q", cuda, "TMA needs 16-byte aligned strides"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(k, "k_cache", cuda, "TMA needs 16-byte aligned strides"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(out, "out", cuda, "16-byte vector stores"));
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(out, "out"));
  FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(lse, "lse"));
  const int64_t base_align = cuda ? kBaseAlignBytes : 0;
  FLASHMLA_RETURN_IF_ERROR(check_pointer(q, "q", base_align, "TMA"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(k, "k_cache", base_align, "TMA"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(bt, "block_table"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(out, "out", base_align, "16-byte vector stores"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(lse, "lse"));

  // ---- softmax scale ----
  float scale = 0.0f;
  FLASHMLA_RETURN_IF_ERROR(resolve_softmax_scale(a.softmax_scale, default_softmax_scale(d), "softmax_scale", &scale));

  // ---- workspace size must be representable (the variant's size is checked after selection) ----
  if (cuda && !checked_workspace_bytes(static_cast<int32_t>(b), static_cast<int32_t>(s_q), static_cast<int32_t>(h_q),
                                       static_cast<int32_t>(dv), static_cast<int32_t>(num_sm_parts), nullptr))
    return invalid("workspace_bytes", "a workspace size that fits in size_t", "an overflowing size",
                   ErrorKind::kWorkspace);

  // ---- aliasing: outputs vs inputs and each other ----
  {
    const ByteRange inputs[] = {range_of(q, "q"), range_of(k, "k_cache"), range_of(bt, "block_table"),
                                range_of(sl, "cache_seqlens"), range_of(md, "tile_scheduler_metadata"),
                                range_of(ns, "num_splits"), range_of(a.descale_q, "descale_q"),
                                range_of(a.descale_k, "descale_k")};
    const ByteRange r_out = range_of(out, "out"), r_lse = range_of(lse, "lse");
    for (const ByteRange& r : inputs) {
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_out, r));
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r));
    }
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r_out));
  }

  DecodeShape shape;
  shape.batch = static_cast<int32_t>(b);
  shape.s_q = static_cast<int32_t>(s_q);
  shape.h_q = static_cast<int32_t>(h_q);
  shape.h_kv = static_cast<int32_t>(h_kv);
  shape.heads_per_kv = static_cast<int32_t>(h_q / h_kv);
  shape.head_dim = static_cast<int32_t>(d);
  shape.head_dim_v = static_cast<int32_t>(dv);
  shape.num_blocks = num_blocks;
  shape.page_size = static_cast<int32_t>(page);
  shape.max_blocks_per_seq = static_cast<int32_t>(bt.shape[1]);
  shape.num_sm_parts = static_cast<int32_t>(num_sm_parts);
  shape.dtype = q.dtype;
  shape.softmax_scale = scale;

  // ---- values (host memory only; for CUDA tensors a caller contract, checked in debug mode) ----
  if (!cuda)
    FLASHMLA_RETURN_IF_ERROR(check_page_table(static_cast<const int32_t*>(sl.data), sl.stride[0],
                                              static_cast<const int32_t*>(bt.data), bt.stride[0], bt.stride[1], b,
                                              bt.shape[1], num_blocks, page));
  if (out_shape) *out_shape = shape;
  return Status::Ok();
}

}  // namespace detail

size_t decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                             int32_t num_sm_parts) noexcept {
  // Negative arguments describe no valid call: 0 (decode() rejects the call itself). A size that does
  // not fit in size_t comes back as SIZE_MAX, so that the allocation fails loudly.
  if (batch < 0 || s_q < 0 || h_q < 0 || head_dim_v < 0 || num_sm_parts < 0) return 0;
  size_t bytes = 0;
  if (!detail::checked_workspace_bytes(batch, s_q, h_q, head_dim_v, num_sm_parts, &bytes))
    return std::numeric_limits<size_t>::max();
  return bytes;
}

Status can_implement(const DecodeArgs& args) noexcept {
  return detail::guarded("can_implement", [&]() -> Status {
    DecodeProblem pr;
    const registry::Variant<DecodeProblem>* v = nullptr;
    return detail::prepare(args, &pr, &v);
  });
}

Status decode(const DecodeArgs& args) noexcept {
  return detail::guarded("decode", [&]() -> Status {
    DecodeProblem pr;
    const registry::Variant<DecodeProblem>* v = nullptr;
    FLASHMLA_RETURN_IF_ERROR(detail::prepare(args, &pr, &v));
#if FLASHMLA_DECODE_CUDA
    if (args.debug_checks && args.q.is_cuda()) {
      // Debug mode: the value checks of host tensors, on host copies (synchronizes the stream).
      std::vector<int32_t> lens, table;
      const DecodeShape& s = pr.shape;
      FLASHMLA_RETURN_IF_ERROR(gpu::copy_int32_to_host(args.cache_seqlens, 1, s.batch, args.stream, &lens));
      FLASHMLA_RETURN_IF_ERROR(
          gpu::copy_int32_to_host(args.block_table, s.batch, s.max_blocks_per_seq, args.stream, &table));
      FLASHMLA_RETURN_IF_ERROR(checks::check_page_table(lens.data(), 1, table.data(), s.max_blocks_per_seq, 1, s.batch,
                                                        s.max_blocks_per_seq, s.num_blocks, s.page_size));
    }
#endif
    return v->run(pr);
  });
}

}  // namespace flashmla
