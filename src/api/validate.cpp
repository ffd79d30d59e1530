// Argument validation of the public entry points: see validate.h for the full list of checks.
#include "api/validate.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>

#include "common/schedule_plan.h"
#include "common/workspace.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#define FLASHMLA_VALIDATE_CUDA_BUILT 1
#else
#define FLASHMLA_VALIDATE_CUDA_BUILT 0
#endif
#if defined(FLASHMLA_ENABLE_FP16) && FLASHMLA_ENABLE_FP16
#define FLASHMLA_VALIDATE_FP16_BUILT 1
#else
#define FLASHMLA_VALIDATE_FP16_BUILT 0
#endif

namespace flashmla::detail {
namespace {

constexpr bool kCudaBuilt = FLASHMLA_VALIDATE_CUDA_BUILT != 0;
constexpr bool kFp16KernelsBuilt = FLASHMLA_VALIDATE_FP16_BUILT != 0;

#define FLASHMLA_RETURN_IF_ERROR(expr) \
  do {                                 \
    Status _st = (expr);               \
    if (!_st.ok()) return _st;         \
  } while (0)

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

Status invalid(const std::string& arg, const std::string& expected, const std::string& got) {
  return Status(StatusCode::kInvalidArgument, arg + ": expected " + expected + ", got " + got);
}
Status unsupported(const std::string& arg, const std::string& expected, const std::string& got) {
  return Status(StatusCode::kNotSupported, arg + ": expected " + expected + ", got " + got);
}

std::string dims_string(const TensorView& v) {
  std::string s = "[";
  const int r = v.rank < 0 ? 0 : (v.rank > kMaxRank ? kMaxRank : v.rank);
  for (int i = 0; i < r; ++i) s += cat(i ? ", " : "", v.shape[i]);
  return s + "]";
}
std::string strides_string(const TensorView& v) {
  std::string s = "(";
  const int r = v.rank < 0 ? 0 : (v.rank > kMaxRank ? kMaxRank : v.rank);
  for (int i = 0; i < r; ++i) s += cat(i ? ", " : "", v.stride[i]);
  return s + ")";
}
std::string rank_string(const TensorView& v) {
  if (v.rank < 0 || v.rank > kMaxRank) return cat("rank ", v.rank);
  std::string s = cat("rank ", v.rank, " ", dims_string(v));
  if (!v.defined()) s += " (undefined tensor)";
  return s;
}
bool known_dtype(DType t) {
  return t == DType::kBF16 || t == DType::kFP16 || t == DType::kFP32 || t == DType::kInt32;
}
std::string dtype_string(DType t) {
  if (known_dtype(t)) return dtype_name(t);
  return cat("unknown dtype (", static_cast<int32_t>(t), ")");
}
std::string ptr_string(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%p", p);
  return p ? std::string(buf) : std::string("null");
}
std::string dev_string(const TensorView& v) { return device_string(v.device, v.device_index); }
std::string dim_name(const char* tensor, int dim, const char* what) {
  return what ? cat(tensor, ".shape[", dim, "] (", what, ")") : cat(tensor, ".shape[", dim, "]");
}

// ---- per-tensor checks -----------------------------------------------------------------------------
// Names and layouts are `const char*` (string literals), not std::string: these run on every decode()
// call, and a std::string parameter would build (and for names over 15 characters, heap-allocate) a
// string per check even when the check passes. Messages are formatted only on failure.

Status check_rank(const TensorView& v, const char* name, int32_t rank, const char* layout,
                  const char* note = nullptr) {
  if (v.rank == rank) return Status::Ok();
  std::string expected = cat("rank ", rank, " ", layout);
  if (note) expected += cat(" (", note, ")");
  return invalid(name, expected, rank_string(v));
}

Status check_dtype(const TensorView& v, const char* name, DType want, const char* note = nullptr) {
  if (v.dtype == want) return Status::Ok();
  std::string expected = dtype_name(want);
  if (note) expected += cat(" (", note, ")");
  return invalid(cat(name, ".dtype"), expected, dtype_string(v.dtype));
}

Status check_same_device(const TensorView& v, const char* name, const TensorView& ref) {
  if (v.device != DeviceType::kCPU && v.device != DeviceType::kCUDA)
    return invalid(cat(name, ".device"), cat(dev_string(ref), " (same as q)"),
                   cat("unknown device type (", static_cast<int32_t>(v.device), ")"));
  if (v.device != ref.device || (ref.is_cuda() && v.device_index != ref.device_index))
    return invalid(cat(name, ".device"), cat(dev_string(ref), " (same as q)"), dev_string(v));
  return Status::Ok();
}

// Sizes >= 0; the element count and the offset range reachable through the strides fit in int64.
// On success *lo / *hi receive the smallest / largest element offset (0 / -1 for an empty tensor).
Status check_sizes(const TensorView& v, const char* name, int64_t* lo_out = nullptr,
                   int64_t* hi_out = nullptr) {
  int64_t numel = 1;
  bool empty = false;
  for (int i = 0; i < v.rank; ++i) {
    if (v.shape[i] < 0) return invalid(cat(name, ".shape[", i, "]"), ">= 0", cat(v.shape[i]));
    if (v.shape[i] == 0) empty = true;
    if (__builtin_mul_overflow(numel, v.shape[i], &numel))
      return invalid(name, "at most 2^63 - 1 elements", cat("shape ", dims_string(v)));
  }
  int64_t lo = 0, hi = 0;
  if (!empty) {
    const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
    for (int i = 0; i < v.rank; ++i) {
      int64_t off = 0;
      bool overflow = __builtin_mul_overflow(v.shape[i] - 1, v.stride[i], &off);
      if (!overflow) overflow = off < 0 ? __builtin_add_overflow(lo, off, &lo) : __builtin_add_overflow(hi, off, &hi);
      int64_t bytes = 0;
      if (!overflow) overflow = hi == std::numeric_limits<int64_t>::max() || __builtin_mul_overflow(hi + 1, es, &bytes) ||
                                __builtin_mul_overflow(lo, es, &bytes);
      if (overflow)
        return invalid(cat(name, ".stride"), "strides whose byte offsets fit in 64 bits",
                       cat(strides_string(v), " for shape ", dims_string(v)));
    }
  } else {
    hi = -1;
  }
  if (lo_out) *lo_out = lo;
  if (hi_out) *hi_out = hi;
  return Status::Ok();
}

// Non-null for a non-empty tensor, aligned to the element size (and to `base_align` bytes if > 0).
Status check_pointer(const TensorView& v, const char* name, int64_t base_align = 0,
                     const char* why = nullptr) {
  const int64_t n = v.numel();
  if (n == 0) return Status::Ok();
  if (v.data == nullptr)
    return invalid(cat(name, ".data"), cat("a non-null pointer (tensor of ", n, " elements)"), "null");
  const auto addr = reinterpret_cast<uintptr_t>(v.data);
  const size_t es = dtype_size(v.dtype);
  if (es > 0 && addr % es != 0)
    return invalid(cat(name, ".data"), cat("an address aligned to ", es, " bytes (", dtype_name(v.dtype), ")"),
                   ptr_string(v.data));
  if (base_align > 0 && addr % static_cast<uint64_t>(base_align) != 0)
    return invalid(cat(name, ".data"), cat("a ", base_align, "-byte aligned address", why ? cat(" (", why, ")") : ""),
                   ptr_string(v.data));
  return Status::Ok();
}

// Stride of dimension `dim` must be 1, unless the dimension holds at most one element.
Status check_unit_stride(const TensorView& v, const char* name, int dim, const char* what) {
  if (v.shape[dim] <= 1 || v.stride[dim] == 1) return Status::Ok();
  return invalid(cat(name, ".stride[", dim, "]"), cat("1 (", what, ")"), cat(v.stride[dim]));
}

// Row-major contiguity (dimensions of size <= 1 may have any stride).
Status check_contiguous(const TensorView& v, const char* name) {
  int64_t expected = 1;
  for (int i = v.rank - 1; i >= 0; --i) {
    if (v.shape[i] > 1 && v.stride[i] != expected)
      return invalid(cat(name, ".stride[", i, "]"), cat(expected, " (contiguous)"), cat(v.stride[i]));
    expected *= v.shape[i];
  }
  return Status::Ok();
}

// q, k_cache, out: strides of the non-last dimensions. Negative strides are refused everywhere; on
// CUDA the byte strides must suit a TMA descriptor (q, k_cache) or 16-byte vector stores (out).
Status check_row_strides(const TensorView& v, const char* name, bool cuda, const char* why) {
  const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
  for (int i = 0; i + 1 < v.rank; ++i) {
    const int64_t st = v.stride[i];
    // The argument name is formatted only on failure: this runs on every decode() call.
    auto arg = [&] { return cat(name, ".stride[", i, "]"); };
    if (st < 0) return invalid(arg(), ">= 0", cat(st));
    // Size-1 dimensions: their stride is never used to address anything (the launcher substitutes a
    // valid one for the TMA descriptor), so frameworks' arbitrary values there are accepted.
    if (!cuda || v.shape[i] == 1) continue;
    const int64_t bytes = st * es;  // st * es cannot overflow: check_sizes bounded the extent
    if (bytes % kTmaStrideAlignBytes != 0 || bytes >= kTmaMaxStrideBytes || bytes == 0)
      return invalid(arg(), cat("a ", v.shape[i] > 1 ? "positive " : "", "multiple of ", kTmaStrideAlignBytes,
                              " bytes below 2^40 (", why, "), i.e. a multiple of ", kTmaStrideAlignBytes / es,
                              " elements"),
                     cat(st, " elements = ", bytes, " bytes"));
  }
  return Status::Ok();
}

// An output must not write one element twice: no zero stride on a dimension of size > 1.
Status check_no_zero_stride(const TensorView& v, const char* name) {
  for (int i = 0; i < v.rank; ++i)
    if (v.shape[i] > 1 && v.stride[i] == 0)
      return invalid(cat(name, ".stride[", i, "]"), "a nonzero stride (an output must not overlap itself)", "0");
  return Status::Ok();
}

// ---- aliasing ---------------------------------------------------------------------------------------

struct ByteRange {
  const char* name = "";  // always a string literal: no allocation on the success path
  __int128 begin = 0, end = 0;  // [begin, end), empty when begin == end
};

ByteRange range_of(const TensorView& v, const char* name, int64_t lo, int64_t hi) {
  ByteRange r;
  r.name = name;
  if (v.data == nullptr || hi < lo) return r;
  const __int128 es = static_cast<__int128>(dtype_size(v.dtype));
  const __int128 addr = static_cast<__int128>(reinterpret_cast<uintptr_t>(v.data));
  r.begin = addr + lo * es;
  r.end = addr + (static_cast<__int128>(hi) + 1) * es;
  return r;
}

std::string range_string(const ByteRange& r) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "[0x%llx, 0x%llx)", static_cast<unsigned long long>(r.begin),
                static_cast<unsigned long long>(r.end));
  return buf;
}

