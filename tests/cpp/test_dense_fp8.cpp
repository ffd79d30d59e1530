// Dense decode over an FP8 (e4m3) KV cache with per-tensor descales (docs/spec.md §8), CPU backend:
// the CPU result vs a naive fp64 computation on the dequantized inputs, the quantizer, and the
// validation rules of descale_q / descale_k.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/kv_format.h"
#include "common/numerics.h"
#include "flashmla/flashmla.h"
#include "flashmla/quantize.h"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/decode_dense_fp8/convert_map.h"

namespace {

using namespace flashmla;  // NOLINT

constexpr int D = 576, DV = 512;
constexpr uint8_t kE4M3NaN = 0x7f;

struct Case {
  const char* name;
  bool fp8_q;
  int b, s_q, h_q, h_kv, page;
  std::vector<int32_t> lens;
  bool causal;
};

double cosine_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  if (aa == 0 && bb == 0) return 0;
  return 1.0 - ab / std::sqrt(aa * bb);
}

struct Fp8Inputs {
  std::vector<uint8_t> q8, k8;
  std::vector<uint16_t> q16, out;
  std::vector<int32_t> bt, lens;
  std::vector<float> lse;
  float dq = 0.03125f, dk = 0.0078125f;
  int nb = 0, maxb = 0;
  DecodeArgs args;
};

void build(const Case& c, Fp8Inputs& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  s.lens = c.lens;
  s.maxb = 1;
  for (int32_t L : c.lens) s.maxb = std::max(s.maxb, (L + c.page - 1) / c.page);
  s.nb = c.b * s.maxb + 1;
  s.k8.assign(static_cast<size_t>(s.nb) * c.page * c.h_kv * D, kE4M3NaN);  // NaN in every unused byte
  s.bt.assign(static_cast<size_t>(c.b) * s.maxb, 0);
  // pages in reverse order, page 0 never used
  int next = s.nb - 1;
  for (int i = 0; i < c.b; ++i)
    for (int p = 0; p < (c.lens[i] + c.page - 1) / c.page; ++p) {
      const int pg = next--;
      s.bt[i * s.maxb + p] = pg;
      for (int r = 0; r < c.page && p * c.page + r < c.lens[i]; ++r)
        for (int h = 0; h < c.h_kv; ++h)
          for (int d = 0; d < D; ++d)
            s.k8[((static_cast<size_t>(pg) * c.page + r) * c.h_kv + h) * D + d] =
                kvfmt::float_to_e4m3(std::max(-1.f, std::min(1.f, nd(rng) / 10.f)) / s.dk);
    }
  const size_t nq = static_cast<size_t>(c.b) * c.s_q * c.h_q * D;
  s.q8.resize(nq);
  s.q16.resize(nq);
  for (size_t i = 0; i < nq; ++i) {
    const float x = std::max(-1.f, std::min(1.f, nd(rng) / 10.f));
    s.q8[i] = kvfmt::float_to_e4m3(x / s.dq);
    s.q16[i] = numerics::float_to_bf16(x);
  }
  s.out.assign(static_cast<size_t>(c.b) * c.s_q * c.h_q * DV, 0x7fc0);  // bf16 NaN
  s.lse.assign(static_cast<size_t>(c.b) * c.h_q * c.s_q, std::numeric_limits<float>::quiet_NaN());
  DecodeArgs& a = s.args;
  a = DecodeArgs{};
  a.q = c.fp8_q ? make_view(s.q8.data(), DType::kFP8E4M3, {c.b, c.s_q, c.h_q, D})
                : make_view(s.q16.data(), DType::kBF16, {c.b, c.s_q, c.h_q, D});
  a.k_cache = make_view(s.k8.data(), DType::kFP8E4M3, {s.nb, c.page, c.h_kv, D});
  a.block_table = make_view(s.bt.data(), DType::kInt32, {c.b, s.maxb});
  a.cache_seqlens = make_view(s.lens.data(), DType::kInt32, {c.b});
  a.causal = c.causal;
  a.out = make_view(s.out.data(), DType::kBF16, {c.b, c.s_q, c.h_q, DV});
  a.lse = make_view(s.lse.data(), DType::kFP32, {c.b, c.h_q, c.s_q});
  a.descale_k = make_view(&s.dk, DType::kFP32, {1});
  if (c.fp8_q) a.descale_q = make_view(&s.dq, DType::kFP32, {1});
}

