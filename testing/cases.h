// Case definitions shared by the CPU tests, the GPU tests and the benchmark.
//
// A CaseSpec is a small, named description of one decode problem (batch, heads, lengths, flags, seed);
// make_case() turns it into host buffers with the adversarial layout of docs/architecture.md:
//   - q and every cache row a request may read hold clamp(randn / 10, -1, 1) in the case's dtype;
//   - pages are handed out as a random permutation (shuffled across requests), and kSparePages extra
//     pages exist that no request owns;
//   - every cache element no request may read is NaN: spare pages and the tail rows of each request's
//     last page (rows >= L % 64 when L % 64 != 0);
//   - block-table entries past each request's ceil(L / 64) pages hold garbage page ids
//     (0x7fffffff, -1, num_blocks + 12345, INT32_MIN, num_blocks);
//   - out and lse are filled with NaN, so that every element must be written.
// Data are deterministic functions of (spec, seed) and do not depend on the number of threads used.
//
// Names are stable and filterable (gtest-safe: letters, digits, '_'), e.g.
//   b6_sq2_h63_hkv3_L65_causal_bf16        fixed length 65 for all 6 requests
//   b64_sq1_h16_hkv1_Lvar4096z3_nocausal_fp16  FlashMLA-style varlen around 4096, 3 requests set to 0
//   b3_sq4_h3_hkv1_L1_2_3_causal_fp16      explicit lengths
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/decode_problem.h"
#include "flashmla/params.h"
#include "flashmla/types.h"

