// bf16 / fp16 conversions (src/common/numerics.h) against independent references: exhaustive
// round trips of all 65536 patterns, and float/double inputs rounded by "nearest representable value,
// ties to even" found by search among the decoded 16-bit values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/numerics.h"

using namespace flashmla;
using namespace flashmla::numerics;

namespace {

bool is_nan16(uint16_t h, DType t) {
  return t == DType::kFP16 ? ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) : ((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0);
}

// Reference rounding of a finite double to a 16-bit format: the positive finite values sorted (bit
// patterns 0 .. max are monotone), nearest by |difference|, ties to the even pattern, overflow to inf
// when |x| >= max + half an ulp of max.
struct Reference {
  DType dtype;
  std::vector<double> values;  // value of pattern p, p = 0 .. max_finite
  uint16_t max_finite;
  double overflow;  // |x| at or above this rounds to inf
  explicit Reference(DType t) : dtype(t) {
    max_finite = t == DType::kFP16 ? 0x7bff : 0x7f7f;
    for (uint32_t p = 0; p <= max_finite; ++p) values.push_back(half_to_float(static_cast<uint16_t>(p), t));
    const double ulp = values[max_finite] - values[max_finite - 1];
    overflow = values[max_finite] + ulp / 2;
  }
  uint16_t round(double x) const {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double a = std::fabs(x);
    const uint16_t inf = dtype == DType::kFP16 ? 0x7c00 : 0x7f80;
    if (a >= overflow) return sign | inf;
    const auto it = std::upper_bound(values.begin(), values.end(), a);  // first value > a
    const size_t hi = static_cast<size_t>(it - values.begin());
    const size_t lo = hi - 1;  // values[0] = 0 <= a
    if (hi > max_finite) return sign | static_cast<uint16_t>(lo);
    const double dl = a - values[lo], dh = values[hi] - a;
    size_t pick = dl < dh ? lo : (dh < dl ? hi : (lo % 2 == 0 ? lo : hi));
    return sign | static_cast<uint16_t>(pick);
  }
};

class Lcg {
 public:
  explicit Lcg(uint64_t s) : s_(s) {}
  uint64_t next() {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return s_ ^ (s_ >> 29);
  }

 private:
  uint64_t s_;
};

}  // namespace

TEST(Numerics, KnownValues) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up past the largest bf16
  EXPECT_EQ(float_to_bf16(bits_float(0x3f808000)), 0x3f80);             // tie, even stays
  EXPECT_EQ(float_to_bf16(bits_float(0x3f818000)), 0x3f82);             // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(bits_float(0x3f808001)), 0x3f81);             // just above the tie
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);

  EXPECT_EQ(float_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_fp16(65519.99f), 0x7bff);
  EXPECT_EQ(float_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_fp16(-1e10f), 0xfc00);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24 -> even (0)
  EXPECT_EQ(float_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_fp16(std::ldexp(3.0f, -25)), 0x0002);     // 1.5 * 2^-24: tie -> even (2)
  EXPECT_EQ(float_to_fp16(std::ldexp(1023.5f, -24)), 0x0400);  // tie at the subnormal top -> normal
  EXPECT_EQ(float_to_fp16(-std::ldexp(1.0f, -30)), 0x8000);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(fp16_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(fp16_to_float(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_float(0x3555), 0.333251953125f);
}

TEST(Numerics, NaNsArePreserved) {
  for (float nan : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::signaling_NaN(), bits_float(0x7f800001u), bits_float(0xff800001u)}) {
    EXPECT_TRUE(is_nan16(float_to_bf16(nan), DType::kBF16)) << std::hex << float_bits(nan);
    EXPECT_TRUE(is_nan16(float_to_fp16(nan), DType::kFP16)) << std::hex << float_bits(nan);
    EXPECT_EQ(float_to_bf16(nan) & 0x8000, (float_bits(nan) >> 16) & 0x8000);
    EXPECT_EQ(float_to_fp16(nan) & 0x8000, (float_bits(nan) >> 16) & 0x8000);
    EXPECT_TRUE(is_nan16(double_to_bf16(static_cast<double>(nan)), DType::kBF16));
    EXPECT_TRUE(is_nan16(double_to_fp16(static_cast<double>(nan)), DType::kFP16));
  }
  EXPECT_TRUE(std::isnan(bf16_to_float(kBF16QuietNaN)));
  EXPECT_TRUE(std::isnan(fp16_to_float(kFP16QuietNaN)));
}