// Naive fp64 attention on the dequantized inputs (a second, dumb implementation).
void naive(const Case& c, const Fp8Inputs& s, std::vector<double>& out, std::vector<double>& lse) {
  const double scale = 1.0 / std::sqrt(576.0);
  out.assign(static_cast<size_t>(c.b) * c.s_q * c.h_q * DV, 0.0);
  lse.assign(static_cast<size_t>(c.b) * c.h_q * c.s_q, 0.0);
  const int hpk = c.h_q / c.h_kv;
  for (int i = 0; i < c.b; ++i)
    for (int j = 0; j < c.s_q; ++j)
      for (int h = 0; h < c.h_q; ++h) {
        const int kvh = h / hpk;
        int64_t lim = c.lens[i];
        if (c.causal) lim = std::max<int64_t>(0, lim - (c.s_q - 1 - j));
        std::vector<double> qd(D);
        const size_t qo = ((static_cast<size_t>(i) * c.s_q + j) * c.h_q + h) * D;
        for (int d = 0; d < D; ++d)
          qd[d] = c.fp8_q ? kvfmt::e4m3_to_float(s.q8[qo + d]) * static_cast<double>(s.dq)
                          : numerics::bf16_to_float(s.q16[qo + d]);
        std::vector<double> sc(lim);
        std::vector<std::vector<double>> kv(lim, std::vector<double>(D));
        double m = -INFINITY;
        for (int64_t t = 0; t < lim; ++t) {
          const int pg = s.bt[i * s.maxb + t / c.page];
          const size_t ko = ((static_cast<size_t>(pg) * c.page + t % c.page) * c.h_kv + kvh) * D;
          double acc = 0;
          for (int d = 0; d < D; ++d) {
            kv[t][d] = kvfmt::e4m3_to_float(s.k8[ko + d]) * static_cast<double>(s.dk);
            acc += qd[d] * kv[t][d];
          }
          sc[t] = acc * scale;
          m = std::max(m, sc[t]);
        }
        double sum = 0;
        double* o = out.data() + ((static_cast<size_t>(i) * c.s_q + j) * c.h_q + h) * DV;
        for (int64_t t = 0; t < lim; ++t) {
          const double p = std::exp(sc[t] - m);
          sum += p;
          for (int d = 0; d < DV; ++d) o[d] += p * kv[t][d];
        }
        if (lim > 0)
          for (int d = 0; d < DV; ++d) o[d] /= sum;
        lse[(static_cast<size_t>(i) * c.h_q + h) * c.s_q + j] = lim > 0 ? m + std::log(sum) : INFINITY;
      }
}

class DenseFp8 : public ::testing::TestWithParam<Case> {};

