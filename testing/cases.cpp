#include "cases.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/numerics.h"

namespace flashmla::test {
namespace {

// ---- deterministic random numbers (hand-written: identical on every platform and standard library) --

uint64_t splitmix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xd1342543de82ef95ull + 0x632be59bd9b4e019ull);
  return splitmix64(s);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64(state_); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
  // Standard normal, Marsaglia's polar method in float (fast: bulk data are rounded to 16 bits
  // anyway); both values of a pair are used.
  float normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    float u, v, s;
    do {
      const uint64_t r = next();
      u = static_cast<float>(static_cast<int32_t>(r >> 32)) * 0x1.0p-31f;  // [-1, 1)
      v = static_cast<float>(static_cast<int32_t>(r & 0xffffffffu)) * 0x1.0p-31f;
      s = u * u + v * v;
    } while (s >= 1.0f || s == 0.0f);
    const float f = std::sqrt(-2.0f * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

 private:
  uint64_t state_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

int32_t resolve_threads(int32_t t) {
  if (t > 0) return t;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int32_t>(hw);
}

// fn(i) for i in [0, n), static contiguous chunks over `threads` threads.
template <class Fn>
void parallel_for(int64_t n, int32_t threads, Fn&& fn) {
  if (n <= 0) return;
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  auto run = [&](int64_t k) {
    const int64_t b = n * k / t, e = n * (k + 1) / t;
    for (int64_t i = b; i < e; ++i) fn(i);
  };
  std::vector<std::thread> pool;
  for (int64_t k = 1; k < t; ++k) pool.emplace_back(run, k);
  run(0);
  for (auto& th : pool) th.join();
}

void fill_random(uint16_t* dst, int64_t n, Rng& rng, DType dtype) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::clamp(rng.normal() * 0.1f, -1.0f, 1.0f);
    dst[i] = numerics::float_to_half(v, dtype);
  }
}

int32_t pages_of(int32_t seqlen) { return seqlen <= 0 ? 0 : (seqlen + kPage - 1) / kPage; }

const char* dtype_tag(DType t) { return t == DType::kFP16 ? "fp16" : "bf16"; }

// Balanced assignment: each of `nvals` values appears floor/ceil(k / nvals) times, in seeded order.
std::vector<int32_t> balanced(int32_t k, int32_t nvals, uint64_t seed) {
  std::vector<int32_t> v(k);
  for (int32_t i = 0; i < k; ++i) v[i] = i % nvals;
  Rng rng(seed);
  for (int32_t i = k - 1; i > 0; --i) std::swap(v[i], v[rng.below(static_cast<uint32_t>(i + 1))]);
  return v;
}

void make_names_unique(std::vector<CaseSpec>& specs) {
  std::set<std::string> seen;
  for (CaseSpec& s : specs) {
    std::string name = s.name;
    for (int n = 2; seen.count(name) != 0; ++n) name = s.name + "_n" + std::to_string(n);
    if (name != s.name) {
      s.name = name;
      s.seed = seed_of_name(name);
    }
    seen.insert(name);
  }
}

// Work of the float64 CPU oracle, in flops (causal masking ignored): what keeps gpu_matrix affordable.
double oracle_flops(const CaseSpec& s) {
  double keys = 0;
  for (int32_t L : s.seqlens) keys += std::max(L, 0);
  return keys * s.s_q * s.h_q * 2.0 * (kD + kDV);
}

struct HeadPair {
  int32_t h_q, h_kv;
};

// ---- the named sets ------------------------------------------------------------------------------

