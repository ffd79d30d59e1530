// Layered tolerances, in one place (docs/architecture.md "Tests"):
//   1. identical non-finite positions: NaN where the reference has NaN, +inf where it has +inf, ...;
//   2. per element: |got - ref| < atol  OR  |got - ref| / |ref| < rtol;
//   3. on the whole tensor (outputs only): 1 - 2 * sum(x*y) / (sum(x*x) + sum(y*y)) < max_cos_diff,
//      over the finite elements (0 when both tensors are all zero).
// A comparison passes only if every element passes: there is no pass percentage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/types.h"

namespace flashmla::test {

struct Tolerance {
  double atol;
  double rtol;
  double max_cos_diff;  // < 0: no cosine check
};

// out (bf16 / fp16): about 2 ulp of bf16 relative, or an absolute floor for values near 0.
inline constexpr Tolerance kOutTolerance{8e-4, 2.01 / 128, 1e-5};
// lse (float32): about 8 ulp of float relative.
inline constexpr Tolerance kLseTolerance{1e-6, 8.01 / 65536, -1.0};

struct CompareResult {
  bool ok = true;
  int64_t count = 0;                   // elements compared
  int64_t num_bad = 0;                 // elements failing check 1 or 2
  int64_t num_nonfinite_mismatch = 0;  // of which: non-finite positions that differ
  int64_t first_bad = -1;              // flat index of the first failing element, -1 if none
  double max_abs = 0.0;                // worst |got - ref| over finite pairs
  double max_rel = 0.0;                // worst |got - ref| / |ref| over finite pairs with |got - ref| >= atol
  int64_t worst_index = -1;            // element with the largest min(abs / atol, rel / rtol)
  double cos_diff = 0.0;               // 1 - 2 sum(xy) / (sum(xx) + sum(yy)), finite pairs
  std::string message;                 // one line: "ok ..." or what failed first, with its index
};

// Generic core on float values. `shape` (optional, row-major) decodes flat indices in the message,
// e.g. "out[1, 0, 62, 511]"; `name` names the tensor.
CompareResult compare_float(const float* got, const float* ref, size_t n, const Tolerance& tol,
                            const std::vector<int64_t>& shape = {}, const std::string& name = "tensor");
// bf16 / fp16 bit patterns, e.g. out [b, s_q, h_q, 512].
CompareResult compare_half(const uint16_t* got, const uint16_t* ref, size_t n, DType dtype,
                           const Tolerance& tol = kOutTolerance, const std::vector<int64_t>& shape = {},
                           const std::string& name = "out");
// Shorthands with the project's tolerances.
CompareResult compare_out(const uint16_t* got, const uint16_t* ref, size_t n, DType dtype,
                          const std::vector<int64_t>& shape = {});
CompareResult compare_lse(const float* got, const float* ref, size_t n, const std::vector<int64_t>& shape = {});

// "[i0, i1, ...]" of a flat row-major index (just "[index]" without a shape).
std::string format_index(int64_t flat, const std::vector<int64_t>& shape);

}  // namespace flashmla::test
