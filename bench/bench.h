// flashmla_bench — shared types of the benchmark CLI: options, per-case results, machine facts, and the
// runners (GPU: gpu_runner.cpp, CPU: cpu_runner.cpp) and the report (report.cpp) that use them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cases.h"

namespace flashmla::bench {

// The shared case definitions (testing/) are the benchmark's vocabulary.
using namespace flashmla::test;

struct Options {
  std::vector<std::string> sets;  // resolved case-set names, e.g. "bench_compute"
  std::string case_filter;        // substring, or a gtest-style pattern (with * ? : or -)
  DType dtype = DType::kBF16;
  int iters = 20;         // decode() calls per timed sample (eager) / per captured graph
  int warmup = 5;         // untimed calls (eager) / replays (graph) before the samples
  int repeats = 7;        // samples per mode; the median is reported
  bool iters_given = false;
  bool verify = false;
  int verify_requests = 4;  // requests per case compared with the CPU backend
  bool ceilings = true;
  bool force_cpu = false;
  int device = 0;
  double l2_multiple = 4.0;  // input sets rotate until their total footprint is >= this many L2s
  std::string out_path;
  std::string reference_path;  // a reference JSON file; empty: a compiled-in table (reference_card)
  std::string reference_card;  // "h100", "h200", "none"; empty: chosen by the GPU's name
  // The dense FP8 cache (docs/dense_fp8.md): e4m3 cache with a per-tensor descale_k; fp8_q: q in e4m3 too.
  // Case names get "_fp8kv" / "_fp8kv_fp8q"; their reference rows are the table's "dense_fp8" section.
  bool fp8_cache = false;
  bool fp8_q = false;
};

// The case-name suffix of the FP8-cache variants, "" for the 16-bit cache.
inline const char* fp8_suffix(const Options& opt) { return !opt.fp8_cache ? "" : (opt.fp8_q ? "_fp8kv_fp8q" : "_fp8kv"); }
// docs/performance.md's byte count with 1 B per e4m3 value (cache; q too with fp8_q), out bf16/fp16.
double fp8_case_bytes(const CaseSpec& spec, bool fp8_q);

struct VerifyResult {
  bool ran = false;
  bool ok = false;
  std::vector<int32_t> requests;  // which requests were compared
  double out_max_abs = 0, out_max_rel = 0, out_cos_diff = 0;
  double lse_max_abs = 0, lse_max_rel = 0;
  int64_t out_bad = 0, lse_bad = 0;
  std::string message;  // first failure, or "ok"
};

struct Samples {
  std::vector<double> us;  // per-call microseconds, one per sample
  double median() const;
  double min() const;
  double max() const;
};

struct CaseResult {
  CaseSpec spec;
  std::string set;  // the set it came from
  double flop = 0, bytes = 0, mean_len = 0;
  int32_t max_len = 0;
  int32_t num_sm_parts = 0;
  int32_t input_sets = 1;
  double footprint_bytes = 0;  // bytes one decode touches (case_bytes)
  Samples eager, graph;
  double host_us_per_call = 0;  // wall time of enqueueing one eager call (no sync)
  double setup_s = 0;           // time to build the inputs
  std::string error;            // non-empty: the case did not (fully) run
  bool fatal = false;           // a sticky CUDA error: no later case can run in this process
  std::string graph_error;
  VerifyResult verify;

  // A result with the case's work (docs/performance.md formulas) filled in, nothing measured yet.
  static CaseResult for_spec(const CaseSpec& spec);