TEST_P(DenseFp8, MatchesNaiveOnDequantizedInputs) {
  const Case& c = GetParam();
  Fp8Inputs s;
  build(c, s, 1234u + static_cast<uint32_t>(c.b * 7 + c.h_kv));
  const Status st = decode(s.args);
  ASSERT_TRUE(st.ok()) << c.name << ": " << st.message();
  std::vector<double> ro, rl;
  naive(c, s, ro, rl);
  std::vector<double> o(s.out.size()), l, rlf;
  for (size_t i = 0; i < s.out.size(); ++i) {
    o[i] = numerics::bf16_to_float(s.out[i]);
    ASSERT_FALSE(std::isnan(o[i])) << c.name << ": out[" << i << "] not written (NaN)";
  }
  for (size_t i = 0; i < s.lse.size(); ++i) {
    ASSERT_FALSE(std::isnan(s.lse[i])) << c.name << ": lse[" << i << "] NaN";
    if (std::isinf(rl[i])) {
      EXPECT_TRUE(std::isinf(s.lse[i]) && s.lse[i] > 0) << c.name << ": lse[" << i << "] of an empty row";
      continue;
    }
    l.push_back(s.lse[i]);
    rlf.push_back(rl[i]);
  }
  const double co = cosine_distance(o, ro), cl = cosine_distance(l, rlf);
  EXPECT_LT(co, 1e-4) << c.name << ": out cosine distance";
  EXPECT_LT(cl, 1e-5) << c.name << ": lse cosine distance";
  std::printf("[ %s ] out cos-dist %.3g, lse cos-dist %.3g\n", c.name, co, cl);
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, DenseFp8,
    ::testing::Values(Case{"bf16q_hkv1_odd", false, 3, 1, 16, 1, 64, {1, 77, 130}, false},
                      Case{"fp8q_hkv1_odd", true, 3, 1, 16, 1, 64, {1, 77, 130}, false},
                      Case{"bf16q_hkv2_zero", false, 2, 1, 8, 2, 16, {0, 33}, false},
                      Case{"fp8q_hkv2_zero", true, 2, 1, 8, 2, 16, {0, 33}, false},
                      Case{"bf16q_sq2_causal", false, 2, 2, 8, 1, 64, {1, 65}, true},
                      Case{"fp8q_sq2_causal", true, 2, 2, 8, 2, 64, {1, 65}, true}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// ---- validation ----
Case small_case(bool fp8_q) { return Case{"v", fp8_q, 1, 1, 4, 1, 16, {5}, false}; }

std::string msg_of(const DecodeArgs& a, StatusCode want) {
  const Status st = decode(a);
  EXPECT_EQ(st.code(), want) << st.message();
  return st.message();
}

TEST(DenseFp8Validation, DescaleKRequired) {
  Fp8Inputs s;
  build(small_case(false), s, 1);
  s.args.descale_k = TensorView{};
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_k"), std::string::npos);
}
TEST(DenseFp8Validation, DescaleQRequiredForFp8Q) {
  Fp8Inputs s;
  build(small_case(true), s, 1);
  s.args.descale_q = TensorView{};
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_q"), std::string::npos);
}
TEST(DenseFp8Validation, DescaleQRejectedForBf16Q) {
  Fp8Inputs s;
  build(small_case(false), s, 1);
  s.args.descale_q = make_view(&s.dq, DType::kFP32, {1});
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_q"), std::string::npos);
}
TEST(DenseFp8Validation, DescaleRejectedForBf16Cache) {
  std::vector<uint16_t> q(4 * D), k(16 * D), out(4 * DV);
  std::vector<int32_t> bt{0}, lens{5};
  std::vector<float> lse(4);
  float one = 1.f;
  DecodeArgs a;
  a.q = make_view(q.data(), DType::kBF16, {1, 1, 4, D});
  a.k_cache = make_view(k.data(), DType::kBF16, {1, 16, 1, D});
  a.block_table = make_view(bt.data(), DType::kInt32, {1, 1});
  a.cache_seqlens = make_view(lens.data(), DType::kInt32, {1});
  a.out = make_view(out.data(), DType::kBF16, {1, 1, 4, DV});
  a.lse = make_view(lse.data(), DType::kFP32, {1, 4, 1});
  EXPECT_TRUE(decode(a).ok());
  a.descale_k = make_view(&one, DType::kFP32, {1});
  EXPECT_NE(msg_of(a, StatusCode::kInvalidArgument).find("descale_k"), std::string::npos);
}
TEST(DenseFp8Validation, DescaleValues) {
  for (float bad : {0.f, -1.f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    Fp8Inputs s;
    build(small_case(true), s, 1);
    s.dk = bad;
    EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_k"), std::string::npos) << bad;
    s.dk = 1.f;
    s.dq = bad;
    EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_q"), std::string::npos) << bad;
  }
}
TEST(DenseFp8Validation, DescaleShapeAndDtype) {
  Fp8Inputs s;
  build(small_case(false), s, 1);
  float two[2] = {1.f, 1.f};
  s.args.descale_k = make_view(two, DType::kFP32, {2});
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_k"), std::string::npos);
  s.args.descale_k = make_view(two, DType::kBF16, {1});
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("descale_k"), std::string::npos);
}
TEST(DenseFp8Validation, OutMustBeBf16ForFp8Q) {
  Fp8Inputs s;
  build(small_case(true), s, 1);
  s.args.out.dtype = DType::kFP16;
  EXPECT_NE(msg_of(s.args, StatusCode::kInvalidArgument).find("out"), std::string::npos);
}
TEST(DenseFp8Validation, Fp8QNeedsFp8Cache) {
  std::vector<uint8_t> q(4 * D);
  std::vector<uint16_t> k(16 * D), out(4 * DV);
  std::vector<int32_t> bt{0}, lens{5};
  std::vector<float> lse(4);
  float one = 1.f;
  DecodeArgs a;
  a.q = make_view(q.data(), DType::kFP8E4M3, {1, 1, 4, D});
  a.k_cache = make_view(k.data(), DType::kBF16, {1, 16, 1, D});
  a.block_table = make_view(bt.data(), DType::kInt32, {1, 1});
  a.cache_seqlens = make_view(lens.data(), DType::kInt32, {1});
  a.out = make_view(out.data(), DType::kBF16, {1, 1, 4, DV});
  a.lse = make_view(lse.data(), DType::kFP32, {1, 4, 1});
  a.descale_q = make_view(&one, DType::kFP32, {1});
  EXPECT_NE(msg_of(a, StatusCode::kInvalidArgument).find("k_cache.dtype"), std::string::npos);
}
// CUDA views: an sm90 variant exists for both q dtypes in a CUDA build (docs/dense_fp8.md). Without one
// (CPU-only build) or without a Hopper GPU the call is kNotSupported with a message naming the reason;
// on a Hopper GPU can_implement succeeds (nothing is dereferenced: these are host buffers).
TEST(DenseFp8Validation, CudaViewsSelectSm90OrSayWhyNot) {
  for (bool fp8_q : {false, true}) {
    Fp8Inputs s;
    build(Case{"v64", fp8_q, 1, 1, 4, 1, 64, {5}, false}, s, 1);  // page 64: the kernel's page size
    DecodeArgs a = s.args;
    for (TensorView* v : {&a.q, &a.k_cache, &a.block_table, &a.cache_seqlens, &a.out, &a.lse, &a.descale_q,
                          &a.descale_k})
      v->device = DeviceType::kCUDA;
    std::vector<int32_t> md(8 * 8, 0), ns(2, 0);
    a.tile_scheduler_metadata = make_view(md.data(), DType::kInt32, {8, 8}, DeviceType::kCUDA);
    a.num_splits = make_view(ns.data(), DType::kInt32, {2}, DeviceType::kCUDA);
    a.workspace = reinterpret_cast<void*>(uintptr_t{1} << 40);  // aligned, disjoint; never touched
    a.workspace_bytes = size_t{1} << 30;
    const Status st = can_implement(a);
    EXPECT_TRUE(st.ok() || st.code() == StatusCode::kNotSupported) << st.message();
    if (!st.ok()) EXPECT_FALSE(st.message().empty());
    std::printf("CUDA fp8 decode (%s q): %s\n", fp8_q ? "fp8" : "bf16", st.ok() ? "sm90 variant" : st.message().c_str());
  }
}

// ---- quantizer ----
TEST(DenseFp8Quantize, PerTensorScaleRoundTrip) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int nb = 2, page = 4, hkv = 2;
  std::vector<uint16_t> x(static_cast<size_t>(nb) * page * hkv * D);
  float amax = 0;
  for (auto& v : x) {
    v = numerics::float_to_bf16(nd(rng));
    amax = std::max(amax, std::fabs(numerics::bf16_to_float(v)));
  }
  std::vector<uint8_t> c(x.size());
  float ds = 0;
  ASSERT_TRUE(quantize_dense_fp8(make_view(x.data(), DType::kBF16, {nb, page, hkv, D}),
                                 make_view(c.data(), DType::kFP8E4M3, {nb, page, hkv, D}),
                                 make_view(&ds, DType::kFP32, {1}))
                  .ok());
  EXPECT_EQ(ds, amax / 448.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    const double real = numerics::bf16_to_float(x[i]);
    const double back = kvfmt::e4m3_to_float(c[i]) * static_cast<double>(ds);
    ASSERT_LE(std::fabs(back - real), std::fabs(real) / 16 + 1e-2 * ds) << i;  // e4m3: 3 mantissa bits
  }
}


// ---- the sm90 kernel's in-place fp8 -> bf16 conversion map (kernels/sm90/decode_dense_fp8) ----
// Replays, on the host, the exact address formulas the converter warpgroup uses (convert_map.h), with
// the kernel's order (per fp8 box: every thread reads its four chunks, a barrier where
// convert_map::barrier_before_write says so, every thread writes), on a byte-tagged model of shared
// memory. Between two barriers the threads' accesses may interleave in any order, so the replay runs
// an epoch (the boxes since the last barrier) as: all its reads, then all its writes, and checks
// that no write of the epoch overlaps a staging byte read in it. Checks: every read finds the staged
// fp8 byte it expects (no earlier write clobbered unread staging), every bf16 element of every box
// ends up holding the right channel of the right row, nothing is written outside the destination,
// and each 16-byte shared-memory access instruction of a quarter-warp touches 8 distinct 16-byte bank
// groups (no conflicts).
void replay_conversion(int num_f8, bool rope_tail, int staging_offset, int region_bytes, int num_bf16_boxes) {
  namespace cm = sm90::dense_fp8::convert_map;
  constexpr int kBox = sm90::dense_fp8::kBoxBytes, kF8Box = sm90::dense_fp8::kF8BoxBytes;
  // Tag of a byte: source element id (row * 1024 + channel) + 1; 0 = nothing known.
  std::vector<int32_t> mem(region_bytes, 0);
  for (int f = 0; f < num_f8; ++f)
    for (int row = 0; row < 64; ++row)
      for (int ch = 0; ch < 128; ++ch) {
        const int lc = ch / 16, pc = lc ^ (row & 7);
        mem[staging_offset + f * kF8Box + row * 128 + pc * 16 + ch % 16] = row * 1024 + f * 128 + ch + 1;
      }
  int conflicts = 0, barriers = 0;
  // regs[f][t][h][u][byte]: what thread t read for chunk (h, u) of box f.
  std::vector<int32_t> regs(static_cast<size_t>(num_f8) * 128 * 2 * 2 * 16);
  auto reg = [&](int f, int t, int h, int u, int i) -> int32_t& {
    return regs[((((static_cast<size_t>(f) * 128 + t) * 2 + h) * 2 + u) * 16) + i];
  };
  auto writes_of = [&](int f, int t, int h, int u, int e) {
    const uint32_t d = cm::write_base(t, kBox) + cm::write_step(f, h, u, kBox);
    return e ? (d ^ 16u) : d;
  };
  auto skips = [&](int f, int t) { return rope_tail && f == num_f8 - 1 && cm::lchunk(t) >= 4; };
  std::vector<int> epoch_reads;   // boxes read since the last barrier
  std::vector<int> epoch_writes;  // boxes whose writes are pending in this epoch
  auto read_box = [&](int f) {
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < 128; ++t)
        for (int u = 0; u < 2; ++u) {
          const uint32_t a = staging_offset + cm::read_base(t) + cm::read_step(f, h, u, kF8Box);
          const int row = cm::row0(t) + 16 * u + 32 * h;
          for (int i = 0; i < 16; ++i) {
            reg(f, t, h, u, i) = mem[a + i];
            ASSERT_EQ(reg(f, t, h, u, i), row * 1024 + f * 128 + 16 * cm::lchunk(t) + i + 1)
                << "f " << f << " h " << h << " t " << t << " u " << u << " byte " << i << ": staging clobbered";
          }
        }
    for (int h = 0; h < 2; ++h)
      for (int u = 0; u < 2; ++u)
        for (int q = 0; q < 16; ++q) {
          uint32_t seen = 0;
          for (int t = 8 * q; t < 8 * q + 8; ++t)
            seen |= 1u << (((staging_offset + cm::read_base(t) + cm::read_step(f, h, u, kF8Box)) / 16) % 8);
          if (seen != 0xffu) ++conflicts;
        }
  };
  auto flush_writes = [&] {  // the epoch's writes, after checking they race with none of its reads
    for (int f : epoch_writes)
      for (int t = 0; t < 128; ++t) {
        if (skips(f, t)) continue;
        for (int h = 0; h < 2; ++h)
          for (int u = 0; u < 2; ++u)
            for (int e = 0; e < 2; ++e) {
              const uint32_t dd = writes_of(f, t, h, u, e);
              ASSERT_LE(dd + 16, static_cast<uint32_t>(region_bytes));
              for (int j : epoch_reads) {
                const uint32_t s0 = staging_offset + j * kF8Box;
                ASSERT_FALSE(dd < s0 + kF8Box && s0 < dd + 16)
                    << "box " << f << "'s writes race with box " << j << "'s reads (no barrier between)";
              }
              for (int i = 0; i < 8; ++i) {
                mem[dd + 2 * i] = reg(f, t, h, u, 8 * e + i);  // a bf16 element: its tag in the low byte
                mem[dd + 2 * i + 1] = -1;
              }
            }
      }
    epoch_writes.clear();
  };
  for (int f = 0; f < num_f8; ++f) {
    read_box(f);
    if (::testing::Test::HasFatalFailure()) return;
    epoch_reads.push_back(f);
    if (cm::barrier_before_write(f, num_f8, rope_tail, staging_offset, kBox, kF8Box)) {
      ++barriers;
      flush_writes();  // the previous boxes' writes happened before the barrier
      if (::testing::Test::HasFatalFailure()) return;
      epoch_reads.clear();
    }
    epoch_writes.push_back(f);
    for (int h = 0; h < 2; ++h)
      for (int e = 0; e < 2; ++e)
        for (int u = 0; u < 2; ++u)
          for (int q = 0; q < 16; ++q) {
            uint32_t seen = 0;
            int active = 0;
            for (int t = 8 * q; t < 8 * q + 8; ++t) {
              if (skips(f, t)) continue;
              ++active;
              seen |= 1u << ((writes_of(f, t, h, u, e) / 16) % 8);
            }
            if (__builtin_popcount(seen) != active) ++conflicts;
          }
  }
  flush_writes();
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(conflicts, 0) << "bank-conflicted access instructions";
  EXPECT_LE(barriers, (num_f8 + 1) / 2) << "barriers per tile";
  for (int b = 0; b < num_bf16_boxes; ++b)
    for (int row = 0; row < 64; ++row)
      for (int ch = 0; ch < 64; ++ch) {
        const int a = b * kBox + row * 128 + (((ch / 8) ^ (row & 7)) * 16) + (ch % 8) * 2;
        ASSERT_EQ(mem[a], row * 1024 + b * 64 + ch + 1) << "bf16 box " << b << " row " << row << " channel " << ch;
      }
}

