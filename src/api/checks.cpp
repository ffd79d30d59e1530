// Per-tensor check primitives (see checks.h).
#include "api/checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace flashmla::checks {
namespace {

int clamp_rank(const TensorView& v) { return v.rank < 0 ? 0 : (v.rank > kMaxRank ? kMaxRank : v.rank); }

std::string strides_string(const TensorView& v) {
  std::string s = "(";
  for (int i = 0; i < clamp_rank(v); ++i) s += cat(i ? ", " : "", v.stride[i]);
  return s + ")";
}
std::string rank_string(const TensorView& v) {
  if (v.rank < 0 || v.rank > kMaxRank) return cat("rank ", v.rank);
  std::string s = cat("rank ", v.rank, " ", dims_string(v));
  if (!v.defined()) s += " (undefined tensor)";
  return s;
}
std::string range_string(const ByteRange& r) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "[0x%llx, 0x%llx)", static_cast<unsigned long long>(r.begin),
                static_cast<unsigned long long>(r.end));
  return buf;
}

}  // namespace

Status invalid(const std::string& arg, const std::string& expected, const std::string& got, ErrorKind kind) {
  return Status(StatusCode::kInvalidArgument, arg + ": expected " + expected + ", got " + got, kind);
}
Status unsupported(const std::string& arg, const std::string& expected, const std::string& got, ErrorKind kind) {
  return Status(StatusCode::kNotSupported, arg + ": expected " + expected + ", got " + got, kind);
}

std::string device_string(DeviceType device, int32_t index) {
  switch (device) {
    case DeviceType::kCPU: return "cpu";
    case DeviceType::kCUDA: return cat("cuda:", index);
  }
  return cat("unknown device type (", static_cast<int32_t>(device), ")");
}
std::string dims_string(const TensorView& v) {
  std::string s = "[";
  for (int i = 0; i < clamp_rank(v); ++i) s += cat(i ? ", " : "", v.shape[i]);
  return s + "]";
}
std::string dtype_string(DType t) {
  if (dtype_known(t)) return dtype_name(t);
  return cat("unknown dtype (", static_cast<int32_t>(t), ")");
}
std::string ptr_string(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%p", p);
  return p ? std::string(buf) : std::string("null");
}
std::string dim_name(const char* tensor, int dim, const char* what) {
  return what ? cat(tensor, ".shape[", dim, "] (", what, ")") : cat(tensor, ".shape[", dim, "]");
}

Status check_rank(const TensorView& v, const char* name, int32_t rank, const char* layout, const char* note) {
  if (v.rank == rank) return Status::Ok();
  std::string expected = cat("rank ", rank, " ", layout);
  if (note) expected += cat(" (", note, ")");
  return invalid(name, expected, rank_string(v), ErrorKind::kShape);
}

Status check_dtype(const TensorView& v, const char* name, DType want, const char* note) {
  if (v.dtype == want) return Status::Ok();
  std::string expected = dtype_name(want);
  if (note) expected += cat(" (", note, ")");
  return invalid(cat(name, ".dtype"), expected, dtype_string(v.dtype), ErrorKind::kType);
}

Status check_device_known(const TensorView& v, const char* name) {
  if (v.device != DeviceType::kCPU && v.device != DeviceType::kCUDA)
    return invalid(cat(name, ".device"), "cpu or cuda", device_string(v.device, v.device_index), ErrorKind::kDevice);
  if (v.is_cuda() && v.device_index < 0)
    return invalid(cat(name, ".device_index"), ">= 0", cat(v.device_index), ErrorKind::kDevice);
  return Status::Ok();
}

