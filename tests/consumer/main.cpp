// The installed package in use: one small decode on the CPU backend, checked against a softmax computed
// here in double precision. Only the public headers are available; exits 1 on any mismatch.
#include <flashmla/flashmla.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace flashmla;

namespace {

// Values of the form k / 8 with |k| <= 8 are exact in bfloat16: the reference sees the same inputs.
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float value(int i) { return static_cast<float>(i % 17 - 8) / 8.0f; }

int fail(const char* what, const Status& st) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, st.message().c_str());
  return 1;
}

}  // namespace

int main() {
  constexpr int64_t L = 3, h_q = 2, d = 576, dv = 512, page = 64;  // one request, s_q = 1, h_kv = 1
  std::vector<uint16_t> q(h_q * d), k(page * d, 0), out(h_q * dv, 0xFFFF);
  for (int64_t i = 0; i < h_q * d; ++i) q[i] = to_bf16(value(static_cast<int>(3 * i + 1)));
  for (int64_t i = 0; i < L * d; ++i) k[i] = to_bf16(value(static_cast<int>(5 * i + 2)));
  std::vector<int32_t> block_table{0}, seqlens{static_cast<int32_t>(L)};
  std::vector<float> lse(h_q, NAN);

  // The schedule, as an engine computes it once per step (the CPU backend accepts and ignores it).
  int32_t parts = 0;
  Status st = query_num_sm_parts(DeviceType::kCPU, 0, h_q, 1, 1, &parts);
  if (!st.ok()) return fail("query_num_sm_parts", st);
  std::vector<int32_t> metadata(static_cast<size_t>(parts) * kScheduleRecordInts), num_splits(2);
  ScheduleArgs sched;
  sched.cache_seqlens = make_view(seqlens.data(), DType::kInt32, {1});
  sched.num_q_rows_per_head_k = h_q;
  sched.num_heads_k = 1;
  sched.s_q = 1;
  sched.num_sm_parts = parts;
  sched.tile_scheduler_metadata = make_view(metadata.data(), DType::kInt32, {parts, kScheduleRecordInts});
  sched.num_splits = make_view(num_splits.data(), DType::kInt32, {2});
  if (!(st = compute_schedule(sched)).ok()) return fail("compute_schedule", st);

  DecodeArgs args;
  args.q = make_view(q.data(), DType::kBF16, {1, 1, h_q, d});
  args.k_cache = make_view(k.data(), DType::kBF16, {1, page, 1, d});
  args.block_table = make_view(block_table.data(), DType::kInt32, {1, 1});
  args.cache_seqlens = sched.cache_seqlens;
  args.tile_scheduler_metadata = sched.tile_scheduler_metadata;
  args.num_splits = sched.num_splits;
  args.out = make_view(out.data(), DType::kBF16, {1, 1, h_q, dv});
  args.lse = make_view(lse.data(), DType::kFP32, {1, h_q, 1});
  if (!(st = can_implement(args)).ok()) return fail("can_implement", st);
  if (!(st = decode(args)).ok()) return fail("decode", st);

  int bad = 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int64_t h = 0; h < h_q; ++h) {
    double s[L], m = -INFINITY, sum = 0;
    for (int64_t t = 0; t < L; ++t) {
      s[t] = 0;
      for (int64_t c = 0; c < d; ++c) s[t] += double{from_bf16(q[h * d + c])} * from_bf16(k[t * d + c]);
      s[t] *= scale;
      m = std::fmax(m, s[t]);
    }
    for (double x : s) sum += std::exp(x - m);
    for (int64_t c = 0; c < dv; ++c) {
      double ref = 0;
      for (int64_t t = 0; t < L; ++t) ref += std::exp(s[t] - m) / sum * from_bf16(k[t * d + c]);
      const double got = from_bf16(out[h * dv + c]);
      if (!(std::fabs(got - ref) <= 1e-3 + std::fabs(ref) / 128)) {  // bfloat16 rounding of out
        if (bad++ < 5) std::fprintf(stderr, "consumer: out[%lld][%lld] = %g, expected %g\n", (long long)h, (long long)c, got, ref);
      }
    }
    const double ref_lse = m + std::log(sum);
    if (!(std::fabs(lse[h] - ref_lse) <= 1e-5 * (1 + std::fabs(ref_lse)))) {
      std::fprintf(stderr, "consumer: lse[%lld] = %g, expected %g\n", (long long)h, lse[h], ref_lse);
      ++bad;
    }
  }

  // A malformed call comes back as a Status, with nothing written.
  args.lse = make_view(lse.data(), DType::kFP32, {1, h_q + 1, 1});
  const std::vector<uint16_t> before = out;
  if (decode(args).ok() || out != before) {
    std::fprintf(stderr, "consumer: a malformed decode was accepted or wrote out\n");
    ++bad;
  }
  std::printf("consumer: flashmla %s, decode b=1 L=%lld h_q=%lld on the CPU: %s\n", version(), (long long)L,
              (long long)h_q, bad ? "MISMATCH" : "ok");
  return bad ? 1 : 0;
}
