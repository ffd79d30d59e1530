// The one POD parameter block of the merge kernel (filled by launch.cu from a validated MergeProblem).
// Strides are in elements of the tensor's own dtype.
#pragma once

#include <cstdint>

namespace flashmla::kernels::merge {

// Element formats of outs / out (the kernel is a template over the pair).
enum class Fmt : int32_t { kBF16 = 0, kFP16 = 1, kFP32 = 2 };

struct MergeParams {
  const void* outs;  // [n, b, s_q, h_q, dv] bf16|fp16|fp32, last dim contiguous
  int64_t stride_outs_n, stride_outs_b, stride_outs_s, stride_outs_h;
  const float* lses;  // [n, b, h_q, s_q] natural log, +-inf = empty part
  int64_t stride_lses_n, stride_lses_b, stride_lses_h, stride_lses_s;
  void* out;  // [b, s_q, h_q, dv] dtype of outs or fp32, last dim contiguous
  int64_t stride_out_b, stride_out_s, stride_out_h;
  float* lse;  // [b, h_q, s_q]
  int64_t stride_lse_b, stride_lse_h, stride_lse_s;
  int32_t num_parts;   // n, 1..64
  int32_t s_q, h_q;    // for decoding a row index into (b, s_q, h_q)
  int32_t head_dim;    // dv, 1..1024
  int32_t chunks;      // channel chunks per row (config.h: kChunk)
  int32_t num_rows;    // b * s_q * h_q, 1 .. 2^31 - 1 (validation bounds it)
};

}  // namespace flashmla::kernels::merge