Status check_disjoint(const ByteRange& a, const ByteRange& b) {
  if (a.begin == a.end || b.begin == b.end) return Status::Ok();
  if (a.begin < b.end && b.begin < a.end)
    return invalid(a.name, cat("memory disjoint from ", b.name),
                   cat("overlapping byte ranges ", range_string(a), " and ", range_string(b)));
  return Status::Ok();
}

// ---- tensors of the split-KV schedule ---------------------------------------------------------------

Status check_metadata(const TensorView& v, const TensorView& ref, bool cuda, const char* note,
                      const char* name = "tile_scheduler_metadata") {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 2, "[num_sm_parts, 8]", note));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[0] < 1 || v.shape[0] > kMaxSmParts)
    return invalid(dim_name(name, 0, "num_sm_parts"), cat("1..", kMaxSmParts), cat(v.shape[0]));
  if (v.shape[1] != kScheduleRecordInts)
    return invalid(dim_name(name, 1, "record size"), cat(kScheduleRecordInts), cat(v.shape[1]));
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name, cuda ? kBaseAlignBytes : 0, "vector loads and stores of records");
}

Status check_num_splits(const TensorView& v, const TensorView& ref, int64_t batch, const char* note,
                        const char* name = "num_splits") {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 1, "[b + 1]", note));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[0] != batch + 1)
    return invalid(dim_name(name, 0, nullptr), cat(batch + 1, " (b + 1, b = ", batch, ")"), cat(v.shape[0]));
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name);
}