  bool has_eager() const { return !eager.us.empty(); }
  bool has_graph() const { return !graph.us.empty(); }
  double best_us() const;  // min(eager median, graph median); 0 if none
  std::string best_mode() const;
};

struct Ceilings {
  bool measured = false;
  double copy_gbps = 0;  // median; bytes read + written / time
  double gemm_tflops = 0;
  std::vector<double> copy_samples, gemm_samples;
  double copy_bytes = 0;  // size of the copied buffer
  std::string gemm_error, copy_error;
};

struct MachineInfo {
  std::string backend = "cpu";  // "cuda" | "cpu"
  std::string card = "cpu";
  std::string card_slug = "cpu";
  std::string cpu_reason;  // why the CPU backend runs
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  int64_t l2_bytes = 0;
  int64_t memory_bytes = 0;
  int driver_version = 0, runtime_version = 0;
  std::string driver_string;  // from nvidia-smi, when available
  int host_threads = 0;
};

// ---- runners -------------------------------------------------------------------------------------
// GPU runner (built with CUDA only). probe_gpu() fills `info` and returns true when a Hopper GPU that
// flashmla supports is usable; otherwise sets info.cpu_reason.
bool probe_gpu(const Options& opt, MachineInfo& info);
Ceilings measure_ceilings(const Options& opt);
CaseResult run_gpu_case(const CaseSpec& spec, const Options& opt, const MachineInfo& info);
// CPU runner: the CPU backend on host buffers, timed with a host clock.
CaseResult run_cpu_case(const CaseSpec& spec, const Options& opt);
std::vector<CaseSpec> cpu_demo_cases();

// ---- the reference table (reference.cpp: bench/reference_<card>.json, compiled in) -------------------
// docs/performance.md's numbers for one card. A run on a GPU uses --reference FILE, else --reference-card, else the
// table its card's name selects (H200: h200; H100, H800: h100); other cards and the CPU backend: none.
struct Reference {
  std::string name;  // "h100", "h200" or the --reference file; empty: none
  std::string why;   // how it was chosen, or why there is none
  std::shared_ptr<const nlohmann::json> table;  // the parsed JSON; null: none
  bool loaded() const { return table != nullptr; }
  std::string describe() const;  // e.g. "h200 (bench/reference_h200.json, compiled in; chosen by ...)"
};
Reference select_reference(const Options& opt, const MachineInfo& info);
std::vector<std::string> compiled_reference_names();
// A case's time over FlashMLA's and the best peer's, e.g. "1.10x FlashMLA, 1.16x best peer"; "" without a row.
std::string reference_note(const Reference& ref, const CaseResult& r);

// ---- report (report.cpp and reference.cpp: the only translation units that parse or write JSON) -------
struct RunInfo {
  Options opt;
  MachineInfo info;
  Ceilings ceilings;
  Reference reference;
  std::string commit;
  bool commit_from_git = false;  // false: git_dirty is unknown
  bool dirty = false;
  std::string dtype;
  std::shared_ptr<nlohmann::json> sections;  // extra top-level JSON sections (the sparse sets), or null
};
// Writes the results JSON (each case against run.reference, and the run's verdicts per target).
// Returns an error message, empty on success.
std::string write_results(const std::string& path, const RunInfo& run, const std::vector<CaseResult>& results);
// The readable table and one verdict line per target, printed last.
void print_table(const RunInfo& run, const std::vector<CaseResult>& results);
std::string utc_now_iso();
std::string utc_date();
std::string format_us(double us);

// Verification helper shared by runners: compares `got` with the CPU backend on a sub-case made of
// the given requests. Inputs are host copies of those requests' data (see gpu_runner.cpp).
struct SubCase {
  CaseSpec spec;                     // batch = number of requests, seqlens of those requests
  CaseDims dims;                     // num_blocks / max_blocks of the compacted cache
  std::vector<uint16_t> q;           // [k, s_q, h_q, 576]
  std::vector<uint16_t> k_cache;     // [num_blocks, 64, h_kv, 576] compacted
  std::vector<int32_t> block_table;  // [k, max_blocks]
  std::vector<int32_t> seqlens;      // [k]
  std::vector<uint16_t> out_got;     // [k, s_q, h_q, 512] from the device
  std::vector<float> lse_got;        // [k, h_q, s_q]
};
VerifyResult verify_against_cpu(SubCase& sub, const std::vector<int32_t>& requests);

}  // namespace flashmla::bench
