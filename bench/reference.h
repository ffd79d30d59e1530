// flashmla_bench — evaluating a run against its reference table (reference.cpp): each case's ratios to
// DeepSeek FlashMLA and to the best peer, its target checks, and one verdict line per target for the run.
// Used by report.cpp; the table itself (Reference) and its selection are declared in bench.h.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.h"

namespace flashmla::bench {

// One target of one case, docs/performance.md's numbering: "1a" time <= k x FlashMLA, "1b" time <= k x best peer,
// "2" TFLOPS >= limit, "3" bandwidth / copy ceiling >= limit, "4" time <= limit µs.
struct TargetCheck {
  std::string id;
  bool upper = true;       // the value must be <= limit (else >= limit)
  bool evaluated = false;  // false: this run lacks what the check needs (e.g. the copy ceiling)
  bool met = false;
  double value = 0, limit = 0;  // in the target's unit: x, TFLOPS, fraction of copy, µs
  double miss() const;          // how far from the limit; > 1 = missed by that factor
  std::string text() const;     // e.g. "<=0.95x peer", ">=680 TF"
  nlohmann::json to_json() const;
};

struct CaseEval {
  const nlohmann::json* row = nullptr;  // the case's reference row; null: none
  double flashmla_us = 0, best_peer_us = 0;  // at this case's work (work_scale applied); 0 = unknown
  double work_scale = 1;                     // our work / the reference run's (varlen draws differ)
  bool scaled = false;
  double over_flashmla = 0, over_best_peer = 0;  // our best time / theirs; 0 = unknown
  bool fp8 = false;  // an FP8-cache case: the row is dense_fp8's, the peer is vLLM's fork (no FlashMLA)
  std::vector<TargetCheck> checks;
};
CaseEval evaluate_case(const Reference& ref, const CaseResult& r, const Ceilings& c);

struct Verdict {
  std::string id;    // "1a" .. "4", "host"
  std::string line;  // e.g. "target 1a (<= 1.00 x FlashMLA): 5/22 rows met; worst <case> 1.32x"
  nlohmann::json j;
};
std::vector<Verdict> verdicts(const Reference& ref, const std::vector<CaseResult>& results, const Ceilings& c);

}  // namespace flashmla::bench
