#include "compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/numerics.h"

namespace flashmla::test {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

template <class Get>
CompareResult compare_impl(Get&& get, size_t n, const Tolerance& tol, const std::vector<int64_t>& shape,
                           const std::string& name) {
  CompareResult r;
  r.count = static_cast<int64_t>(n);
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  double worst = -1.0;
  double first_got = 0.0, first_ref = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double g, e;
    get(i, &g, &e);
    const bool gf = std::isfinite(g), ef = std::isfinite(e);
    bool bad = false;
    if (!gf || !ef) {
      const bool same = (std::isnan(g) && std::isnan(e)) || (!std::isnan(g) && !std::isnan(e) && g == e);
      if (!same) {
        bad = true;
        ++r.num_nonfinite_mismatch;
      }
    } else {
      const double abs_err = std::fabs(g - e);
      const double rel_err =
          abs_err == 0.0 ? 0.0 : (e == 0.0 ? std::numeric_limits<double>::infinity() : abs_err / std::fabs(e));
      if (abs_err > r.max_abs) r.max_abs = abs_err;
      if (abs_err >= tol.atol && rel_err > r.max_rel) r.max_rel = rel_err;
      const double badness = std::min(abs_err / tol.atol, rel_err / tol.rtol);
      if (badness > worst) {
        worst = badness;
        r.worst_index = static_cast<int64_t>(i);
      }
      bad = !(abs_err < tol.atol || rel_err < tol.rtol);
      sxy += g * e;
      sxx += g * g;
      syy += e * e;
    }
    if (bad) {
      if (r.first_bad < 0) {
        r.first_bad = static_cast<int64_t>(i);
        first_got = g;
        first_ref = e;
      }
      ++r.num_bad;
    }
  }
  const double denom = sxx + syy;
  r.cos_diff = denom == 0.0 ? 0.0 : 1.0 - 2.0 * sxy / denom;
  const bool cos_bad = tol.max_cos_diff >= 0.0 && !(r.cos_diff < tol.max_cos_diff);
  r.ok = r.num_bad == 0 && !cos_bad;

  const std::string stats = "max_abs " + fmt("%.3g", r.max_abs) + ", max_rel " + fmt("%.3g", r.max_rel) +
                            ", cos_diff " + fmt("%.3g", r.cos_diff) + " over " + std::to_string(n) + " elements";
  if (r.ok) {
    r.message = name + " ok: " + stats;
  } else if (r.num_bad > 0) {
    r.message = name + ": " + std::to_string(r.num_bad) + " of " + std::to_string(n) + " elements fail (atol " +
                fmt("%g", tol.atol) + ", rtol " + fmt("%g", tol.rtol) + ", " +
                std::to_string(r.num_nonfinite_mismatch) + " non-finite mismatches); first at " + name +
                format_index(r.first_bad, shape) + ": got " + fmt("%.9g", first_got) + ", expected " +
                fmt("%.9g", first_ref) + "; " + stats;
  } else {
    r.message = name + ": cosine bound violated (cos_diff " + fmt("%.3g", r.cos_diff) +
                " >= " + fmt("%g", tol.max_cos_diff) + "); " + stats;
  }
  return r;
}

}  // namespace

std::string format_index(int64_t flat, const std::vector<int64_t>& shape) {
  if (shape.empty() || flat < 0) return "[" + std::to_string(flat) + "]";
  std::vector<int64_t> idx(shape.size());
  int64_t rest = flat;
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t extent = shape[d] > 0 ? shape[d] : 1;
    idx[d] = rest % extent;
    rest /= extent;
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) {
    if (d) s += ", ";
    s += std::to_string(idx[d]);
  }
  return s + "]";
}

CompareResult compare_float(const float* got, const float* ref, size_t n, const Tolerance& tol,
                            const std::vector<int64_t>& shape, const std::string& name) {
  return compare_impl(
      [&](size_t i, double* g, double* e) {
        *g = got[i];
        *e = ref[i];
      },
      n, tol, shape, name);
}

CompareResult compare_half(const uint16_t* got, const uint16_t* ref, size_t n, DType dtype, const Tolerance& tol,
                           const std::vector<int64_t>& shape, const std::string& name) {
  return compare_impl(
      [&](size_t i, double* g, double* e) {
        *g = numerics::half_to_float(got[i], dtype);
        *e = numerics::half_to_float(ref[i], dtype);
      },
      n, tol, shape, name);
}

CompareResult compare_out(const uint16_t* got, const uint16_t* ref, size_t n, DType dtype,
                          const std::vector<int64_t>& shape) {
  return compare_half(got, ref, n, dtype, kOutTolerance, shape, "out");
}

CompareResult compare_lse(const float* got, const float* ref, size_t n, const std::vector<int64_t>& shape) {
  return compare_float(got, ref, n, kLseTolerance, shape, "lse");
}

}  // namespace flashmla::test