Status check_same_device(const TensorView& v, const char* name, const TensorView& ref, const char* ref_name) {
  const bool known = v.device == DeviceType::kCPU || v.device == DeviceType::kCUDA;
  if (known && v.device == ref.device && (!ref.is_cuda() || v.device_index == ref.device_index)) return Status::Ok();
  // Formatted only on failure: this runs for every tensor of every call.
  const std::string want = cat(device_string(ref.device, ref.device_index), " (same as ", ref_name, ")");
  if (!known)
    return invalid(cat(name, ".device"), want, cat("unknown device type (", static_cast<int32_t>(v.device), ")"),
                   ErrorKind::kDevice);
  return invalid(cat(name, ".device"), want, device_string(v.device, v.device_index), ErrorKind::kDevice);
}

Status check_sizes(const TensorView& v, const char* name, int64_t* lo_out, int64_t* hi_out) {
  if (v.rank < 0 || v.rank > kMaxRank)
    return invalid(name, cat("rank 0..", kMaxRank), cat("rank ", v.rank), ErrorKind::kShape);
  if (!dtype_known(v.dtype))
    return invalid(cat(name, ".dtype"), "a known dtype", dtype_string(v.dtype), ErrorKind::kType);
  int64_t numel = 1;
  bool empty = false;
  for (int i = 0; i < v.rank; ++i) {
    if (v.shape[i] < 0) return invalid(cat(name, ".shape[", i, "]"), ">= 0", cat(v.shape[i]), ErrorKind::kShape);
    if (v.shape[i] == 0) empty = true;
    if (__builtin_mul_overflow(numel, v.shape[i], &numel))
      return invalid(name, "at most 2^63 - 1 elements", cat("shape ", dims_string(v)), ErrorKind::kShape);
  }
  int64_t lo = 0, hi = 0;
  if (!empty) {
    const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
    for (int i = 0; i < v.rank; ++i) {
      int64_t off = 0;
      bool overflow = __builtin_mul_overflow(v.shape[i] - 1, v.stride[i], &off);
      if (!overflow) overflow = off < 0 ? __builtin_add_overflow(lo, off, &lo) : __builtin_add_overflow(hi, off, &hi);
      int64_t bytes = 0;
      if (!overflow)
        overflow = hi == std::numeric_limits<int64_t>::max() || __builtin_mul_overflow(hi + 1, es, &bytes) ||
                   __builtin_mul_overflow(lo, es, &bytes);
      if (overflow)
        return invalid(cat(name, ".stride"), "strides whose byte offsets fit in 64 bits",
                       cat(strides_string(v), " for shape ", dims_string(v)), ErrorKind::kStride);
    }
  } else {
    hi = -1;
  }
  if (lo_out) *lo_out = lo;
  if (hi_out) *hi_out = hi;
  return Status::Ok();
}

Status check_pointer(const TensorView& v, const char* name, int64_t base_align, const char* why) {
  const int64_t n = v.numel();
  if (n == 0) return Status::Ok();
  if (v.data == nullptr)
    return invalid(cat(name, ".data"), cat("a non-null pointer (tensor of ", n, " elements)"), "null",
                   ErrorKind::kPointer);
  const auto addr = reinterpret_cast<uintptr_t>(v.data);
  const size_t es = dtype_size(v.dtype);
  if (es > 0 && addr % es != 0)
    return invalid(cat(name, ".data"), cat("an address aligned to ", es, " bytes (", dtype_name(v.dtype), ")"),
                   ptr_string(v.data), ErrorKind::kPointer);
  if (base_align > 0 && addr % static_cast<uint64_t>(base_align) != 0)
    return invalid(cat(name, ".data"), cat("a ", base_align, "-byte aligned address", why ? cat(" (", why, ")") : ""),
                   ptr_string(v.data), ErrorKind::kPointer);
  return Status::Ok();
}

Status check_unit_stride(const TensorView& v, const char* name, int dim, const char* what) {
  if (v.shape[dim] <= 1 || v.stride[dim] == 1) return Status::Ok();
  return invalid(cat(name, ".stride[", dim, "]"), cat("1 (", what, ")"), cat(v.stride[dim]), ErrorKind::kStride);
}

