// quantize_kv_cache(), dequantize_kv_cache() (include/flashmla/quantize.h): validation, then the CPU
// codec of src/cpu/quantize.cpp over every token.
#include "flashmla/quantize.h"

#include <cmath>
#include <limits>

#include "api/checks.h"
#include "api/guard.h"
#include "common/kv_format.h"
#include "cpu/quantize.h"

namespace flashmla {
namespace {

using namespace checks;  // NOLINT

struct CacheDims {
  int64_t num_blocks = 0, page = 0, page_stride = 0;
};

Status check_format(KvFormat f) {
  if (f == KvFormat::kSparseV32 || f == KvFormat::kSparseModel1) return Status::Ok();
  return invalid("format", "KvFormat::kSparseV32 or KvFormat::kSparseModel1", kv_format_name(f), ErrorKind::kValue);
}

Status check_cpu(const TensorView& v, const char* name) {
  FLASHMLA_RETURN_IF_ERROR(check_device_known(v, name));
  if (v.is_cuda())
    return unsupported(cat(name, ".device"), "cpu (the quantizer runs on the host)",
                       device_string(v.device, v.device_index), ErrorKind::kDevice);
  return Status::Ok();
}

// bf16 [num_blocks, page, 1, d_qk], last dim contiguous.
Status check_latent(const TensorView& v, const char* name, KvFormat f) {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 4, "[num_blocks, page_block_size, 1, d_qk]"));
  FLASHMLA_RETURN_IF_ERROR(check_cpu(v, name));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(v, name, DType::kBF16));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  if (v.shape[2] != 1) return invalid(dim_name(name, 2, "h_kv"), "1", cat(v.shape[2]), ErrorKind::kShape);
  if (v.shape[3] != kvfmt::dim_qk(f))
    return invalid(dim_name(name, 3, "d_qk"), cat(kvfmt::dim_qk(f), " (", kv_format_name(f), ")"), cat(v.shape[3]),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(v, name, 3, "last dimension contiguous"));
  FLASHMLA_RETURN_IF_ERROR(check_row_strides(v, name, false, ""));
  return check_pointer(v, name);
}

// bytes [num_blocks, page, 1, bpt], rows contiguous, page stride >= page * bpt; shape[0..1] as `like`.
Status check_cache(const TensorView& v, const char* name, KvFormat f, const TensorView& like, CacheDims* d) {
  FLASHMLA_RETURN_IF_ERROR(check_rank(v, name, 4, "[num_blocks, page_block_size, 1, bytes_per_token]"));
  FLASHMLA_RETURN_IF_ERROR(check_cpu(v, name));
  if (v.dtype != DType::kUInt8 && v.dtype != DType::kInt8 && v.dtype != DType::kFP8E4M3)
    return invalid(cat(name, ".dtype"), "uint8, int8 or float8_e4m3fn", dtype_string(v.dtype), ErrorKind::kType);
  FLASHMLA_RETURN_IF_ERROR(check_sizes(v, name));
  const int64_t bpt = kvfmt::bytes_per_token(f);
  for (int i = 0; i < 2; ++i)
    if (v.shape[i] != like.shape[i])
      return invalid(cat(name, ".shape[", i, "]"), cat(like.shape[i], " (as the bf16 tensor)"), cat(v.shape[i]),
                     ErrorKind::kShape);
  if (v.shape[2] != 1) return invalid(dim_name(name, 2, "h_kv"), "1", cat(v.shape[2]), ErrorKind::kShape);
  if (v.shape[3] != bpt)
    return invalid(dim_name(name, 3, "bytes_per_token"), cat(bpt, " (", kv_format_name(f), ")"), cat(v.shape[3]),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_unit_stride(v, name, 3, "token bytes contiguous"));
  d->num_blocks = v.shape[0];
  d->page = v.shape[1];
  if (d->page > 1 && v.stride[1] != bpt)
    return invalid(cat(name, ".stride[1]"), cat(bpt, " (row stride = bytes_per_token)"), cat(v.stride[1]),
                   ErrorKind::kStride);
  d->page_stride = d->num_blocks > 1 ? v.stride[0] : d->page * bpt;
  if (d->page_stride < d->page * bpt)
    return invalid(cat(name, ".stride[0]"), cat(">= ", d->page * bpt, " bytes"), cat(v.stride[0]), ErrorKind::kStride);
  return check_pointer(v, name);
}

template <class Fn>
void for_tokens(const CacheDims& d, const TensorView& latent, Fn&& fn) {
  for (int64_t p = 0; p < d.num_blocks; ++p)
    for (int64_t r = 0; r < d.page; ++r)
      fn(p, r, static_cast<uint16_t*>(latent.data) + p * latent.stride[0] + r * latent.stride[1]);
}

}  // namespace

Status quantize_kv_cache(KvFormat format, const TensorView& input, const TensorView& cache) noexcept {
  return detail::guarded("quantize_kv_cache", [&]() -> Status {
    FLASHMLA_RETURN_IF_ERROR(check_format(format));
    FLASHMLA_RETURN_IF_ERROR(check_latent(input, "input", format));
    CacheDims d;
    FLASHMLA_RETURN_IF_ERROR(check_cache(cache, "cache", format, input, &d));
    FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(cache, "cache"));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(range_of(cache, "cache"), range_of(input, "input")));
    auto* base = static_cast<uint8_t*>(cache.data);
    for_tokens(d, input, [&](int64_t p, int64_t r, const uint16_t* x) {
      const cpu::TokenBytes tb = cpu::token_bytes(format, base, d.page_stride, d.page, p, r);
      cpu::quantize_token(format, x, const_cast<uint8_t*>(tb.data), const_cast<uint8_t*>(tb.scales));
    });
    return Status::Ok();
  });
}

