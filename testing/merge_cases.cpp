#include "merge_cases.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "cases.h"
#include "common/numerics.h"

namespace flashmla::test {
namespace {

constexpr int32_t kRowPad = 8;  // elements of padding after each row in strided layouts

float randn(Lcg& g) {  // Box-Muller on the case's generator
  const double u1 = (g.next() + 1.0) * 0x1.0p-32, u2 = g.next() * 0x1.0p-32;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}
double uniform(Lcg& g) { return g.next() * 0x1.0p-32; }

// A view of `shape` whose storage order is `order` (outermost first, a permutation of the dims) and
// whose innermost stored dimension is padded by `pad` elements.
HostTensor make_tensor(DType dt, std::vector<int64_t> shape, std::vector<int> order, int64_t pad, int64_t offset) {
  HostTensor t;
  TensorView& v = t.view;
  v.dtype = dt;
  v.rank = static_cast<int32_t>(shape.size());
  for (int i = 0; i < v.rank; ++i) v.shape[i] = shape[i];
  int64_t st = 1;
  for (int k = v.rank - 1; k >= 0; --k) {
    const int d = order[k];
    v.stride[d] = st;
    st *= shape[d] + (k == v.rank - 1 ? pad : 0);
  }
  t.offset = offset;
  t.bytes.assign(static_cast<size_t>((st + offset) * dtype_size(dt) + 16), 0xFF);
  return t;
}

std::vector<int> identity(int r) {
  std::vector<int> o(r);
  for (int i = 0; i < r; ++i) o[i] = i;
  return o;
}

int64_t elem_offset(const TensorView& v, const int64_t* idx) {
  int64_t off = 0;
  for (int i = 0; i < v.rank; ++i) off += idx[i] * v.stride[i];
  return off;
}

float read(const HostTensor& t, const std::vector<uint8_t>& buf, int64_t off) {
  const uint8_t* p = buf.data() + (t.offset + off) * dtype_size(t.view.dtype);
  if (t.view.dtype == DType::kFP32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  return numerics::half_to_float(h, t.view.dtype);
}

void write(HostTensor& t, int64_t off, float x) {
  uint8_t* p = t.bytes.data() + (t.offset + off) * dtype_size(t.view.dtype);
  if (t.view.dtype == DType::kFP32) {
    std::memcpy(p, &x, 4);
  } else {
    const uint16_t h = std::isnan(x) ? numerics::quiet_nan_bits(t.view.dtype) : numerics::float_to_half(x, t.view.dtype);
    std::memcpy(p, &h, 2);
  }
}

// Calls fn(flat_row_major_index, element_offset) for every element of v.
template <class Fn>
void for_each(const TensorView& v, Fn&& fn) {
  int64_t idx[kMaxRank] = {};
  const int64_t n = v.numel();
  for (int64_t flat = 0; flat < n; ++flat) {
    fn(flat, elem_offset(v, idx));
    for (int d = v.rank - 1; d >= 0; --d) {
      if (++idx[d] < v.shape[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

TensorView HostTensor::at(void* base, DeviceType dev) const {
  TensorView v = view;
  v.data = static_cast<uint8_t*>(base) + offset * dtype_size(view.dtype);
  v.device = dev;
  v.device_index = 0;
  return v;
}

MergeArgs MergeHost::args(DeviceType dev, void* outs_base, void* lses_base, void* out_base, void* lse_base) {
  MergeArgs a;
  a.outs = outs.at(outs_base ? outs_base : outs.bytes.data(), dev);
  a.lses = lses.at(lses_base ? lses_base : lses.bytes.data(), dev);
  a.out = out.at(out_base ? out_base : out.bytes.data(), dev);
  a.lse = lse.at(lse_base ? lse_base : lse.bytes.data(), dev);
  return a;
}

void poison(HostTensor& t) { std::fill(t.bytes.begin(), t.bytes.end(), 0xFF); }

MergeHost make_merge_case(const MergeCaseSpec& s) {
  MergeHost c;
  c.spec = s;
  const int64_t off = s.misaligned ? 1 : 0;
  const int64_t pad = s.strided ? kRowPad : 0;
  // Logical orders: outs [n, b, s, h, dv], lses [n, b, h, s], out [b, s, h, dv], lse [b, h, s].
  c.outs = make_tensor(s.in, {s.n, s.b, s.s_q, s.h_q, s.dv}, s.strided ? std::vector<int>{1, 0, 3, 2, 4} : identity(5),
                       pad, off);
  c.lses = make_tensor(DType::kFP32, {s.n, s.b, s.h_q, s.s_q},
                       s.strided ? std::vector<int>{1, 3, 2, 0} : identity(4), 0, off);
  c.out = make_tensor(s.out, {s.b, s.s_q, s.h_q, s.dv}, identity(4), pad, off);
  c.lse = make_tensor(DType::kFP32, {s.b, s.h_q, s.s_q}, s.strided ? std::vector<int>{0, 2, 1} : identity(3), 0, off);

  Lcg g(seed_of_name(s.name));
  const int64_t rows = int64_t{s.b} * s.s_q * s.h_q;
  for (int32_t i = 0; i < s.n; ++i) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r % s.h_q, q = (r / s.h_q) % s.s_q, b = r / (int64_t{s.h_q} * s.s_q);
      bool empty = false;
      switch (s.empty) {
        case EmptyPattern::kNone: break;
        case EmptyPattern::kAllEmpty: empty = true; break;
        case EmptyPattern::kAllEmptyRows: empty = r % 3 == 0 || uniform(g) < 0.3; break;
        case EmptyPattern::kSome:
        case EmptyPattern::kNanLse: empty = uniform(g) < 0.3; break;
      }
      const int64_t li[4] = {i, b, h, q};
      float lse = static_cast<float>((2.0 * uniform(g) - 1.0) * s.spread);
      if (empty) lse = (s.neg_inf && (g.next() & 1)) ? -INFINITY : INFINITY;
      if (s.empty == EmptyPattern::kNanLse && ((i == 0 && r == 0) || (i == s.n - 1 && r == rows - 1)))
        lse = std::numeric_limits<float>::quiet_NaN();
      write(c.lses, elem_offset(c.lses.view, li), lse);
      for (int64_t ch = 0; ch < s.dv; ++ch) {
        const int64_t oi[5] = {i, b, q, h, ch};
        const float x = empty ? std::numeric_limits<float>::quiet_NaN() : std::fmin(std::fmax(randn(g) * 0.1f, -1.f), 1.f);
        write(c.outs, elem_offset(c.outs.view, oi), x);
      }
    }
  }
  return c;
}

void naive_merge(const MergeHost& c, std::vector<double>* ref_out, std::vector<double>* ref_lse) {
  const MergeCaseSpec& s = c.spec;
  ref_out->assign(static_cast<size_t>(int64_t{s.b} * s.s_q * s.h_q * s.dv), 0.0);
  ref_lse->assign(static_cast<size_t>(int64_t{s.b} * s.h_q * s.s_q), 0.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int32_t b = 0; b < s.b; ++b)
    for (int32_t q = 0; q < s.s_q; ++q)
      for (int32_t h = 0; h < s.h_q; ++h) {
        double sum = 0.0;
        bool has_nan = false, any = false;
        for (int32_t i = 0; i < s.n; ++i) {
          const int64_t li[4] = {i, b, h, q};
          const double l = read(c.lses, c.lses.bytes, elem_offset(c.lses.view, li));
          if (std::isnan(l)) has_nan = true;
          if (std::isfinite(l)) {
            any = true;
            sum += std::exp(l);
          }
        }
        const double lse = has_nan ? nan : (any ? std::log(sum) : INFINITY);
        (*ref_lse)[(int64_t{b} * s.h_q + h) * s.s_q + q] = lse;
        double* o = ref_out->data() + ((int64_t{b} * s.s_q + q) * s.h_q + h) * s.dv;
        if (has_nan) {
          for (int32_t ch = 0; ch < s.dv; ++ch) o[ch] = nan;
          continue;
        }
        for (int32_t i = 0; i < s.n; ++i) {
          const int64_t li[4] = {i, b, h, q};
          const double l = read(c.lses, c.lses.bytes, elem_offset(c.lses.view, li));
          if (!std::isfinite(l)) continue;
          for (int32_t ch = 0; ch < s.dv; ++ch) {
            const int64_t oi[5] = {i, b, q, h, ch};
            o[ch] += std::exp(l - lse) * read(c.outs, c.outs.bytes, elem_offset(c.outs.view, oi));
          }
        }
      }
}

std::vector<float> gather_out(const MergeHost& c, const std::vector<uint8_t>& buf) {
  std::vector<float> r(static_cast<size_t>(c.out.view.numel()));
  for_each(c.out.view, [&](int64_t flat, int64_t off) { r[flat] = read(c.out, buf, off); });
  return r;
}

std::vector<float> gather_lse(const MergeHost& c, const std::vector<uint8_t>& buf) {
  std::vector<float> r(static_cast<size_t>(c.lse.view.numel()));
  for_each(c.lse.view, [&](int64_t flat, int64_t off) { r[flat] = read(c.lse, buf, off); });
  return r;
}

bool padding_intact(const HostTensor& t, const std::vector<uint8_t>& buf, std::string* where) {
  std::vector<uint8_t> mine(buf.size(), 0);
  const size_t es = dtype_size(t.view.dtype);
  for_each(t.view, [&](int64_t, int64_t off) {
    for (size_t k = 0; k < es; ++k) mine[(t.offset + off) * es + k] = 1;
  });
  for (size_t i = 0; i < buf.size(); ++i)
    if (!mine[i] && buf[i] != 0xFF) {
      *where = "byte " + std::to_string(i) + " of the buffer (outside the view) was written";
      return false;
    }
  return true;
}

Tolerance merged_out_tolerance(DType dtype) {
  if (dtype == DType::kFP32) return Tolerance{1e-5, 8.01 / (1 << 23), 1e-7};
  return kOutTolerance;
}

CompareResult compare_merged_out(const std::vector<float>& got, const std::vector<double>& ref, DType dtype,
                                 const std::vector<int64_t>& shape) {
  std::vector<float> r(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    r[i] = dtype == DType::kFP32 ? static_cast<float>(ref[i])
                                 : numerics::half_to_float(numerics::double_to_half(ref[i], dtype), dtype);
  return compare_float(got.data(), r.data(), r.size(), merged_out_tolerance(dtype), shape, "out");
}

namespace {
MergeCaseSpec spec(int32_t n, int32_t b, int32_t s_q, int32_t h_q, int32_t dv, DType in, DType out, EmptyPattern e,
                   const std::string& tag = "") {
  MergeCaseSpec s;
  s.n = n, s.b = b, s.s_q = s_q, s.h_q = h_q, s.dv = dv, s.in = in, s.out = out, s.empty = e;
  auto dn = [](DType t) { return t == DType::kBF16 ? "bf16" : (t == DType::kFP16 ? "fp16" : "fp32"); };
  static const char* const kEmpty[] = {"full", "someempty", "emptyrows", "allempty", "nanlse"};
  s.name = "n" + std::to_string(n) + "_b" + std::to_string(b) + "_sq" + std::to_string(s_q) + "_h" +
           std::to_string(h_q) + "_dv" + std::to_string(dv) + "_" + dn(in) + (in == out ? "" : std::string("to") + dn(out)) +
           "_" + kEmpty[static_cast<int>(e)] + (tag.empty() ? "" : "_" + tag);
  return s;
}
}  // namespace

std::vector<MergeCaseSpec> merge_cases_small() {
  using E = EmptyPattern;
  const DType bf = DType::kBF16, hf = DType::kFP16, f32 = DType::kFP32;
  std::vector<MergeCaseSpec> v;
  for (int32_t n = 1; n <= 8; ++n) v.push_back(spec(n, 2, 1, 5, 512, bf, bf, n == 1 ? E::kNone : E::kSome));
  v.push_back(spec(2, 3, 2, 16, 512, bf, bf, E::kNone));
  v.push_back(spec(4, 2, 2, 3, 512, hf, hf, E::kSome));
  v.push_back(spec(3, 2, 1, 7, 512, f32, f32, E::kSome));
  v.push_back(spec(4, 2, 1, 7, 512, bf, f32, E::kSome));
  v.push_back(spec(4, 2, 1, 7, 512, hf, f32, E::kSome));
  v.push_back(spec(5, 3, 1, 6, 512, bf, bf, E::kAllEmptyRows));
  v.push_back(spec(3, 2, 1, 4, 512, bf, bf, E::kAllEmpty));
  v.push_back(spec(1, 2, 1, 4, 512, bf, bf, E::kAllEmpty));
  v.push_back(spec(4, 2, 1, 4, 512, bf, bf, E::kNanLse));
  MergeCaseSpec ni = spec(6, 2, 2, 5, 512, bf, bf, E::kAllEmptyRows, "neginf");
  ni.neg_inf = true;
  v.push_back(ni);
  for (DType t : {bf, f32}) {
    MergeCaseSpec st = spec(4, 2, 3, 5, 512, t, t, E::kSome, "strided");
    st.strided = true;
    v.push_back(st);
  }
  MergeCaseSpec st32 = spec(3, 2, 2, 3, 256, bf, f32, E::kSome, "strided");
  st32.strided = true;
  v.push_back(st32);
  for (int32_t dv : {1, 33, 127, 520}) {
    MergeCaseSpec m = spec(3, 2, 1, 3, dv, bf, bf, E::kSome, "misaligned");
    m.misaligned = true;
    m.strided = dv == 127;
    v.push_back(m);
  }
  MergeCaseSpec mf = spec(3, 2, 1, 3, 255, f32, f32, E::kSome, "misaligned");
  mf.misaligned = true;
  v.push_back(mf);
  v.push_back(spec(2, 1, 1, 4, 1024, bf, bf, E::kSome));
  v.push_back(spec(2, 1, 1, 4, 1024, f32, f32, E::kSome));
  v.push_back(spec(3, 2, 1, 4, 64, hf, hf, E::kSome));
  v.push_back(spec(3, 2, 1, 4, 600, bf, bf, E::kSome));  // vector path, second chunk partly used
  v.push_back(spec(33, 1, 1, 3, 512, bf, bf, E::kSome));
  v.push_back(spec(64, 1, 2, 2, 512, bf, bf, E::kSome));
  v.push_back(spec(64, 1, 1, 2, 512, f32, f32, E::kAllEmptyRows));
  MergeCaseSpec wide = spec(8, 2, 1, 4, 512, bf, bf, E::kSome, "spread80");
  wide.spread = 80.0f;  // weights down to e^-160: underflow to 0 in fp32
  v.push_back(wide);
  return v;
}

MergeCaseSpec merge_case_large() {
  MergeCaseSpec s = spec(4, 128, 1, 128, 512, DType::kBF16, DType::kBF16, EmptyPattern::kNone, "large");
  return s;
}

}  // namespace flashmla::test
