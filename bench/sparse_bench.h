// flashmla_bench — the sparse sets: `sparse` (sparse FP8 top-k decode, issue 11's table) and
// `sparse_prefill` (issue 12's table). Their inputs, work formulas and rows differ from the dense
// decode's CaseSpec, so they have their own case type, runner (GPU only) and JSON section.
//
//   sparse decode:  FLOP  = 2 * sum(valid indices) * h_q * (d_qk + 512), valid = b * s_q * (topk + extra_topk)
//                   bytes = q + unique tokens * bytes_per_token (656 V32 / 584 MODEL1) + out
//   sparse prefill: FLOP  = 2 * sum(valid topk) * h_q * (d_qk + 512), valid = s_q * min(topk, s_kv)
//                   bytes = q + unique kv rows * d_qk * 2 + out + max_logits + lse
// Timing as for the dense sets: eager (CUDA events around --iters back-to-back calls) and graph (--iters
// calls captured once, replayed), medians of --repeats samples; decode cases rotate among index sets
// until the gathered bytes exceed --l2-multiple L2s. Reference: the "sparse_decode" / "sparse_prefill"
// sections of bench/reference_<card>.json (rows keyed by the case names below).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bench.h"

namespace flashmla::bench {

struct SparseBenchCase {
  std::string name;  // e.g. v32_b2_sq2_h128_topk2048, d576_h128_topk2048_sq4096_skv8192
  std::string set;   // "sparse" or "sparse_prefill"
  bool prefill = false;
  int32_t d_qk = 576;  // decode: 576 = V32, 512 = MODEL1
  int32_t batch = 1, s_q = 1, h_q = 128, topk = 2048;
  int32_t extra_topk = 0;        // decode: 0 = no extra cache
  int32_t page = 64, extra_page = 64;
  int64_t s_kv = 0;              // prefill: kv rows; decode: main-pool tokens per request
  int64_t extra_s_kv = 0;        // decode: extra-pool tokens per request
  bool sink = false;             // attn_sink [h_q]
};

struct SparseResult {
  SparseBenchCase c;
  double flop = 0, bytes = 0;
  size_t workspace_bytes = 0;  // decode: non-zero = the top-k lists are split across CTAs
  int32_t input_sets = 1;
  Samples eager, graph;
  double host_us_per_call = 0, setup_s = 0;
  std::string error, graph_error;
  bool fatal = false;
  double best_us() const;
};

// "sparse" / "sparse_prefill": the cases; unknown name: empty.
std::vector<SparseBenchCase> sparse_bench_set(const std::string& set);
bool is_sparse_set(const std::string& set);

// GPU only (built without CUDA: an error row).
SparseResult run_sparse_case(const SparseBenchCase& c, const Options& opt, const MachineInfo& info);

// The JSON sections {"sparse_decode": [...], "sparse_prefill": [...], "sparse_verdicts": [...]}, each row
// beside the reference's row of the same name, and a readable table.
nlohmann::json sparse_sections(const std::vector<SparseResult>& results, const Reference& ref, const Ceilings& c);
void print_sparse_table(const std::vector<SparseResult>& results, const Reference& ref, const Ceilings& c);
std::string sparse_reference_note(const Reference& ref, const SparseResult& r);

}  // namespace flashmla::bench