Status dequantize_kv_cache(KvFormat format, const TensorView& cache, const TensorView& output) noexcept {
  return detail::guarded("dequantize_kv_cache", [&]() -> Status {
    FLASHMLA_RETURN_IF_ERROR(check_format(format));
    FLASHMLA_RETURN_IF_ERROR(check_latent(output, "output", format));
    CacheDims d;
    FLASHMLA_RETURN_IF_ERROR(check_cache(cache, "cache", format, output, &d));
    FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(output, "output"));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(range_of(output, "output"), range_of(cache, "cache")));
    const auto* base = static_cast<const uint8_t*>(cache.data);
    for_tokens(d, output, [&](int64_t p, int64_t r, uint16_t* x) {
      const cpu::TokenBytes tb = cpu::token_bytes(format, base, d.page_stride, d.page, p, r);
      cpu::dequantize_token(format, tb.data, tb.scales, x);
    });
    return Status::Ok();
  });
}

Status quantize_dense_fp8(const TensorView& input, const TensorView& cache, const TensorView& descale) noexcept {
  return detail::guarded("quantize_dense_fp8", [&]() -> Status {
    FLASHMLA_RETURN_IF_ERROR(check_rank(input, "input", 4, "[num_blocks, page, h_kv, 576]"));
    FLASHMLA_RETURN_IF_ERROR(check_cpu(input, "input"));
    FLASHMLA_RETURN_IF_ERROR(check_dtype(input, "input", DType::kBF16));
    FLASHMLA_RETURN_IF_ERROR(check_sizes(input, "input"));
    FLASHMLA_RETURN_IF_ERROR(check_unit_stride(input, "input", 3, "last dimension contiguous"));
    FLASHMLA_RETURN_IF_ERROR(check_pointer(input, "input"));
    FLASHMLA_RETURN_IF_ERROR(check_rank(cache, "cache", 4, "[num_blocks, page, h_kv, 576] (as input)"));
    FLASHMLA_RETURN_IF_ERROR(check_cpu(cache, "cache"));
    if (cache.dtype != DType::kUInt8 && cache.dtype != DType::kFP8E4M3)
      return invalid("cache.dtype", "float8_e4m3fn or uint8", dtype_string(cache.dtype), ErrorKind::kType);
    FLASHMLA_RETURN_IF_ERROR(check_sizes(cache, "cache"));
    for (int i = 0; i < 4; ++i)
      if (cache.shape[i] != input.shape[i])
        return invalid(cat("cache.shape[", i, "]"), cat(input.shape[i], " (as input)"), cat(cache.shape[i]),
                       ErrorKind::kShape);
    FLASHMLA_RETURN_IF_ERROR(check_unit_stride(cache, "cache", 3, "last dimension contiguous"));
    FLASHMLA_RETURN_IF_ERROR(check_no_self_overlap(cache, "cache"));
    FLASHMLA_RETURN_IF_ERROR(check_pointer(cache, "cache"));
    FLASHMLA_RETURN_IF_ERROR(check_rank(descale, "descale", 1, "[1]"));
    FLASHMLA_RETURN_IF_ERROR(check_cpu(descale, "descale"));
    FLASHMLA_RETURN_IF_ERROR(check_dtype(descale, "descale", DType::kFP32));
    FLASHMLA_RETURN_IF_ERROR(check_sizes(descale, "descale"));
    if (descale.shape[0] != 1) return invalid("descale.shape[0]", "1", cat(descale.shape[0]), ErrorKind::kShape);
    FLASHMLA_RETURN_IF_ERROR(check_pointer(descale, "descale"));
    const ByteRange rc = range_of(cache, "cache"), rd = range_of(descale, "descale"), ri = range_of(input, "input");
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(rc, ri));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(rd, ri));
    FLASHMLA_RETURN_IF_ERROR(check_disjoint(rd, rc));
    const int64_t* is = input.stride;
    const int64_t* cs = cache.stride;
    const int64_t n = input.shape[3];
    auto rows = [&](auto&& fn) {
      for (int64_t p = 0; p < input.shape[0]; ++p)
        for (int64_t r = 0; r < input.shape[1]; ++r)
          for (int64_t h = 0; h < input.shape[2]; ++h)
            fn(static_cast<const uint16_t*>(input.data) + p * is[0] + r * is[1] + h * is[2],
               static_cast<uint8_t*>(cache.data) + p * cs[0] + r * cs[1] + h * cs[2]);
    };
    float amax = 0.0f;
    rows([&](const uint16_t* x, uint8_t*) {
      const float m = cpu::bf16_amax(x, n);
      amax = m > amax || m != m ? m : amax;
    });
    if (!std::isfinite(amax)) return invalid("input", "finite values", "NaN or inf", ErrorKind::kValue);
    float scale = amax / 448.0f;
    if (!(scale >= std::numeric_limits<float>::min())) scale = 1.0f;  // all zeros (or denormal amax)
    rows([&](const uint16_t* x, uint8_t* out) { cpu::quantize_dense_row(x, n, scale, out); });
    *static_cast<float*>(descale.data) = scale;
    return Status::Ok();
  });
}

}  // namespace flashmla
