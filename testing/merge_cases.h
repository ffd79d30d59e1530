// Cases of merge_partial_attention (include/flashmla/merge.h), shared by the CPU and GPU tests.
//
// A MergeCaseSpec names n parts of a [b, s_q, h_q, dv] result; make_merge_case() builds host buffers:
//   - outs: clamp(randn / 10, -1, 1) in the case's dtype; lses: uniform in [-spread, spread];
//   - empty parts (lse +inf, or -inf for `neg_inf`) have NaN in every element of their out row, which
//     the merge must never read; kAllEmptyRows also empties every part of every third row; kAllEmpty
//     empties everything; kNanLse puts a NaN lse into one part of the first and last rows;
//   - `strided`: permuted, padded layouts on every tensor (outs stored [b, n, h_q, s_q, dv + 8],
//     lses [b, s_q, h_q, n] so stride_n = 1, out rows padded, lse stored [b, s_q, h_q]);
//   - `misaligned`: every base pointer one element past a 16-byte boundary, rows of odd length, so the
//     GPU takes its scalar path;
//   - out and lse buffers are filled with 0xFF bytes (NaN) before each run, padding included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compare.h"
#include "flashmla/merge.h"
#include "flashmla/types.h"

namespace flashmla::test {

enum class EmptyPattern { kNone, kSome, kAllEmptyRows, kAllEmpty, kNanLse };

struct MergeCaseSpec {
  std::string name;
  int32_t n = 2, b = 1, s_q = 1, h_q = 1, dv = 512;
  DType in = DType::kBF16, out = DType::kBF16;
  EmptyPattern empty = EmptyPattern::kNone;
  bool neg_inf = false;     // empty parts get -inf instead of +inf (half of them)
  bool strided = false;
  bool misaligned = false;
  float spread = 8.0f;      // lse_i in [-spread, spread]
};

// One tensor: a byte buffer and a view into it (offsets in elements from the buffer's start).
struct HostTensor {
  std::vector<uint8_t> bytes;
  TensorView view;     // shape, dtype and strides (data unset: at() places it on a buffer)
  int64_t offset = 0;  // elements from the buffer start to view element [0, ...]
  TensorView at(void* base, DeviceType dev = DeviceType::kCPU) const;
};

struct MergeHost {
  MergeCaseSpec spec;
  HostTensor outs, lses, out, lse;
  MergeArgs args(DeviceType dev = DeviceType::kCPU, void* outs_base = nullptr, void* lses_base = nullptr,
                 void* out_base = nullptr, void* lse_base = nullptr);
};

MergeHost make_merge_case(const MergeCaseSpec& spec);
void poison(HostTensor& t);  // every byte 0xFF

// The naive reference of the spec's formula, straight from its definition (no max shift; the cases'
// lses are small), in double: ref_out [b, s_q, h_q, dv] and ref_lse [b, h_q, s_q], contiguous.
void naive_merge(const MergeHost& c, std::vector<double>* ref_out, std::vector<double>* ref_lse);

// Element (b, s, h, c) of out / (b, h, s) of lse read through the views' strides from `buf` (a host
// copy of the buffer), as float; contiguous [b, s_q, h_q, dv] / [b, h_q, s_q] arrays.
std::vector<float> gather_out(const MergeHost& c, const std::vector<uint8_t>& buf);
std::vector<float> gather_lse(const MergeHost& c, const std::vector<uint8_t>& buf);
// Every byte of `buf` outside the view's elements still 0xFF (outputs write nothing else).
bool padding_intact(const HostTensor& t, const std::vector<uint8_t>& buf, std::string* where);

// Tolerance of a merged out in `dtype`: the 16-bit output tolerance, or for fp32 an absolute 1e-5
// (fp32 accumulation of <= 64 terms with |out_i| <= 1: <= 64 * 2^-24 ~ 4e-6) / relative 8 ulp.
Tolerance merged_out_tolerance(DType dtype);
// Compares got (float values of out, e.g. gather_out) with ref (double) after rounding ref to `dtype`.
CompareResult compare_merged_out(const std::vector<float>& got, const std::vector<double>& ref, DType dtype,
                                 const std::vector<int64_t>& shape);

// The named case lists of the tests.
std::vector<MergeCaseSpec> merge_cases_small();  // CPU + GPU correctness
MergeCaseSpec merge_case_large();                // GPU bandwidth: b*s_q*h_q = 16384 rows, n = 4

}  // namespace flashmla::test