std::vector<CaseSpec> set_cpu_small() {
  // Every (h_q, h_kv) pair with h_q in {1,3,16,63,64,126,128}, h_kv in {1,2,3,8}, h_q % h_kv == 0.
  static const HeadPair kPairs[] = {{1, 1},   {3, 1},   {16, 1}, {63, 1},  {64, 1},  {126, 1},
                                    {128, 1}, {16, 2},  {64, 2}, {126, 2}, {128, 2}, {3, 3},
                                    {63, 3},  {126, 3}, {16, 8}, {64, 8},  {128, 8}};
  static const int32_t kLens[] = {0, 1, 20, 63, 64, 65, 127, 140};
  static const int32_t kSq[] = {1, 2, 4};
  static const int32_t kB[] = {1, 2, 6};
  constexpr int32_t kNumPairs = sizeof(kPairs) / sizeof(kPairs[0]);
  constexpr int32_t K = 4 * kNumPairs;  // 68: every pair 4 times, every (pair, s_q) at least once
  const auto causal = balanced(K, 2, 101), dtype = balanced(K, 2, 102), bsel = balanced(K, 3, 103);
  std::vector<CaseSpec> out;
  int32_t cursor = 0;
  for (int32_t k = 0; k < K; ++k) {
    const HeadPair hp = kPairs[k % kNumPairs];
    const int32_t s_q = kSq[k % 3];
    const int32_t b = kB[bsel[k]];
    std::vector<int32_t> lens;
    for (int32_t e = 0; e < b; ++e) lens.push_back(kLens[(cursor++) % 8]);
    const DType dt = dtype[k] ? DType::kFP16 : DType::kBF16;
    if (b == 1) {
      out.push_back(fixed_case(1, s_q, hp.h_q, hp.h_kv, lens[0], causal[k] != 0, dt));
    } else {
      out.push_back(list_case(lens, s_q, hp.h_q, hp.h_kv, causal[k] != 0, dt));
    }
  }
  // Hand-picked edges: an all-empty batch; rows fully masked by causality (L < s_q); exact page
  // multiples; a request spanning several pages with a large head group; a long-ish mixed batch.
  out.push_back(fixed_case(1, 4, 16, 2, 0, true, DType::kBF16));
  out.push_back(list_case({1, 2, 3}, 4, 3, 1, true, DType::kFP16));
  out.push_back(list_case({64, 128}, 4, 64, 8, true, DType::kBF16));
  out.push_back(fixed_case(1, 2, 126, 3, 300, true, DType::kFP16));
  out.push_back(list_case({0, 140, 1, 0, 65, 63}, 2, 16, 1, false, DType::kBF16));
  make_names_unique(out);
  return out;
}

