// flashmla_bench — statistics, the per-case JSON, the results file and the printed table (the reference
// numbers, targets and verdicts they show come from reference.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "flashmla/flashmla.h"
#include "reference.h"

namespace flashmla::bench {

using nlohmann::json;

// ---- statistics ------------------------------------------------------------------------------------

double Samples::median() const {
  if (us.empty()) return 0.0;
  std::vector<double> v = us;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double Samples::min() const { return us.empty() ? 0.0 : *std::min_element(us.begin(), us.end()); }
double Samples::max() const { return us.empty() ? 0.0 : *std::max_element(us.begin(), us.end()); }

CaseResult CaseResult::for_spec(const CaseSpec& spec) {
  CaseResult r;
  r.spec = spec;
  r.flop = case_flops(spec);
  r.bytes = case_bytes(spec);
  r.mean_len = mean_seqlen(spec);
  r.max_len = spec.seqlens.empty() ? 0 : *std::max_element(spec.seqlens.begin(), spec.seqlens.end());
  r.footprint_bytes = r.bytes;
  return r;
}

double fp8_case_bytes(const CaseSpec& s, bool fp8_q) {
  return static_cast<double>(s.batch) * (static_cast<double>(s.s_q) * s.h_q * kD * (fp8_q ? 1 : 2) +
                                         mean_seqlen(s) * s.h_kv * kD + static_cast<double>(s.s_q) * s.h_q * kDV * 2);
}

double CaseResult::best_us() const {
  if (has_eager() && has_graph()) return std::min(eager.median(), graph.median());
  if (has_eager()) return eager.median();
  if (has_graph()) return graph.median();
  return 0.0;
}
std::string CaseResult::best_mode() const {
  if (has_eager() && has_graph()) return graph.median() <= eager.median() ? "graph" : "eager";
  return has_graph() ? "graph" : (has_eager() ? "eager" : "none");
}

// ---- time --------------------------------------------------------------------------------------------

static std::string utc_format(const char* fmt) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
std::string utc_now_iso() { return utc_format("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_date() { return utc_format("%Y-%m-%d"); }

std::string format_us(double us) {
  char buf[32];
  if (us <= 0) return "-";
  if (us >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3g s", us * 1e-6);
  } else if (us >= 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", us);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", us);
  }
  return buf;
}

// ---- results ----------------------------------------------------------------------------------------

namespace {

json samples_json(const Samples& s) {
  if (s.us.empty()) return nullptr;
  return {{"median_us", s.median()}, {"min_us", s.min()}, {"max_us", s.max()}, {"samples_us", s.us}};
}

std::string dtype_tag(DType t) { return t == DType::kFP16 ? "fp16" : "bf16"; }

std::string ratio_text(double x) {
  if (x <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

json case_json(const CaseResult& r, const Ceilings& c, const Reference& reference) {
  const CaseSpec& s = r.spec;
  json j;
  j["name"] = s.name;
  j["set"] = r.set;
  j["shape"] = {{"batch", s.batch},      {"s_q", s.s_q},        {"h_q", s.h_q},
                {"h_kv", s.h_kv},        {"causal", s.causal},  {"dtype", dtype_tag(s.dtype)},
                {"mean_seqlen", r.mean_len}, {"max_seqlen", r.max_len}, {"seqlens", s.seqlens}};
  j["flop"] = r.flop;
  j["bytes"] = r.bytes;
  j["num_sm_parts"] = r.num_sm_parts;
  j["input_sets"] = r.input_sets;
  j["setup_s"] = r.setup_s;
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.graph_error.empty()) j["graph_error"] = r.graph_error;
  j["eager"] = samples_json(r.eager);
  j["graph"] = samples_json(r.graph);
  j["eager_us"] = r.has_eager() ? json(r.eager.median()) : json(nullptr);
  j["graph_us"] = r.has_graph() ? json(r.graph.median()) : json(nullptr);
  if (r.host_us_per_call > 0) j["host_us_per_call"] = r.host_us_per_call;
  const double us = r.best_us();
  if (us > 0) {
    j["best_us"] = us;
    j["best_mode"] = r.best_mode();
    j["tflops"] = r.flop / us / 1e6;
    j["gbps"] = r.bytes / us / 1e3;
    json ratios = json::object();
    if (c.copy_gbps > 0) ratios["gbps_over_copy"] = r.bytes / us / 1e3 / c.copy_gbps;
    if (c.gemm_tflops > 0) ratios["tflops_over_gemm"] = r.flop / us / 1e6 / c.gemm_tflops;
    j["ratios"] = ratios;
  }
  const CaseEval e = evaluate_case(reference, r, c);
  if (e.row) {
    json ref = *e.row;
    ref["flashmla_us_at_our_work"] = e.flashmla_us;
    ref["best_peer_us_at_our_work"] = e.best_peer_us;
    ref["work_scale"] = e.work_scale;
    ref["work_scaled"] = e.scaled;
    j["reference"] = ref;
    if (e.over_flashmla > 0) j["us_over_flashmla"] = e.over_flashmla;
    if (e.over_best_peer > 0) j["us_over_best_peer"] = e.over_best_peer;
    json targets = json::array();
    for (const TargetCheck& t : e.checks) targets.push_back(t.to_json());
    j["targets"] = targets;
  }
  if (r.verify.ran) {
    const VerifyResult& v = r.verify;
    j["verify"] = {{"ok", v.ok},
                   {"requests", v.requests},
                   {"out_max_abs", v.out_max_abs},
                   {"out_max_rel", v.out_max_rel},
                   {"out_cos_diff", v.out_cos_diff},
                   {"out_bad", v.out_bad},
                   {"lse_max_abs", v.lse_max_abs},
                   {"lse_max_rel", v.lse_max_rel},
                   {"lse_bad", v.lse_bad},
                   {"message", v.message}};
  }
  return j;
}

}  // namespace

std::string write_results(const std::string& path, const RunInfo& run, const std::vector<CaseResult>& results) {
  const Options& opt = run.opt;
  const MachineInfo& info = run.info;
  const Ceilings& ceil = run.ceilings;
  const bool gpu = info.backend == "cuda";
  const Reference& reference = run.reference;
  json out;
  out["tool"] = "flashmla_bench";
  out["flashmla_version"] = version();
  out["backend"] = info.backend;
  out["card"] = info.card;
  if (!gpu) out["cpu_reason"] = info.cpu_reason;
  out["sm_count"] = info.sm_count;
  out["compute_capability"] = std::to_string(info.cc_major) + "." + std::to_string(info.cc_minor);
  out["l2_bytes"] = info.l2_bytes;
  out["memory_bytes"] = info.memory_bytes;
  out["driver_version"] = info.driver_version;
  out["driver"] = info.driver_string;
  out["runtime_version"] = info.runtime_version;
  out["host_threads"] = info.host_threads;
  out["date_utc"] = utc_now_iso();
  out["git_commit"] = run.commit;
  out["git_dirty"] = run.commit_from_git ? json(run.dirty) : json(nullptr);
  out["options"] = {{"sets", opt.sets},     {"case", opt.case_filter}, {"dtype", run.dtype},
                    {"iters", opt.iters},   {"warmup", opt.warmup},    {"repeats", opt.repeats},
                    {"verify", opt.verify}, {"l2_multiple", opt.l2_multiple},
                    {"kv_cache", opt.fp8_cache ? "fp8_e4m3" : run.dtype}, {"q", opt.fp8_q ? "fp8_e4m3" : run.dtype}};
  const char* bytes_formula = !opt.fp8_cache ? "b*(s_q*h_q*576*2 + mean_L*h_kv*576*2 + s_q*h_q*512*2)"
                              : opt.fp8_q    ? "b*(s_q*h_q*576*1 + mean_L*h_kv*576*1 + s_q*h_q*512*2)"
                                             : "b*(s_q*h_q*576*2 + mean_L*h_kv*576*1 + s_q*h_q*512*2)";
  out["formulas"] = {{"flop", "b*h_q*s_q*mean_L*2*(576+512)"},
                     {"bytes", bytes_formula},
                     {"time", "median per call of the better of eager and graph"}};
  if (ceil.measured) {
    out["ceilings"] = {{"copy_gbps", ceil.copy_gbps},           {"copy_gbps_samples", ceil.copy_samples},
                       {"copy_buffer_bytes", ceil.copy_bytes},   {"gemm_tflops", ceil.gemm_tflops},
                       {"gemm_tflops_samples", ceil.gemm_samples}, {"gemm_shape", {8192, 8192, 8192}}};
    if (!ceil.copy_error.empty()) out["ceilings"]["copy_error"] = ceil.copy_error;
    if (!ceil.gemm_error.empty()) out["ceilings"]["gemm_error"] = ceil.gemm_error;
  } else {
    out["ceilings"] = nullptr;
  }
  const json table = reference.loaded() ? *reference.table : json::object();
  out["reference"] = {{"name", reference.name},
                      {"chosen", reference.describe()},
                      {"source", table.value("source", std::string())},
                      {"card", table.value("card", std::string())},
                      {"ceilings", table.contains("ceilings") ? table["ceilings"] : json(nullptr)}};
  json cases = json::array();
  for (const CaseResult& r : results) cases.push_back(case_json(r, ceil, reference));
  out["cases"] = cases;
  json verdict_list = json::array();
  for (const Verdict& v : verdicts(reference, results, ceil)) verdict_list.push_back(v.j);
  out["verdicts"] = verdict_list;
  if (run.sections)
    for (auto it = run.sections->begin(); it != run.sections->end(); ++it) out[it.key()] = it.value();
  try {
    const std::filesystem::path p(path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    std::ofstream f(path);
    f << out.dump(2) << "\n";
    f.close();
    if (!f) return "write failed";
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void print_table(const RunInfo& run, const std::vector<CaseResult>& results) {
  const Ceilings& c = run.ceilings;
  const MachineInfo& info = run.info;
  const Reference& reference = run.reference;
  const bool gpu = info.backend == "cuda";
  size_t w = 4;
  for (const CaseResult& r : results) w = std::max(w, r.spec.name.size());
  std::printf("\n");
  if (gpu) {
    std::printf("== flashmla_bench: %s (%d SMs), ", info.card.c_str(), info.sm_count);
    if (c.measured) {
      std::printf("ceilings: copy %.0f GB/s, bf16 GEMM %.0f TFLOPS", c.copy_gbps, c.gemm_tflops);
    } else {
      std::printf("ceilings not measured");
    }
    std::printf("; reference: %s ==\n", reference.describe().c_str());
  } else {
    std::printf("== flashmla_bench: CPU backend (%s; %d threads), host clock; no ceilings, no reference ==\n",
                info.cpu_reason.c_str(), info.host_threads);
  }
  // The CPU backend runs at GFLOP/s, not TFLOPS.
  const double flop_div = gpu ? 1e6 : 1e3;
  std::printf("%-*s %9s %9s %6s %7s %6s %5s %5s | %8s %6s %8s %6s  %-22s %s\n", static_cast<int>(w), "case",
              "eager_us", "graph_us", "host", gpu ? "TFLOPS" : "GFLOP/s", "GB/s", "/copy", "/gemm", "ref_us", "t/fmla",
              "peer_us", "t/peer", "targets", "verify");
  int met = 0, missed = 0, failed = 0;
  for (const CaseResult& r : results) {
    const double us = r.best_us();
    std::string host = r.host_us_per_call > 0 ? format_us(r.host_us_per_call) : "-";
    char tf[32] = "-", gb[32] = "-", rc[32] = "-", rg[32] = "-";
    if (us > 0) {
      std::snprintf(tf, sizeof tf, "%.1f", r.flop / us / flop_div);
      std::snprintf(gb, sizeof gb, gpu ? "%.0f" : "%.3f", r.bytes / us / 1e3);
      if (c.copy_gbps > 0) std::snprintf(rc, sizeof rc, "%.3f", r.bytes / us / 1e3 / c.copy_gbps);
      if (c.gemm_tflops > 0) std::snprintf(rg, sizeof rg, "%.3f", r.flop / us / 1e6 / c.gemm_tflops);
    }
    const CaseEval e = evaluate_case(reference, r, c);
    const std::string star = e.scaled ? "*" : "";
    const std::string ref_us = e.flashmla_us > 0 ? format_us(e.flashmla_us) + star : "-";
    const std::string peer_us = e.best_peer_us > 0 ? format_us(e.best_peer_us) + star : "-";
    const std::string t_fmla = ratio_text(e.over_flashmla), t_peer = ratio_text(e.over_best_peer);
    std::string targets;
    for (const TargetCheck& t : e.checks) {
      if (t.evaluated) (t.met ? met : missed)++;
      if (t.id == "1a" || t.id == "1b") continue;  // shown as t/fmla and t/peer
      if (!targets.empty()) targets += ",";
      targets += t.text() + (t.evaluated ? (t.met ? ":ok" : ":NO") : ":?");
    }
    std::string verify = "-";
    if (r.verify.ran) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s abs%.1e", r.verify.ok ? "ok" : "FAIL", r.verify.out_max_abs);
      verify = buf;
    }
    if (!r.error.empty()) {
      ++failed;
      std::printf("%-*s ERROR: %s\n", static_cast<int>(w), r.spec.name.c_str(), r.error.c_str());
      continue;
    }
    // The eager / graph columns mark the better one with '<'.
    const std::string mark_e = (r.has_graph() && r.best_mode() == "eager") ? "<" : " ";
    const std::string mark_g = (r.has_eager() && r.best_mode() == "graph") ? "<" : " ";
    std::printf("%-*s %8s%s %8s%s %6s %7s %6s %5s %5s | %8s %6s %8s %6s  %-22s %s\n", static_cast<int>(w),
                r.spec.name.c_str(), r.has_eager() ? format_us(r.eager.median()).c_str() : "-", mark_e.c_str(),
                r.has_graph() ? format_us(r.graph.median()).c_str() : "-", mark_g.c_str(), host.c_str(), tf, gb, rc,
                rg, ref_us.c_str(), t_fmla.c_str(), peer_us.c_str(), t_peer.c_str(),
                targets.empty() ? "-" : targets.c_str(), verify.c_str());
    if (!r.graph_error.empty()) std::printf("%-*s   graph: %s\n", static_cast<int>(w), "", r.graph_error.c_str());
  }
  // Worst verification errors over the cases.
  int v_ran = 0, v_ok = 0;
  const CaseResult *w_out = nullptr, *w_lse = nullptr;
  for (const CaseResult& r : results) {
    if (!r.verify.ran) continue;
    ++v_ran;
    v_ok += r.verify.ok ? 1 : 0;
    if (!w_out || r.verify.out_max_abs > w_out->verify.out_max_abs) w_out = &r;
    if (!w_lse || r.verify.lse_max_abs > w_lse->verify.lse_max_abs) w_lse = &r;
  }
  if (v_ran > 0) {
    std::printf("verify (CPU backend, compare.h tolerances): %d/%d ok; worst |out - ref| %.2e (%s), worst |lse - ref| %.2e (%s)\n",
                v_ok, v_ran, w_out->verify.out_max_abs, w_out->spec.name.c_str(), w_lse->verify.lse_max_abs,
                w_lse->spec.name.c_str());
    for (const CaseResult& r : results) {
      if (r.verify.ran && !r.verify.ok) std::printf("  FAIL %s: %s\n", r.spec.name.c_str(), r.verify.message.c_str());
    }
  }
  if (gpu) {
    std::printf(
        "us = median per call; '<' marks the better of eager/graph, whose time gives TFLOPS, GB/s and the ratios.\n"
        "host = wall time to enqueue one eager call. ref_us = DeepSeek FlashMLA, peer_us = the best of FlashMLA and\n"
        "FA3 (the reference table; '*': scaled to this case's work, the varlen draws differ); t/fmla, t/peer = our\n"
        "time over theirs (< 1 = faster).\n");
    const std::vector<Verdict> vs = verdicts(reference, results, c);
    if (!reference.loaded()) std::printf("no per-row targets: reference %s\n", reference.describe().c_str());
    for (const Verdict& v : vs) std::printf("%s\n", v.line.c_str());
    std::printf("targets: %d met, %d missed (all rows and targets 1a-4); %d case(s) failed to run\n", met, missed, failed);
  } else if (failed) {
    std::printf("%d case(s) failed to run\n", failed);
  }
}

}  // namespace flashmla::bench