Status check_cache_seqlens(const TensorView& v, const TensorView& ref, int64_t batch, bool batch_known) {
  const char* const name = "cache_seqlens";
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 1, "[b]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(v, name, ref));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (batch_known) {
    if (v.shape[0] != batch)
      return invalid(dim_name(name, 0, nullptr), cat(batch, " (batch of q)"), cat(v.shape[0]));
  } else if (v.shape[0] < 1 || v.shape[0] > kMaxBatch) {
    return invalid(dim_name(name, 0, "batch"), cat("1..", kMaxBatch), cat(v.shape[0]));
  }
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(v, name));
  return check_pointer(v, name);
}

std::string not_built_message() { return "flashmla was built without CUDA kernels (FLASHMLA_ENABLE_CUDA=OFF)"; }

}  // namespace

std::string device_string(DeviceType device, int32_t index) {
  switch (device) {
    case DeviceType::kCPU: return "cpu";
    case DeviceType::kCUDA: return cat("cuda:", index);
  }
  return cat("unknown device type (", static_cast<int32_t>(device), ")");
}

float default_softmax_scale(int64_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

bool checked_workspace_bytes(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                             int32_t num_sm_parts, size_t* bytes) {
  if (batch < 0 || s_q < 0 || h_q < 0 || head_dim_v < 0 || num_sm_parts < 0) return false;
  // rows * (dv + 1) * 4 plus the layout's alignment pads and status word (well under 4 KiB) must fit.
  const unsigned __int128 slots = static_cast<unsigned __int128>(batch) + static_cast<uint32_t>(num_sm_parts);
  const unsigned __int128 rows = slots * static_cast<uint32_t>(s_q) * static_cast<uint32_t>(h_q);
  const unsigned __int128 need = rows * (static_cast<uint32_t>(head_dim_v) + 1u) * sizeof(float) + 4096u;
  if (need > static_cast<unsigned __int128>(std::numeric_limits<size_t>::max())) return false;
  if (bytes) *bytes = workspace_layout(batch, s_q, h_q, head_dim_v, num_sm_parts).total_bytes;
  return true;
}

Status validate_sm_parts_query(int32_t num_q_rows_per_head_k, int32_t num_heads_k, int32_t s_q) {
  if (num_q_rows_per_head_k < 1)
    return invalid("num_q_rows_per_head_k", ">= 1 (s_q * h_q / h_kv)", cat(num_q_rows_per_head_k));
  if (num_heads_k < 1) return invalid("num_heads_k", cat("1..", kMaxHeadsK), cat(num_heads_k));
  if (num_heads_k > kMaxHeadsK) return unsupported("num_heads_k", cat("1..", kMaxHeadsK), cat(num_heads_k));
  if (s_q < 0) return invalid("s_q", ">= 0 (0 = unknown)", cat(s_q));
  return Status::Ok();
}

Status validate_schedule(const ScheduleArgs& a, int32_t* batch) {
  const TensorView& sl = a.cache_seqlens;
  // The device of cache_seqlens is the reference for the outputs.
  FLASHMLA_RETURN_IF_ERROR(check_rank(sl, "cache_seqlens", 1, "[b]"));
  if (sl.device != DeviceType::kCPU && sl.device != DeviceType::kCUDA)
    return invalid("cache_seqlens.device", "cpu or cuda", dev_string(sl));
  if (sl.is_cuda() && sl.device_index < 0)
    return invalid("cache_seqlens.device_index", ">= 0", cat(sl.device_index));
  FLASHMLA_RETURN_IF_ERROR(check_cache_seqlens(sl, sl, 0, /*batch_known=*/false));
  const int64_t b = sl.shape[0];
  FLASHMLA_RETURN_IF_ERROR(validate_sm_parts_query(a.num_q_rows_per_head_k, a.num_heads_k, a.s_q));

  const bool cuda = sl.is_cuda();
  auto same_dev = [&](const TensorView& v, const char* name) -> Status {
    if (v.device != sl.device || (cuda && v.device_index != sl.device_index))
      return invalid(cat(name, ".device"), cat(dev_string(sl), " (same as cache_seqlens)"), dev_string(v));
    return Status::Ok();
  };
  const TensorView& md = a.tile_scheduler_metadata;
  const TensorView& ns = a.num_splits;
  FLASHMLA_RETURN_IF_ERROR(check_rank(md, "tile_scheduler_metadata", 2, "[num_sm_parts, 8]"));
  FLASHMLA_RETURN_IF_ERROR(same_dev(md, "tile_scheduler_metadata"));
  FLASHMLA_RETURN_IF_ERROR(check_metadata(md, md, cuda, nullptr));
  if (a.num_sm_parts != md.shape[0])
    return invalid("num_sm_parts", cat(md.shape[0], " (tile_scheduler_metadata.shape[0])"), cat(a.num_sm_parts));
  FLASHMLA_RETURN_IF_ERROR(check_rank(ns, "num_splits", 1, "[b + 1]"));
  FLASHMLA_RETURN_IF_ERROR(same_dev(ns, "num_splits"));
  FLASHMLA_RETURN_IF_ERROR(check_num_splits(ns, ns, b, nullptr));

  // The outputs must overlap neither the input nor each other.
  int64_t lo = 0, hi = 0;
  FLASHMLA_RETURN_IF_ERROR(check_sizes(sl, "cache_seqlens", &lo, &hi));
  const ByteRange r_sl = range_of(sl, "cache_seqlens", lo, hi);
  FLASHMLA_RETURN_IF_ERROR(check_sizes(md, "tile_scheduler_metadata", &lo, &hi));
  const ByteRange r_md = range_of(md, "tile_scheduler_metadata", lo, hi);
  FLASHMLA_RETURN_IF_ERROR(check_sizes(ns, "num_splits", &lo, &hi));
  const ByteRange r_ns = range_of(ns, "num_splits", lo, hi);
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_md, r_sl));
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ns, r_sl));
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ns, r_md));

  if (cuda && !kCudaBuilt) return unsupported("cache_seqlens.device", cat("cpu (", not_built_message(), ")"), dev_string(sl));
  if (batch) *batch = static_cast<int32_t>(b);
  return Status::Ok();
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
  if (q.device != DeviceType::kCPU && q.device != DeviceType::kCUDA)
    return invalid("q.device", "cpu or cuda", dev_string(q));
  if (q.is_cuda() && q.device_index < 0) return invalid("q.device_index", ">= 0", cat(q.device_index));
  const bool cuda = q.is_cuda();
  if (q.dtype != DType::kBF16 && q.dtype != DType::kFP16)
    return invalid("q.dtype", "bfloat16 or float16", dtype_string(q.dtype));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(q, "q"));
  const int64_t b = q.shape[0], s_q = q.shape[1], h_q = q.shape[2], d = q.shape[3];
  if (b < 1 || b > kMaxBatch) return invalid(dim_name("q", 0, "b"), cat("1..", kMaxBatch), cat(b));
  if (s_q < 1) return invalid(dim_name("q", 1, "s_q"), ">= 1", cat(s_q));
  if (h_q < 1) return invalid(dim_name("q", 2, "h_q"), ">= 1", cat(h_q));
  if (static_cast<__int128>(b) * s_q * h_q > kMaxQueryRows)
    return invalid("q", cat("at most ", kMaxQueryRows, " query rows (b * s_q * h_q)"),
                   cat("shape ", dims_string(q)));
  if (d != kHeadDimQK) return unsupported(dim_name("q", 3, "head dim"), cat(kHeadDimQK), cat(d));
  if (a.head_dim_v < 1 || a.head_dim_v > d) return invalid("head_dim_v", cat(kHeadDimV), cat(a.head_dim_v));
  if (a.head_dim_v != kHeadDimV) return unsupported("head_dim_v", cat(kHeadDimV), cat(a.head_dim_v));
  const int64_t dv = a.head_dim_v;

  // ---- k_cache ----
  FLASHMLA_RETURN_IF_ERROR(
      check_rank(k, "k_cache", 4, "[num_blocks, 64, h_kv, 576]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(k, "k_cache", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(k, "k_cache", q.dtype, "same as q"));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(k, "k_cache"));
  const int64_t num_blocks = k.shape[0], page = k.shape[1], h_kv = k.shape[2];
  if (num_blocks < 1) return invalid(dim_name("k_cache", 0, "num_blocks"), ">= 1", cat(num_blocks));
  if (page < 1) return invalid(dim_name("k_cache", 1, "page size"), cat(kPageSize), cat(page));
  if (page != kPageSize) return unsupported(dim_name("k_cache", 1, "page size"), cat(kPageSize), cat(page));
  if (h_kv < 1) return invalid(dim_name("k_cache", 2, "h_kv"), cat("1..", kMaxHeadsK), cat(h_kv));
  if (h_kv > kMaxHeadsK) return unsupported(dim_name("k_cache", 2, "h_kv"), cat("1..", kMaxHeadsK), cat(h_kv));
  if (k.shape[3] != d) return invalid(dim_name("k_cache", 3, "head dim"), cat(d, " (same as q)"), cat(k.shape[3]));
  if (h_q % h_kv != 0) return invalid("h_q % h_kv", "0", cat("h_q=", h_q, ", h_kv=", h_kv));

  // ---- block_table, cache_seqlens ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(bt, "block_table", 2, "[b, max_blocks_per_seq]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(bt, "block_table", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(bt, "block_table", DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(bt, "block_table"));
  if (bt.shape[0] != b) return invalid(dim_name("block_table", 0, nullptr), cat(b, " (batch of q)"), cat(bt.shape[0]));
  if (bt.shape[1] > std::numeric_limits<int32_t>::max())
    return invalid(dim_name("block_table", 1, "max_blocks_per_seq"), "at most 2^31 - 1", cat(bt.shape[1]));
  FLASHMLA_RETURN_IF_ERROR(check_cache_seqlens(sl, q, b, /*batch_known=*/true));

  // ---- out, lse ----
  FLASHMLA_RETURN_IF_ERROR(check_rank(out, "out", 4, "[b, s_q, h_q, head_dim_v]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(out, "out", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(out, "out", q.dtype, "same as q"));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(out, "out"));
  if (out.shape[0] != b || out.shape[1] != s_q || out.shape[2] != h_q || out.shape[3] != dv)
    return invalid("out.shape", cat("[", b, ", ", s_q, ", ", h_q, ", ", dv, "] ([b, s_q, h_q, head_dim_v])"),
                   dims_string(out));
  FLASHMLA_RETURN_IF_ERROR(check_rank(lse, "lse", 3, "[b, h_q, s_q]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(lse, "lse", q));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(lse, "lse", DType::kFP32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(lse, "lse"));
  if (lse.shape[0] != b || lse.shape[1] != h_q || lse.shape[2] != s_q)
    return invalid("lse.shape", cat("[", b, ", ", h_q, ", ", s_q, "] ([b, h_q, s_q])"), dims_string(lse));

  // ---- schedule (required for CUDA, optional on the CPU) ----
  const char* sched_note = "required for CUDA tensors: from compute_schedule()";
  int64_t num_sm_parts = 0;
  if (cuda || md.defined()) {
    FLASHMLA_RETURN_IF_ERROR(check_metadata(md, q, cuda, cuda ? sched_note : nullptr));
    num_sm_parts = md.shape[0];
  }
  if (cuda || ns.defined()) FLASHMLA_RETURN_IF_ERROR(check_num_splits(ns, q, b, cuda ? sched_note : nullptr));

  // ---- strides and pointers ----
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(q, "q", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(k, "k_cache", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(out, "out", 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(bt, "block_table", 1, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(q, "q", cuda, "TMA needs 16-byte aligned strides"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(k, "k_cache", cuda, "TMA needs 16-byte aligned strides"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(out, "out", cuda, "16-byte vector stores"));
  FLASHMLA_RETURN_IF_ERROR(check_no_zero_stride(out, "out"));
  FLASHMLA_RETURN_IF_ERROR(check_no_zero_stride(lse, "lse"));
  const int64_t base_align = cuda ? kBaseAlignBytes : 0;
  FLASHMLA_RETURN_IF_ERROR(check_pointer(q, "q", base_align, "TMA"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(k, "k_cache", base_align, "TMA"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(bt, "block_table"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(out, "out", base_align, "16-byte vector stores"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(lse, "lse"));

  // ---- softmax scale ----
  float scale = a.softmax_scale;
  if (std::isnan(scale) || scale <= 0.0f) {
    scale = default_softmax_scale(d);
  } else if (std::isinf(scale)) {
    return invalid("softmax_scale", cat("a finite value > 0 (or <= 0 / NaN for the default 1/sqrt(", d, "))"),
                   "inf");
  }

  // ---- workspace (CUDA) ----
  size_t ws_needed = 0;
  if (cuda) {
    if (!checked_workspace_bytes(static_cast<int32_t>(b), static_cast<int32_t>(s_q), static_cast<int32_t>(h_q),
                                 static_cast<int32_t>(dv), static_cast<int32_t>(num_sm_parts), &ws_needed))
      return invalid("workspace_bytes", "a workspace size that fits in size_t", "an overflowing size");
    if (ws_needed > 0) {
      if (a.workspace == nullptr)
        return invalid("workspace", cat("a non-null pointer to ", ws_needed, " bytes (decode_workspace_size)"), "null");
      if (a.workspace_bytes < ws_needed)
        return invalid("workspace_bytes",
                       cat(">= ", ws_needed, " (decode_workspace_size(", b, ", ", s_q, ", ", h_q, ", ", dv, ", ",
                           num_sm_parts, "))"),
                       cat(a.workspace_bytes));
      if (reinterpret_cast<uintptr_t>(a.workspace) % kBaseAlignBytes != 0)
        return invalid("workspace", cat("a ", kBaseAlignBytes, "-byte aligned address"), ptr_string(a.workspace));
    }
  }

  // ---- aliasing: outputs vs inputs, out vs lse, workspace vs everything ----
  {
    struct Entry {
      const TensorView* v;
      const char* name;
    };
    const Entry entries[] = {{&q, "q"},     {&k, "k_cache"}, {&bt, "block_table"},
                             {&sl, "cache_seqlens"}, {&md, "tile_scheduler_metadata"},
                             {&ns, "num_splits"}, {&out, "out"}, {&lse, "lse"}};
    constexpr int kNum = sizeof(entries) / sizeof(entries[0]);
    ByteRange ranges[kNum];
    for (int i = 0; i < kNum; ++i) {
      int64_t lo = 0, hi = -1;
      if (entries[i].v->rank > 0) FLASHMLA_RETURN_IF_ERROR(check_sizes(*entries[i].v, entries[i].name, &lo, &hi));
      ranges[i] = range_of(*entries[i].v, entries[i].name, lo, hi);
    }
    const ByteRange& r_out = ranges[kNum - 2];
    const ByteRange& r_lse = ranges[kNum - 1];
    for (int i = 0; i < kNum - 2; ++i) {
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_out, ranges[i]));
      FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, ranges[i]));
    }
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_lse, r_out));
    if (cuda && ws_needed > 0) {
      ByteRange r_ws;
      r_ws.name = "workspace";
      r_ws.begin = static_cast<__int128>(reinterpret_cast<uintptr_t>(a.workspace));
      r_ws.end = r_ws.begin + static_cast<__int128>(ws_needed);
      for (int i = 0; i < kNum; ++i) FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ws, ranges[i]));
    }
  }

  // ---- what this build can run ----
  if (cuda && !kCudaBuilt) return unsupported("q.device", cat("cpu (", not_built_message(), ")"), dev_string(q));
  if (cuda && q.dtype == DType::kFP16 && !kFp16KernelsBuilt)
    return unsupported("q.dtype", "bfloat16 (the float16 kernels were not built: FLASHMLA_ENABLE_FP16=OFF)",
                       "float16");

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

  // ---- values (host memory only) ----
  if (!cuda) FLASHMLA_RETURN_IF_ERROR(validate_decode_values(a, shape));

  if (out_shape) *out_shape = shape;
  return Status::Ok();
}

Status validate_decode_values(const DecodeArgs& a, const DecodeShape& s) {
  const auto* seqlens = static_cast<const int32_t*>(a.cache_seqlens.data);
  const auto* table = static_cast<const int32_t*>(a.block_table.data);
  const int64_t sl_stride = a.cache_seqlens.stride[0];
  const int64_t bt_s0 = a.block_table.stride[0], bt_s1 = a.block_table.stride[1];
  for (int64_t i = 0; i < s.batch; ++i) {
    const int32_t len = seqlens[i * sl_stride];
    if (len < 0) return invalid(cat("cache_seqlens[", i, "]"), ">= 0", cat(len));
    const int64_t pages = plan::num_blocks_of(len);
    if (pages > s.max_blocks_per_seq)
      return invalid("block_table.shape[1]", cat(">= ", pages, " (pages needed by cache_seqlens[", i, "] = ", len, ")"),
                     cat(s.max_blocks_per_seq));
    for (int64_t p = 0; p < pages; ++p) {
      const int32_t id = table[i * bt_s0 + p * bt_s1];
      if (id < 0 || id >= s.num_blocks)
        return invalid(cat("block_table[", i, "][", p, "]"),
                       cat("a page id in [0, ", s.num_blocks, ") (k_cache.shape[0]; request ", i, " uses ", pages,
                           " pages for cache_seqlens[", i, "] = ", len, ")"),
                       cat(id));
    }
  }
  return Status::Ok();
}

}  // namespace flashmla::detail