// A K page is converted box group by box group, each inside its own bf16 region (config.h's table);
// the replay works on the region, channels relative to the group's first.
void replay_group(int g) {
  namespace k = sm90::dense_fp8;
  const int first = k::group_first_box(g) * k::kBoxBytes;
  const int boxes = g == k::kGroupRope ? 1 : 4;
  replay_conversion(k::group_f8_count(g), /*rope_tail=*/g == k::kGroupRope, k::group_staging(g) - first,
                    boxes * k::kBoxBytes, boxes);
}
TEST(DenseFp8Sm90Convert, KRopeGroupInPlace) { replay_group(sm90::dense_fp8::kGroupRope); }
TEST(DenseFp8Sm90Convert, KLoGroupInPlace) { replay_group(sm90::dense_fp8::kGroupLo); }
TEST(DenseFp8Sm90Convert, KHiGroupInPlace) { replay_group(sm90::dense_fp8::kGroupHi); }
// The three groups tile the page: every bf16 box belongs to exactly one, and each group's fp8 boxes
// hold exactly its channels.
TEST(DenseFp8Sm90Convert, GroupsTileThePage) {
  namespace k = sm90::dense_fp8;
  int owner[k::kKBoxes];
  for (int& o : owner) o = -1;
  int f8_seen = 0;
  for (int g = 0; g < k::kNumGroups; ++g) {
    const int boxes = g == k::kGroupRope ? 1 : 4;
    for (int b = k::group_first_box(g); b < k::group_first_box(g) + boxes; ++b) {
      ASSERT_EQ(owner[b], -1) << "box " << b;
      owner[b] = g;
    }
    EXPECT_EQ(k::group_f8_first(g) * k::kF8BoxCols, k::group_first_box(g) * k::kBoxCols) << "group " << g;
    EXPECT_GE(k::group_staging(g), k::group_first_box(g) * k::kBoxBytes) << "staging inside the region";
    EXPECT_LE(k::group_staging(g) + k::group_f8_count(g) * k::kF8BoxBytes,
              (k::group_first_box(g) + boxes) * k::kBoxBytes)
        << "group " << g;
    f8_seen += k::group_f8_count(g);
  }
  for (int b = 0; b < k::kKBoxes; ++b) EXPECT_GE(owner[b], 0) << "box " << b;
  EXPECT_EQ(f8_seen, k::kF8Boxes);
}

}  // namespace