std::vector<CaseSpec> set_gpu_matrix() {
  // Every valid (h_q, h_kv) pair of h_q in {1,3,9,16,63,64,126,128}, h_kv in {1,2,3,8}, ordered so
  // that consecutive entries differ in both.
  static const HeadPair kPairs[] = {{128, 1}, {3, 3},   {16, 8}, {63, 1},  {126, 2}, {9, 3},   {64, 8},
                                    {1, 1},   {128, 2}, {63, 3}, {16, 1},  {64, 2},  {126, 3}, {3, 1},
                                    {128, 8}, {9, 1},   {16, 2}, {126, 1}, {64, 1}};
  constexpr int32_t kNumPairs = sizeof(kPairs) / sizeof(kPairs[0]);  // 19
  static const int32_t kSq[] = {1, 2, 4};
  // Oracle budget per case (float64 flops): the CPU oracle runs at 2-4 GFLOP/s per core, so a
  // 16-core machine spends at most ~1 s on any of these (the three huge ones below: 0.3-2 s).
  constexpr double kCap = 40e9;

  struct Profile {
    int32_t batch;
    int32_t len;  // fixed length, or varlen mean when varlen
    bool varlen;
    int32_t zeros;  // varlen: requests forced to 0
    int32_t repeats;
  };
  // clang-format off
  const Profile kProfiles[] = {
      // single and few requests: every edge length, long splits of one request
      {1, 1, false, 0, 3},    {1, 20, false, 0, 3},   {1, 63, false, 0, 3},    {1, 64, false, 0, 3},
      {1, 65, false, 0, 3},   {1, 140, false, 0, 3},  {1, 4096, false, 0, 3},  {1, 16384, false, 0, 3},
      {2, 1, false, 0, 3},    {2, 20, false, 0, 3},   {2, 63, false, 0, 3},    {2, 64, false, 0, 3},
      {2, 65, false, 0, 3},   {2, 140, false, 0, 3},  {2, 4096, false, 0, 3},  {2, 16384, false, 0, 3},
      {2, 4096, true, 1, 2},
      {6, 1, false, 0, 3},    {6, 20, false, 0, 3},   {6, 63, false, 0, 3},    {6, 64, false, 0, 3},
      {6, 65, false, 0, 3},   {6, 140, false, 0, 3},  {6, 4096, false, 0, 3},  {6, 16384, false, 0, 2},
      {6, 140, true, 2, 2},   {6, 4096, true, 2, 3},  {6, 16384, true, 1, 2},
      // large batches: scheduling across many requests, short and long
      {64, 1, false, 0, 3},   {64, 20, false, 0, 3},  {64, 63, false, 0, 3},   {64, 64, false, 0, 3},
      {64, 65, false, 0, 3},  {64, 140, false, 0, 3}, {64, 4096, false, 0, 3},
      {64, 140, true, 5, 2},  {64, 4096, true, 4, 3},
      {128, 1, false, 0, 3},  {128, 20, false, 0, 3}, {128, 63, false, 0, 3},  {128, 64, false, 0, 3},
      {128, 65, false, 0, 3}, {128, 140, false, 0, 3}, {128, 4096, false, 0, 2},
      {128, 140, true, 9, 2}, {128, 4096, true, 7, 2},
  };
  // clang-format on

  std::vector<CaseSpec> out;
  int64_t k = 0;  // global rotation counter
  for (const Profile& pr : kProfiles) {
    for (int32_t r = 0; r < pr.repeats; ++r, ++k) {
      const bool causal = (k % 2) != 0;
      const DType dt = ((k / 2) % 2) != 0 ? DType::kFP16 : DType::kBF16;
      // (pair, s_q) rotate with coprime periods 19 and 3; past the oracle budget, take the next
      // combination in rotation order that fits.
      CaseSpec spec;
      bool found = false;
      for (int32_t t = 0; t < 3 * kNumPairs && !found; ++t) {
        const HeadPair hp = kPairs[(k + t) % kNumPairs];
        const int32_t s_q = kSq[(k + t / kNumPairs) % 3];
        spec = pr.varlen ? varlen_case(pr.batch, s_q, hp.h_q, hp.h_kv, pr.len, causal, dt, pr.zeros)
                         : fixed_case(pr.batch, s_q, hp.h_q, hp.h_kv, pr.len, causal, dt);
        found = oracle_flops(spec) <= kCap;
      }
      if (found) out.push_back(spec);
    }
  }
  // Batches of empty requests only, and explicit mixes of empty and long requests.
  out.push_back(fixed_case(1, 1, 128, 1, 0, false, DType::kBF16));
  out.push_back(fixed_case(2, 4, 64, 8, 0, true, DType::kFP16));
  out.push_back(list_case({0, 16384}, 2, 126, 2, true, DType::kBF16));
  out.push_back(list_case({16384, 0, 1, 63, 0, 65}, 4, 9, 3, true, DType::kFP16));
  out.push_back(list_case({4096, 0, 0, 0, 0, 140}, 1, 128, 8, false, DType::kBF16));
  // The combine's 4- and 2-warps-per-row launches (b * s_q * h_q = 2048 and 4096 rows; combine.cu), with
  // several splits per request.
  out.push_back(fixed_case(16, 1, 128, 1, 4096, false, DType::kBF16));
  out.push_back(fixed_case(32, 1, 128, 1, 1000, true, DType::kFP16));
  // The production shape (h_q = 128, long varlen batch), once, above the per-case budget.
  out.push_back(varlen_case(64, 1, 128, 1, 4096, false, DType::kBF16, 4));
  // The huge ones (b = 128 x 16384): few, with small head counts, since the oracle runs them too.
  out.push_back(fixed_case(128, 1, 16, 1, 16384, false, DType::kBF16));
  out.push_back(fixed_case(128, 4, 3, 1, 16384, true, DType::kFP16));
  out.push_back(varlen_case(128, 2, 1, 1, 16384, true, DType::kBF16, 6));
  make_names_unique(out);
  return out;
}