Status check_contiguous(const TensorView& v, const char* name) {
  int64_t expected = 1;
  for (int i = v.rank - 1; i >= 0; --i) {
    if (v.shape[i] > 1 && v.stride[i] != expected)
      return invalid(cat(name, ".stride[", i, "]"), cat(expected, " (contiguous)"), cat(v.stride[i]),
                     ErrorKind::kStride);
    expected *= v.shape[i];
  }
  return Status::Ok();
}

Status check_row_strides(const TensorView& v, const char* name, bool tma, const char* why) {
  const int64_t es = static_cast<int64_t>(dtype_size(v.dtype));
  for (int i = 0; i + 1 < v.rank; ++i) {
    const int64_t st = v.stride[i];
    auto arg = [&] { return cat(name, ".stride[", i, "]"); };
    if (st < 0) return invalid(arg(), ">= 0", cat(st), ErrorKind::kStride);
    // Size-1 dimensions: their stride never addresses anything (launchers substitute a valid one for
    // TMA descriptors), so frameworks' arbitrary values there are accepted.
    if (!tma || v.shape[i] == 1) continue;
    const int64_t bytes = st * es;  // cannot overflow: check_sizes bounded the extent
    if (bytes % kTmaStrideAlignBytes != 0 || bytes >= kTmaMaxStrideBytes || bytes == 0)
      return invalid(arg(),
                     cat("a ", v.shape[i] > 1 ? "positive " : "", "multiple of ", kTmaStrideAlignBytes,
                         " bytes below 2^40 (", why, "), i.e. a multiple of ", kTmaStrideAlignBytes / es, " elements"),
                     cat(st, " elements = ", bytes, " bytes"), ErrorKind::kStride);
  }
  return Status::Ok();
}

Status check_no_self_overlap(const TensorView& v, const char* name) {
  // Dimensions with more than one element, by increasing |stride|. Element offsets are distinct iff each
  // stride exceeds the largest offset reachable through the smaller dimensions (a sufficient condition
  // that every dense or sliced layout meets; exotic non-overlapping interleavings are rejected too).
  int dims[kMaxRank];
  int n = 0;
  for (int i = 0; i < v.rank; ++i)
    if (v.shape[i] > 1) dims[n++] = i;
  std::sort(dims, dims + n, [&](int a, int b) {
    const int64_t sa = v.stride[a] < 0 ? -v.stride[a] : v.stride[a], sb = v.stride[b] < 0 ? -v.stride[b] : v.stride[b];
    return sa < sb || (sa == sb && a > b);
  });
  __int128 reach = 0;  // largest offset reachable through the dimensions seen so far
  for (int k = 0; k < n; ++k) {
    const int d = dims[k];
    const __int128 st = v.stride[d] < 0 ? -static_cast<__int128>(v.stride[d]) : v.stride[d];
    if (st <= reach)
      return invalid(cat(name, ".stride[", d, "]"),
                     cat("a stride > ", static_cast<long long>(reach),
                         " (an output must not overlap itself: each element written once)"),
                     cat(v.stride[d], " with strides ", strides_string(v), " for shape ", dims_string(v)),
                     ErrorKind::kStride);
    reach += st * (v.shape[d] - 1);
  }
  return Status::Ok();
}

ByteRange range_of(const TensorView& v, const char* name) {
  ByteRange r;
  r.name = name;
  int64_t lo = 0, hi = -1;
  if (v.rank <= 0 || v.data == nullptr || !check_sizes(v, name, &lo, &hi).ok() || hi < lo) return r;
  const __int128 es = static_cast<__int128>(dtype_size(v.dtype));
  const __int128 addr = static_cast<__int128>(reinterpret_cast<uintptr_t>(v.data));
  r.begin = addr + lo * es;
  r.end = addr + (static_cast<__int128>(hi) + 1) * es;
  return r;
}