TEST(Numerics, ExhaustiveRoundTrip) {
  for (DType t : {DType::kBF16, DType::kFP16}) {
    for (uint32_t p = 0; p < 65536; ++p) {
      const uint16_t h = static_cast<uint16_t>(p);
      const float f = half_to_float(h, t);
      if (is_nan16(h, t)) {
        ASSERT_TRUE(std::isnan(f)) << dtype_name(t) << " " << p;
        ASSERT_TRUE(is_nan16(float_to_half(f, t), t)) << dtype_name(t) << " " << p;
        continue;
      }
      ASSERT_EQ(float_to_half(f, t), h) << dtype_name(t) << " pattern " << p;
      ASSERT_EQ(double_to_half(static_cast<double>(f), t), h) << dtype_name(t) << " pattern " << p;
    }
  }
}

TEST(Numerics, Fp16DecodeMatchesFormula) {
  for (uint32_t p = 0; p < 0x7c00; ++p) {
    const int e = static_cast<int>(p >> 10), m = static_cast<int>(p & 0x3ff);
    const double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    ASSERT_EQ(static_cast<double>(fp16_to_float(static_cast<uint16_t>(p))), v) << p;
    ASSERT_EQ(static_cast<double>(fp16_to_float(static_cast<uint16_t>(p | 0x8000))), -v) << p;
  }
}

// Every 16-bit value, the midpoints between neighbours and their float neighbours (the rounding ties),
// plus a sweep over all float exponents and random floats.
TEST(Numerics, FloatRoundingMatchesReference) {
  for (DType t : {DType::kBF16, DType::kFP16}) {
    const Reference ref(t);
    std::vector<float> inputs;
    for (size_t p = 0; p + 1 < ref.values.size(); ++p) {
      const double mid = (ref.values[p] + ref.values[p + 1]) / 2;
      const float fm = static_cast<float>(mid);
      inputs.push_back(static_cast<float>(ref.values[p]));
      inputs.push_back(fm);
      inputs.push_back(std::nextafter(fm, 0.0f));
      inputs.push_back(std::nextafter(fm, 1e30f));
    }
    for (uint64_t u = 0; u < (1ull << 32); u += 65521) inputs.push_back(bits_float(static_cast<uint32_t>(u)));
    Lcg rng(t == DType::kFP16 ? 7 : 8);
    for (int i = 0; i < 200000; ++i) inputs.push_back(bits_float(static_cast<uint32_t>(rng.next())));
    int64_t checked = 0;
    for (float f : inputs) {
      if (!std::isfinite(f)) continue;
      for (float x : {f, -f}) {
        const uint16_t want = ref.round(x);
        ASSERT_EQ(float_to_half(x, t), want) << dtype_name(t) << " x = " << x << " bits " << std::hex << float_bits(x);
        ++checked;
      }
    }
    EXPECT_GT(checked, 300000);
  }
}

// double inputs are rounded once (no double rounding through float).
TEST(Numerics, DoubleRoundingMatchesReference) {
  for (DType t : {DType::kBF16, DType::kFP16}) {
    const Reference ref(t);
    std::vector<double> inputs;
    for (size_t p = 0; p + 1 < ref.values.size(); p += 3) {
      const double mid = (ref.values[p] + ref.values[p + 1]) / 2;
      inputs.push_back(mid);
      inputs.push_back(std::nextafter(mid, 0.0));
      inputs.push_back(std::nextafter(mid, 1e300));
      // Just above a tie by less than a float ulp: float rounding first would land on the tie.
      inputs.push_back(mid + std::fabs(mid) * 1e-12);
      inputs.push_back(mid - std::fabs(mid) * 1e-12);
    }
    Lcg rng(t == DType::kFP16 ? 17 : 18);
    for (int i = 0; i < 200000; ++i) {
      const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
      inputs.push_back(std::ldexp(u, static_cast<int>(rng.next() % 60) - 40));
    }
    inputs.push_back(1e300);
    inputs.push_back(1e-300);
    for (double d : inputs) {
      for (double x : {d, -d}) {
        ASSERT_EQ(double_to_half(x, t), ref.round(x)) << dtype_name(t) << " x = " << x;
      }
    }
  }
  EXPECT_EQ(double_to_bf16(std::numeric_limits<double>::infinity()), 0x7f80);
  EXPECT_EQ(double_to_fp16(-std::numeric_limits<double>::infinity()), 0xfc00);
}