// docs/performance.md tables: b = 128 varlen, h_kv = 1, bf16.
std::vector<CaseSpec> set_bench_compute() {
  std::vector<CaseSpec> out;
  for (int32_t sk : {4096, 8192, 16384, 32768}) out.push_back(varlen_case(128, 1, 128, 1, sk, false, DType::kBF16));
  for (int32_t sk : {4096, 8192, 16384, 32768}) out.push_back(varlen_case(128, 2, 128, 1, sk, false, DType::kBF16));
  for (int32_t sk : {4096, 16384}) out.push_back(varlen_case(128, 1, 128, 1, sk, true, DType::kBF16));
  return out;
}
std::vector<CaseSpec> set_bench_memory() {
  std::vector<CaseSpec> out;
  for (int32_t h : {16, 32, 64}) {
    for (int32_t sk : {4096, 16384}) out.push_back(varlen_case(128, 1, h, 1, sk, false, DType::kBF16));
  }
  return out;
}
// Latency rows (fixed lengths, causal flag set) and the FA3 comparison's b=128 x 1k x h16 row.
std::vector<CaseSpec> set_bench_latency() {
  return {fixed_case(1, 1, 128, 1, 8192, true, DType::kBF16), fixed_case(8, 1, 128, 1, 8192, true, DType::kBF16),
          fixed_case(32, 1, 128, 1, 8192, true, DType::kBF16), fixed_case(1, 1, 16, 1, 65536, true, DType::kBF16),
          fixed_case(128, 1, 16, 1, 1024, true, DType::kBF16)};
}
// MTP rows (s_q = 4, varlen, causal).
std::vector<CaseSpec> set_bench_mtp() {
  return {varlen_case(4, 4, 16, 1, 16384, true, DType::kBF16), varlen_case(64, 4, 128, 1, 2048, true, DType::kBF16)};
}

bool glob_match(const char* p, const char* s) {
  // Iterative '*' / '?' matcher with backtracking to the last star.
  const char* star = nullptr;
  const char* retry = nullptr;
  while (*s) {
    if (*p == '?' || *p == *s) {
      ++p;
      ++s;
    } else if (*p == '*') {
      star = p++;
      retry = s;
    } else if (star) {
      p = star + 1;
      s = ++retry;
    } else {
      return false;
    }
  }
  while (*p == '*') ++p;
  return *p == '\0';
}