ByteRange range_of_bytes(const void* p, size_t bytes, const char* name) {
  ByteRange r;
  r.name = name;
  if (p == nullptr || bytes == 0) return r;
  r.begin = static_cast<__int128>(reinterpret_cast<uintptr_t>(p));
  r.end = r.begin + static_cast<__int128>(bytes);
  return r;
}

Status check_disjoint(const ByteRange& a, const ByteRange& b) {
  if (a.begin == a.end || b.begin == b.end) return Status::Ok();
  if (a.begin < b.end && b.begin < a.end)
    return invalid(a.name, cat("memory disjoint from ", b.name),
                   cat("overlapping byte ranges ", range_string(a), " and ", range_string(b)), ErrorKind::kAlias);
  return Status::Ok();
}

float default_softmax_scale(int64_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

Status resolve_softmax_scale(float scale, float default_scale, const char* name, float* resolved) {
  if (scale == 0.0f) {
    *resolved = default_scale;
    return Status::Ok();
  }
  if (!(scale >= std::numeric_limits<float>::min() && scale <= kMaxSoftmaxScale)) {
    // NaN, negative, subnormal, inf and huge scales: scores would be meaningless or overflow fp32 and make
    // a finite row's lse +inf, the marker of a row that saw nothing.
    return invalid(name, cat("0 (the default ", default_scale, ") or a normal float in (0, ", kMaxSoftmaxScale, "]"),
                   cat(scale), ErrorKind::kValue);
  }
  *resolved = scale;
  return Status::Ok();
}

Status check_page_table(const int32_t* seqlens, int64_t stride_seqlens, const int32_t* table, int64_t stride_b,
                        int64_t stride_p, int64_t batch, int64_t max_blocks, int64_t num_blocks, int64_t page_size) {
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t len = seqlens[i * stride_seqlens];
    if (len < 0) return invalid(cat("cache_seqlens[", i, "]"), ">= 0", cat(len), ErrorKind::kValue);
    const int64_t pages = (len + page_size - 1) / page_size;  // 64-bit: no overflow near 2^31
    if (pages > max_blocks)
      return invalid("block_table.shape[1]",
                     cat(">= ", pages, " (pages of ", page_size, " tokens needed by cache_seqlens[", i, "] = ", len, ")"),
                     cat(max_blocks), ErrorKind::kValue);
    for (int64_t p = 0; p < pages; ++p) {
      const int32_t id = table[i * stride_b + p * stride_p];
      if (id < 0 || id >= num_blocks)
        return invalid(cat("block_table[", i, "][", p, "]"),
                       cat("a page id in [0, ", num_blocks, ") (k_cache.shape[0]; request ", i, " uses ", pages,
                           " pages for cache_seqlens[", i, "] = ", len, ")"),
                       cat(id), ErrorKind::kValue);
    }
  }
  return Status::Ok();
}

Status host_ints(const TensorView& v, const char* name, Stream stream, std::vector<int32_t>* buf,
                 const int32_t** base) {
  if (!v.is_cuda()) {
    *base = static_cast<const int32_t*>(v.data);
    return Status::Ok();
  }
  int64_t lo = 0, hi = -1;
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name, &lo, &hi));
  buf->assign(static_cast<size_t>(hi - lo + 1), 0);
#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  cudaError_t err = cudaMemcpyAsync(buf->data(), static_cast<const int32_t*>(v.data) + lo, buf->size() * 4,
                                    cudaMemcpyDeviceToHost, st);
  if (err == cudaSuccess) err = cudaStreamSynchronize(st);
  if (err != cudaSuccess)
    return Status(StatusCode::kCudaError, cat("debug_checks: copying ", name, " to the host: ", cudaGetErrorName(err)));
#else
  (void)stream;
  return unsupported(name, "a CPU tensor (flashmla was built without CUDA)", "a CUDA tensor", ErrorKind::kDevice);
#endif
  *base = buf->data() - lo;
  return Status::Ok();
}

}  // namespace flashmla::checks