namespace flashmla::test {

constexpr int32_t kD = 576;    // head_dim (q, k)
constexpr int32_t kDV = 512;   // head_dim_v
constexpr int32_t kPage = 64;  // page_block_size
constexpr int32_t kSparePages = 3;

struct CaseSpec {
  std::string name;
  int32_t batch = 1;
  int32_t s_q = 1;
  int32_t h_q = 1;
  int32_t h_kv = 1;
  std::vector<int32_t> seqlens;  // [batch]
  bool causal = false;
  DType dtype = DType::kBF16;
  uint64_t seed = 0;  // the builders below derive it from the name (fresh data per case)
};

// ---- building specs (name and seed filled in) ----------------------------------------------------
// Every request has length `seqlen`.
CaseSpec fixed_case(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, int32_t seqlen, bool causal, DType dtype);
// FlashMLA's varlen lengths: L_i = int(max(N(mean, mean / 2), s_q)), >= 0, seeded by the name; then
// `num_zero` requests (the first, the last, then seeded random others) get length 0.
CaseSpec varlen_case(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, int32_t mean_seqlen, bool causal,
                     DType dtype, int32_t num_zero = 0);
// Explicit lengths (may contain 0). `len_tag` replaces the length part of the name when given
// (default: the lengths joined by '_').
CaseSpec list_case(std::vector<int32_t> seqlens, int32_t s_q, int32_t h_q, int32_t h_kv, bool causal, DType dtype,
                   const std::string& len_tag = "");
// The name the builders give: b<batch>_sq<s_q>_h<h_q>_hkv<h_kv>_L<len_tag>_<causal|nocausal>_<bf16|fp16>.
std::string case_name(int32_t batch, int32_t s_q, int32_t h_q, int32_t h_kv, const std::string& len_tag, bool causal,
                      DType dtype);
// FlashMLA's varlen draw on its own.
std::vector<int32_t> varlen_seqlens(int32_t batch, int32_t mean_seqlen, int32_t s_q, uint64_t seed);
uint64_t seed_of_name(const std::string& name);  // FNV-1a 64

// ---- dimensions (computable from the spec alone, without buffers) ----------------------------------
struct MakeOptions {
  // true: NaN in every cache element no request may read, garbage ids in unused block-table entries.
  // false: those stay 0 (cache) / page 0 (table): cheaper for multi-GB benchmark caches.
  bool poison = true;
  int32_t spare_pages = kSparePages;  // pages owned by no request
  int32_t threads = 0;                // generator threads; 0 = std::thread::hardware_concurrency()
};

struct CaseDims {
  int32_t batch = 0, s_q = 0, h_q = 0, h_kv = 0;
  int32_t num_blocks = 0;  // k_cache.shape[0]: sum of ceil(L_i / 64) + spare pages
  int32_t max_blocks = 0;  // block_table.shape[1]: max ceil(L_i / 64) + 2
  int64_t q_numel() const { return int64_t{batch} * s_q * h_q * kD; }          // [b, s_q, h_q, 576]
  int64_t k_numel() const { return int64_t{num_blocks} * kPage * h_kv * kD; }  // [nb, 64, h_kv, 576]
  int64_t block_table_numel() const { return int64_t{batch} * max_blocks; }    // [b, max_blocks]
  int64_t out_numel() const { return int64_t{batch} * s_q * h_q * kDV; }       // [b, s_q, h_q, 512]
  int64_t lse_numel() const { return int64_t{batch} * h_q * s_q; }             // [b, h_q, s_q]
};
CaseDims case_dims(const CaseSpec& spec, const MakeOptions& opt = {});

// ---- host data -----------------------------------------------------------------------------------
struct HostCase {
  CaseSpec spec;
  CaseDims dims;
  float softmax_scale = 0.0f;        // 576^-0.5, resolved
  std::vector<uint16_t> q;           // [b, s_q, h_q, 576] contiguous, dtype bit patterns
  std::vector<uint16_t> k_cache;     // [num_blocks, 64, h_kv, 576] contiguous
  std::vector<int32_t> block_table;  // [b, max_blocks]
  std::vector<int32_t> seqlens;      // [b]
  std::vector<uint16_t> out;         // [b, s_q, h_q, 512], NaN-poisoned
  std::vector<float> lse;            // [b, h_q, s_q], NaN-poisoned
};
// Throws std::invalid_argument if spec.seqlens.size() != spec.batch (a bug in the test).
HostCase make_case(const CaseSpec& spec, const MakeOptions& opt = {});
// Refills out and lse with NaN.
void poison_outputs(HostCase& c);

// ---- views over any memory holding a case (host buffers, or device copies of them) ----------------
struct CasePointers {
  void* q = nullptr;
  void* k_cache = nullptr;
  void* block_table = nullptr;
  void* cache_seqlens = nullptr;
  void* out = nullptr;
  void* lse = nullptr;
};
struct CaseViews {
  TensorView q, k_cache, block_table, cache_seqlens, out, lse;
};
// Contiguous views with the case's shapes and dtypes over the given pointers.
CaseViews make_views(const CaseDims& dims, DType dtype, const CasePointers& ptrs, DeviceType device = DeviceType::kCPU,
                     int32_t device_index = 0);
CaseViews host_views(HostCase& c);
// DecodeArgs with q .. lse, head_dim_v, causal (from spec) and the default softmax scale (0); the
// caller adds the schedule, workspace and stream.
DecodeArgs make_decode_args(const CaseSpec& spec, const CaseViews& views);
// The DecodeShape validation resolves for this case (num_sm_parts = 0, softmax_scale = 576^-0.5).
DecodeShape make_decode_shape(const CaseSpec& spec, const CaseDims& dims);

// ---- docs/performance.md formulas ----------------------------------------------------------------------------
double mean_seqlen(const CaseSpec& spec);
double case_flops(const CaseSpec& spec);  // b * h_q * s_q * mean_L * 2 * (576 + 512)
double case_bytes(const CaseSpec& spec);  // b * (s_q*h_q*576*2 + mean_L*h_kv*576*2 + s_q*h_q*512*2)

// ---- a tiny seeded generator for randomized tests (deterministic across platforms) -------------------
class Lcg {
 public:
  explicit Lcg(uint64_t s) : s_(s) {}
  uint32_t next() {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(s_ >> 33);
  }
  int32_t below(int32_t n) { return static_cast<int32_t>(next() % static_cast<uint32_t>(n)); }

 private:
  uint64_t s_;
};

// ---- named sets ----------------------------------------------------------------------------------
// "cpu_small", "gpu_matrix", "bench_compute", "bench_memory", "bench_latency", "bench_mtp",
// "bench_all" (the four bench sets). Unknown name: empty vector. Names within a set are unique.
std::vector<std::string> case_set_names();
std::vector<CaseSpec> case_set(const std::string& set_name);
// gtest-style filter: ':'-separated patterns with '*' and '?', optional '-' then negative patterns.
bool name_matches(const std::string& name, const std::string& filter);
std::vector<CaseSpec> filter_cases(const std::vector<CaseSpec>& specs, const std::string& filter);

}  // namespace flashmla::test