bool any_pattern_matches(const std::string& name, const std::string& patterns) {
  size_t pos = 0;
  while (pos <= patterns.size()) {
    const size_t end = std::min(patterns.find(':', pos), patterns.size());
    const std::string pat = patterns.substr(pos, end - pos);
    if (!pat.empty() && glob_match(pat.c_str(), name.c_str())) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

// ---- builders ------------------------------------------------------------------------------------

uint64_t seed_of_name(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string case_name(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, const std::string& len_tag, bool causal,
                      DType dtype) {
  return "b" + std::to_string(batch) + "_sq" + std::to_string(s_q) + "_h" + std::to_string(h_q) + "_hkv" +
         std::to_string(h_kv) + "_L" + len_tag + (causal ? "_causal_" : "_nocausal_") + dtype_tag(dtype);
}

std::vector<int32_t> varlen_seqlens(int32_t batch, int32_t mean_seqlen, int32_t s_q, uint64_t seed) {
  Rng rng(mix(seed, 0x5e91e25ull));
  std::vector<int32_t> out(std::max(batch, 0));
  for (int32_t& L : out) {
    const double v =
        std::max(mean_seqlen + static_cast<double>(rng.normal()) * (mean_seqlen / 2.0), static_cast<double>(s_q));
    L = std::max(0, static_cast<int32_t>(std::min(v, 2.0e9)));
  }
  return out;
}

CaseSpec fixed_case(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, int32_t seqlen, bool causal, DType dtype) {
  CaseSpec s;
  s.batch = batch;
  s.s_q = s_q;
  s.h_q = h_q;
  s.h_kv = h_kv;
  s.seqlens.assign(std::max(batch, 0), seqlen);
  s.causal = causal;
  s.dtype = dtype;
  s.name = case_name(batch, s_q, h_q, h_kv, std::to_string(seqlen), causal, dtype);
  s.seed = seed_of_name(s.name);
  return s;
}

CaseSpec varlen_case(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, int32_t mean_seqlen, bool causal,
                     DType dtype, int32_t num_zero) {
  CaseSpec s;
  s.batch = batch;
  s.s_q = s_q;
  s.h_q = h_q;
  s.h_kv = h_kv;
  s.causal = causal;
  s.dtype = dtype;
  std::string tag = "var" + std::to_string(mean_seqlen);
  if (num_zero > 0) tag += "z" + std::to_string(num_zero);
  s.name = case_name(batch, s_q, h_q, h_kv, tag, causal, dtype);
  s.seed = seed_of_name(s.name);
  s.seqlens = varlen_seqlens(batch, mean_seqlen, s_q, s.seed);
  const int32_t zeros = std::min(num_zero, batch);
  if (zeros > 0) {
    std::vector<int32_t> idx(batch);
    for (int32_t i = 0; i < batch; ++i) idx[i] = i;
    // The first and the last request, then seeded others.
    if (batch > 1) std::swap(idx[1], idx[batch - 1]);
    Rng rng(mix(s.seed, 0x2e505ull));
    for (int32_t i = 2; i < batch; ++i) {
      const int32_t j = i + static_cast<int32_t>(rng.below(static_cast<uint32_t>(batch - i)));
      std::swap(idx[i], idx[j]);
    }
    for (int32_t z = 0; z < zeros; ++z) s.seqlens[idx[z]] = 0;
  }
  return s;
}

CaseSpec list_case(std::vector<int32_t> seqlens, int32_t s_q, int32_t h_q, int32_t h_kv, bool causal, DType dtype,
                   const std::string& len_tag) {
  CaseSpec s;
  s.batch = static_cast<int32_t>(seqlens.size());
  s.s_q = s_q;
  s.h_q = h_q;
  s.h_kv = h_kv;
  s.causal = causal;
  s.dtype = dtype;
  std::string tag = len_tag;
  if (tag.empty()) {
    for (size_t i = 0; i < seqlens.size(); ++i) {
      if (i) tag += "_";
      tag += seqlens[i] < 0 ? "m" + std::to_string(-static_cast<int64_t>(seqlens[i])) : std::to_string(seqlens[i]);
    }
  }
  s.seqlens = std::move(seqlens);
  s.name = case_name(s.batch, s_q, h_q, h_kv, tag, causal, dtype);
  s.seed = seed_of_name(s.name);
  return s;
}

// ---- dims, data, views ---------------------------------------------------------------------------

CaseDims case_dims(const CaseSpec& spec, const MakeOptions& opt) {
  CaseDims d;
  d.batch = spec.batch;
  d.s_q = spec.s_q;
  d.h_q = spec.h_q;
  d.h_kv = spec.h_kv;
  int64_t used = 0;
  int32_t maxp = 0;
  for (int32_t L : spec.seqlens) {
    used += pages_of(L);
    maxp = std::max(maxp, pages_of(L));
  }
  d.num_blocks = static_cast<int32_t>(used + std::max(opt.spare_pages, 0));
  d.max_blocks = maxp + 2;
  return d;
}

HostCase make_case(const CaseSpec& spec, const MakeOptions& opt) {
  if (static_cast<int64_t>(spec.seqlens.size()) != spec.batch) {
    throw std::invalid_argument("make_case(" + spec.name + "): seqlens.size() = " +
                                std::to_string(spec.seqlens.size()) + " but batch = " + std::to_string(spec.batch));
  }
  const int32_t threads = resolve_threads(opt.threads);
  HostCase c;
  c.spec = spec;
  c.dims = case_dims(spec, opt);
  c.softmax_scale = 1.0f / std::sqrt(static_cast<float>(kD));
  c.seqlens = spec.seqlens;
  const CaseDims& d = c.dims;
  const int32_t b = d.batch;
  const uint16_t nan = numerics::quiet_nan_bits(spec.dtype);

  // Pages: a seeded permutation of all page ids; requests take consecutive stretches of it.
  std::vector<int32_t> perm(d.num_blocks);
  for (int32_t p = 0; p < d.num_blocks; ++p) perm[p] = p;
  {
    Rng rng(mix(spec.seed, 0x7ab1eull));
    for (int32_t p = d.num_blocks - 1; p > 0; --p) std::swap(perm[p], perm[rng.below(static_cast<uint32_t>(p + 1))]);
  }
  std::vector<int32_t> owner_req(d.num_blocks, -1), owner_idx(d.num_blocks, -1);
  c.block_table.assign(static_cast<size_t>(d.block_table_numel()), 0);
  const int64_t garbage[] = {0x7fffffff, -1, int64_t{d.num_blocks} + 12345, std::numeric_limits<int32_t>::min(),
                             d.num_blocks};
  int64_t next = 0;
  for (int32_t i = 0; i < b; ++i) {
    const int32_t n = pages_of(c.seqlens[i]);
    for (int32_t k = 0; k < d.max_blocks; ++k) {
      int32_t& e = c.block_table[static_cast<size_t>(i) * d.max_blocks + k];
      if (k < n) {
        const int32_t page = perm[next++];
        e = page;
        owner_req[page] = i;
        owner_idx[page] = k;
      } else {
        e = opt.poison ? static_cast<int32_t>(std::clamp<int64_t>(garbage[(i + k) % 5], INT32_MIN, INT32_MAX)) : 0;
      }
    }
  }

  // q: one random stream per (token, head) row.
  c.q.resize(static_cast<size_t>(d.q_numel()));
  const uint64_t q_seed = mix(spec.seed, 1);
  parallel_for(int64_t{b} * d.s_q * d.h_q, threads, [&](int64_t row) {
    Rng rng(mix(q_seed, static_cast<uint64_t>(row)));
    fill_random(c.q.data() + row * kD, kD, rng, spec.dtype);
  });

  // k_cache: one random stream per (request, logical page); NaN where nobody may read.
  c.k_cache.resize(static_cast<size_t>(d.k_numel()));
  const uint64_t k_seed = mix(spec.seed, 2);
  const int64_t page_elems = int64_t{kPage} * d.h_kv * kD;
  const int64_t row_elems = int64_t{d.h_kv} * kD;
  parallel_for(d.num_blocks, threads, [&](int64_t page) {
    uint16_t* dst = c.k_cache.data() + page * page_elems;
    const int32_t i = owner_req[page];
    int64_t rows = 0;
    if (i >= 0) {
      const int32_t k = owner_idx[page];
      rows = std::min<int64_t>(kPage, int64_t{c.seqlens[i]} - int64_t{k} * kPage);
      Rng rng(mix(k_seed, (static_cast<uint64_t>(i) << 32) | static_cast<uint32_t>(k)));
      fill_random(dst, rows * row_elems, rng, spec.dtype);
    }
    if (opt.poison) std::fill(dst + rows * row_elems, dst + page_elems, nan);
  });

  c.out.assign(static_cast<size_t>(d.out_numel()), nan);
  c.lse.assign(static_cast<size_t>(d.lse_numel()), std::numeric_limits<float>::quiet_NaN());
  return c;
}

void poison_outputs(HostCase& c) {
  std::fill(c.out.begin(), c.out.end(), numerics::quiet_nan_bits(c.spec.dtype));
  std::fill(c.lse.begin(), c.lse.end(), std::numeric_limits<float>::quiet_NaN());
}

CaseViews make_views(const CaseDims& d, DType dtype, const CasePointers& p, DeviceType device, int32_t device_index) {
  CaseViews v;
  v.q = make_view(p.q, dtype, {d.batch, d.s_q, d.h_q, kD}, device, device_index);
  v.k_cache = make_view(p.k_cache, dtype, {d.num_blocks, kPage, d.h_kv, kD}, device, device_index);
  v.block_table = make_view(p.block_table, DType::kInt32, {d.batch, d.max_blocks}, device, device_index);
  v.cache_seqlens = make_view(p.cache_seqlens, DType::kInt32, {d.batch}, device, device_index);
  v.out = make_view(p.out, dtype, {d.batch, d.s_q, d.h_q, kDV}, device, device_index);
  v.lse = make_view(p.lse, DType::kFP32, {d.batch, d.h_q, d.s_q}, device, device_index);
  return v;
}

CaseViews host_views(HostCase& c) {
  CasePointers p;
  p.q = c.q.data();
  p.k_cache = c.k_cache.data();
  p.block_table = c.block_table.data();
  p.cache_seqlens = c.seqlens.data();
  p.out = c.out.data();
  p.lse = c.lse.data();
  return make_views(c.dims, c.spec.dtype, p);
}

DecodeArgs make_decode_args(const CaseSpec& spec, const CaseViews& v) {
  DecodeArgs a;
  a.q = v.q;
  a.k_cache = v.k_cache;
  a.block_table = v.block_table;
  a.cache_seqlens = v.cache_seqlens;
  a.head_dim_v = kDV;
  a.softmax_scale = 0.0f;
  a.causal = spec.causal;
  a.out = v.out;
  a.lse = v.lse;
  return a;
}

DecodeShape make_decode_shape(const CaseSpec& spec, const CaseDims& d) {
  DecodeShape s;
  s.batch = d.batch;
  s.s_q = d.s_q;
  s.h_q = d.h_q;
  s.h_kv = d.h_kv;
  s.heads_per_kv = d.h_kv > 0 ? d.h_q / d.h_kv : 0;
  s.head_dim = kD;
  s.head_dim_v = kDV;
  s.num_blocks = d.num_blocks;
  s.page_size = kPage;
  s.max_blocks_per_seq = d.max_blocks;
  s.num_sm_parts = 0;
  s.dtype = spec.dtype;
  s.softmax_scale = 1.0f / std::sqrt(static_cast<float>(kD));
  return s;
}

// ---- docs/performance.md formulas ----------------------------------------------------------------------------

double mean_seqlen(const CaseSpec& s) {
  if (s.seqlens.empty()) return 0.0;
  double sum = 0;
  for (int32_t L : s.seqlens) sum += L;
  return sum / static_cast<double>(s.seqlens.size());
}
double case_flops(const CaseSpec& s) {
  return static_cast<double>(s.batch) * s.h_q * s.s_q * mean_seqlen(s) * 2.0 * (kD + kDV);
}
double case_bytes(const CaseSpec& s) {
  return static_cast<double>(s.batch) *
         (static_cast<double>(s.s_q) * s.h_q * kD * 2 + mean_seqlen(s) * s.h_kv * kD * 2 +
          static_cast<double>(s.s_q) * s.h_q * kDV * 2);
}

// ---- named sets ----------------------------------------------------------------------------------

std::vector<std::string> case_set_names() {
  return {"cpu_small", "gpu_matrix", "bench_compute", "bench_memory", "bench_latency", "bench_mtp", "bench_all"};
}

std::vector<CaseSpec> case_set(const std::string& set_name) {
  if (set_name == "cpu_small") return set_cpu_small();
  if (set_name == "gpu_matrix") return set_gpu_matrix();
  if (set_name == "bench_compute") return set_bench_compute();
  if (set_name == "bench_memory") return set_bench_memory();
  if (set_name == "bench_latency") return set_bench_latency();
  if (set_name == "bench_mtp") return set_bench_mtp();
  if (set_name == "bench_all") {
    std::vector<CaseSpec> all;
    for (const char* n : {"bench_compute", "bench_memory", "bench_latency", "bench_mtp"}) {
      for (CaseSpec& s : case_set(n)) all.push_back(std::move(s));
    }
    make_names_unique(all);
    return all;
  }
  return {};
}

bool name_matches(const std::string& name, const std::string& filter) {
  if (filter.empty()) return true;
  const size_t dash = filter.find('-');
  const std::string pos = filter.substr(0, dash);
  const std::string neg = dash == std::string::npos ? "" : filter.substr(dash + 1);
  const bool in = pos.empty() || any_pattern_matches(name, pos);
  return in && !(neg.empty() ? false : any_pattern_matches(name, neg));
}

std::vector<CaseSpec> filter_cases(const std::vector<CaseSpec>& specs, const std::string& filter) {
  std::vector<CaseSpec> out;
  for (const CaseSpec& s : specs) {
    if (name_matches(s.name, filter)) out.push_back(s);
  }
  return out;
}

}  // namespace flashmla::test
