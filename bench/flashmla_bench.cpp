// flashmla_bench — the benchmark CLI of flashmla (method and formulas: docs/performance.md).
//
//   flashmla_bench --set all                       every bench set (compute, memory, latency, mtp, sparse,
//                                                  sparse_prefill)
//   flashmla_bench --set sparse,sparse_prefill     the sparse decode / prefill sets (sparse_bench.h; GPU only)
//   flashmla_bench --set latency,mtp --verify      two sets; each case also checked against the CPU backend
//   flashmla_bench --case h16 --iters 50           cases whose name contains "h16"
//   flashmla_bench --cpu                           the CPU backend (also the fallback without a Hopper GPU)
//
// Per case on a Hopper GPU: inputs built on the device (clamp(randn/10, ±1), shuffled block tables), the
// schedule computed once, then eager timing (CUDA events around --iters back-to-back decode() calls) and
// graph timing (--iters calls captured in one graph, replayed), both rotating among input sets larger
// than the L2 together; medians of --repeats samples. Ceilings (copy bandwidth, bf16 GEMM) are measured
// in the same run, and docs/performance.md's reference numbers for the card (bench/reference_<card>.json) are printed
// next to the matching cases, with one verdict line per target at the end. Results go to a JSON file
// (default bench/results/<card>-<date>.json); a table is printed last. "[case i/N] name" goes to stderr
// before each case.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "flashmla/flashmla.h"
#include "sparse_bench.h"

#ifndef FLASHMLA_SOURCE_DIR
#define FLASHMLA_SOURCE_DIR "."
#endif
#ifndef FLASHMLA_GIT_COMMIT
#define FLASHMLA_GIT_COMMIT "unknown"
#endif

namespace flashmla::bench {

#if !defined(FLASHMLA_BENCH_CUDA)
// Built without CUDA: the CPU backend only.
bool probe_gpu(const Options&, MachineInfo& info) {
  info.cpu_reason = "flashmla_bench was built without CUDA";
  return false;
}
Ceilings measure_ceilings(const Options&) { return {}; }
CaseResult run_gpu_case(const CaseSpec& spec, const Options&, const MachineInfo&) {
  CaseResult r;
  r.spec = spec;
  r.error = "built without CUDA";
  return r;
}
#endif

namespace {

std::string shell_first_line(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  std::array<char, 512> buf{};
  if (fgets(buf.data(), static_cast<int>(buf.size()), f)) out = buf.data();
  pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '/' || c == '\\' || c == ':') {
      out += '-';
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      out += c;
    }
  }
  return out.empty() ? "unknown" : out;
}

// The fp16 version of a (bf16) spec: same lengths and seed, name suffix changed.
CaseSpec with_dtype(CaseSpec s, DType dt) {
  if (s.dtype == dt) return s;
  s.dtype = dt;
  const std::string from = dt == DType::kFP16 ? "_bf16" : "_fp16", to = dt == DType::kFP16 ? "_fp16" : "_bf16";
  if (s.name.size() >= from.size() && s.name.compare(s.name.size() - from.size(), from.size(), from) == 0) {
    s.name = s.name.substr(0, s.name.size() - from.size()) + to;
  }
  return s;
}

bool filter_matches(const std::string& name, const std::string& filter) {
  if (filter.empty()) return true;
  if (filter.find_first_of("*?:") != std::string::npos || filter[0] == '-') return name_matches(name, filter);
  return name.find(filter) != std::string::npos;
}

struct Selected {
  CaseSpec spec;
  std::string set;
};

std::string resolve_set(const std::string& s) {
  if (s == "all") return "bench_all";
  if (!case_set("bench_" + s).empty()) return "bench_" + s;
  if (!case_set(s).empty()) return s;
  return "";
}

// Only what the CPU backend finishes in reasonable time: the chosen cases up to max_gflop each, else a few
// small demo cases shaped like the GPU sets.
std::vector<Selected> cpu_subset(const std::vector<Selected>& selected, double max_gflop, const Options& opt) {
  std::vector<Selected> small;
  for (const Selected& s : selected) {
    if (case_flops(s.spec) <= max_gflop * 1e9) small.push_back(s);
  }
  if (small.empty()) {
    for (const CaseSpec& c : cpu_demo_cases()) {
      CaseSpec spec = with_dtype(c, opt.dtype);
      if (filter_matches(spec.name, opt.case_filter)) small.push_back({spec, "cpu_demo"});
    }
    std::printf("flashmla_bench: the selected sets are too large for the CPU backend (> %.1f GFLOP a case); "
                "running %zu small demo case(s) instead\n",
                max_gflop, small.size());
  }
  return small;
}

void print_progress(size_t i, size_t n, const CaseResult& r, bool gpu, const std::string& note) {
  std::printf("[%zu/%zu] %s: ", i + 1, n, r.spec.name.c_str());
  if (!r.error.empty()) {
    std::printf("ERROR %s\n", r.error.c_str());
  } else {
    const double us = r.best_us();
    if (gpu) {
      std::printf("eager %s us, graph %s us -> %.1f TFLOPS, %.0f GB/s (mean L %.0f, %d input set%s, setup %.2f s)",
                  r.has_eager() ? format_us(r.eager.median()).c_str() : "-",
                  r.has_graph() ? format_us(r.graph.median()).c_str() : "-", us > 0 ? r.flop / us / 1e6 : 0.0,
                  us > 0 ? r.bytes / us / 1e3 : 0.0, r.mean_len, r.input_sets, r.input_sets == 1 ? "" : "s", r.setup_s);
    } else {
      std::printf("%s us per call (host clock) -> %.2f GFLOP/s (mean L %.0f)", format_us(us).c_str(),
                  us > 0 ? r.flop / us / 1e3 : 0.0, r.mean_len);
    }
    if (!note.empty()) std::printf("; %s", note.c_str());
    if (r.verify.ran) std::printf("; verify %s", r.verify.ok ? "ok" : ("FAIL: " + r.verify.message).c_str());
    if (!r.graph_error.empty()) std::printf("; graph: %s", r.graph_error.c_str());
    std::printf("\n");
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace flashmla::bench

int main(int argc, char** argv) {
  using namespace flashmla;
  using namespace flashmla::bench;

  Options opt;
  std::vector<std::string> set_args{"all"};
  std::string dtype = "bf16";
  bool no_ceilings = false, list_only = false;
  double cpu_max_gflop = 1.0;
  CLI::App app{"flashmla_bench: MLA decode benchmark (docs/performance.md's method) with ceilings and reference numbers"};
  app.add_option("--set", set_args,
                 "case sets, comma-separated: compute, memory, latency, mtp, sparse, sparse_prefill, all (or any "
                 "case_set name: cpu_small, gpu_matrix, bench_*)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--case", opt.case_filter,
                 "keep cases whose name contains this (a pattern with * ? : or a leading '-' is gtest-style)");
  app.add_option("--dtype", dtype, "bf16 or fp16 (the sets are bf16; fp16 keeps their lengths)")
      ->check(CLI::IsMember({"bf16", "fp16"}))
      ->capture_default_str();
  CLI::Option* iters_opt =
      app.add_option("--iters", opt.iters, "decode() calls per timed sample / per graph")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", opt.warmup, "untimed warm-up calls (graph: replays, at most 3)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--repeats", opt.repeats, "timed samples per mode (median reported)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--verify", opt.verify, "compare one run of each case with the CPU backend (compare.h tolerances)");
  app.add_option("--verify-requests", opt.verify_requests, "requests per case the verification compares")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--out", opt.out_path,
                 "JSON output (default bench/results/<card>-<YYYY-MM-DD>[-partial].json; CPU backend: next to the "
                 "binary)");
  app.add_flag("--no-ceilings", no_ceilings, "skip the copy-bandwidth and GEMM ceilings");
  app.add_flag("--cpu", opt.force_cpu, "use the CPU backend even where a Hopper GPU exists");
  app.add_option("--device", opt.device, "CUDA device index")->capture_default_str();
  std::vector<std::string> cards = compiled_reference_names();
  cards.push_back("none");
  app.add_option("--reference", opt.reference_path,
                 "reference JSON file (default: the compiled-in bench/reference_<card>.json the GPU's name selects)");
  app.add_option("--reference-card", opt.reference_card, "use this compiled-in reference table instead of the GPU's")
      ->check(CLI::IsMember(cards));
  app.add_option("--l2-multiple", opt.l2_multiple, "rotate input sets until their footprint is this many L2 sizes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cpu-max-gflop", cpu_max_gflop, "CPU backend: skip cases above this much work (GFLOP)")
      ->capture_default_str();
  app.add_flag("--fp8-cache", opt.fp8_cache,
               "dense sets over an FP8 (e4m3) cache with a per-tensor descale_k, q bf16/fp16 (names: _fp8kv)");
  app.add_flag("--fp8-q", opt.fp8_q, "with the FP8 cache, q in e4m3 too with a descale_q (names: _fp8kv_fp8q)");
  app.add_flag("--list", list_only, "print the selected cases and exit");
  CLI11_PARSE(app, argc, argv);
  opt.iters_given = iters_opt->count() > 0;
  opt.ceilings = !no_ceilings;
  opt.dtype = dtype == "fp16" ? DType::kFP16 : DType::kBF16;
  if (opt.fp8_q) opt.fp8_cache = true;
  if (opt.fp8_cache && opt.verify) {
    std::fprintf(stderr,
                 "flashmla_bench: --verify compares with the 16-bit CPU reference; with --fp8-cache the GPU tests verify "
                 "the FP8 kernels (flashmla_gpu_dense_fp8_tests)\n");
    return 2;
  }

  // ---- the cases ----
  std::vector<Selected> selected;
  std::vector<SparseBenchCase> sparse_selected;  // the sparse sets (own case type and runner)
  std::set<std::string> seen;
  auto add_sparse = [&](const std::string& set) {
    for (const SparseBenchCase& c : sparse_bench_set(set))
      if (filter_matches(c.name, opt.case_filter) && seen.insert(c.name).second) sparse_selected.push_back(c);
  };
  for (const std::string& s : set_args) {
    if (is_sparse_set(s)) {
      opt.sets.push_back(s);
      add_sparse(s);
      continue;
    }
    if (s == "all") {
      add_sparse("sparse");
      add_sparse("sparse_prefill");
    }
    const std::string name = resolve_set(s);
    if (name.empty()) {
      std::string valid;
      for (const std::string& n : case_set_names()) valid += " " + n;
      std::fprintf(stderr, "flashmla_bench: unknown set '%s' (compute, memory, latency, mtp, sparse, sparse_prefill, all, or:%s)\n", s.c_str(),
                   valid.c_str());
      return 2;
    }
    opt.sets.push_back(name);
    for (const CaseSpec& c : case_set(name)) {
      CaseSpec spec = with_dtype(c, opt.dtype);
      spec.name += fp8_suffix(opt);  // after the builders: the seed (data) and the lengths stay the 16-bit case's
      if (!filter_matches(spec.name, opt.case_filter) || !seen.insert(spec.name).second) continue;
      selected.push_back({spec, name});
    }
  }
  const bool partial = !opt.case_filter.empty() || opt.sets != std::vector<std::string>{"bench_all"};

  // ---- the machine ----
  MachineInfo info;
  info.host_threads = static_cast<int>(std::thread::hardware_concurrency());
  bool gpu = false;
  if (opt.force_cpu) {
    info.cpu_reason = "--cpu";
  } else {
    gpu = probe_gpu(opt, info);
  }
  if (!gpu && opt.fp8_cache && !list_only) {
    std::fprintf(stderr, "flashmla_bench: --fp8-cache runs on a Hopper GPU only (%s)\n",
                 opt.force_cpu ? "--cpu" : info.cpu_reason.c_str());
    return 2;
  }
  if (!gpu) {
    info.backend = "cpu";
    info.card = "cpu";
    if (!opt.force_cpu) {
      std::printf("flashmla_bench: no Hopper GPU found: CPU backend (%s)\n", info.cpu_reason.c_str());
    } else {
      std::printf("flashmla_bench: CPU backend (--cpu)\n");
    }
    if (list_only) {
      std::printf("flashmla_bench: the sets as defined; the CPU backend runs only cases of <= %.1f GFLOP\n", cpu_max_gflop);
    } else if (!selected.empty() || sparse_selected.empty()) {  // only sparse sets asked: no CPU demo instead
      selected = cpu_subset(selected, cpu_max_gflop, opt);
    }
    if (opt.verify) std::printf("flashmla_bench: --verify ignored: the CPU backend is the oracle\n");
    opt.verify = false;
    if (!sparse_selected.empty() && !list_only) {
      std::printf("flashmla_bench: %zu sparse case(s) skipped: the sparse sets run on a Hopper GPU only\n",
                  sparse_selected.size());
      sparse_selected.clear();
    }
  }
  info.card_slug = slug(info.card);

  std::printf("flashmla_bench %s: %zu case(s) on %s", version(), selected.size() + sparse_selected.size(),
              gpu ? info.card.c_str() : "the CPU backend");
  if (gpu) {
    std::printf(" (%d SMs, L2 %.0f MB, %.0f GB, driver %s, CUDA runtime %d)", info.sm_count, info.l2_bytes / 1e6,
                info.memory_bytes / 1e9, info.driver_string.empty() ? std::to_string(info.driver_version).c_str()
                                                                    : info.driver_string.c_str(),
                info.runtime_version);
  }
  std::printf("\n");
  RunInfo run;
  run.opt = opt;
  run.info = info;
  run.dtype = dtype;
  run.reference = select_reference(opt, info);
  std::printf("reference: %s\n", run.reference.describe().c_str());
  if (list_only) {
    for (const Selected& s : selected) {
      std::printf("  %-48s %-14s flop %.3g bytes %.3g mean L %.0f\n", s.spec.name.c_str(), s.set.c_str(),
                  case_flops(s.spec), opt.fp8_cache ? fp8_case_bytes(s.spec, opt.fp8_q) : case_bytes(s.spec),
                  mean_seqlen(s.spec));
    }
    for (const SparseBenchCase& c : sparse_selected) {
      std::printf("  %-48s %-14s b %d s_q %d h_q %d topk %d%s s_kv %lld\n", c.name.c_str(), c.set.c_str(), c.batch, c.s_q,
                  c.h_q, c.topk, c.extra_topk ? (" + extra " + std::to_string(c.extra_topk)).c_str() : "",
                  static_cast<long long>(c.s_kv));
    }
    return 0;
  }

  // ---- ceilings ----
  Ceilings& ceil = run.ceilings;
  if (gpu && opt.ceilings) {
    std::printf("measuring ceilings (device-to-device copy, bf16 GEMM 8192^3)...\n");
    std::fflush(stdout);
    ceil = measure_ceilings(opt);
    std::printf("ceilings: copy %.0f GB/s (%.1f GB buffer)%s, bf16 GEMM %.0f TFLOPS%s\n", ceil.copy_gbps,
                ceil.copy_bytes / 1e9, ceil.copy_error.empty() ? "" : (" [" + ceil.copy_error + "]").c_str(),
                ceil.gemm_tflops, ceil.gemm_error.empty() ? "" : (" [" + ceil.gemm_error + "]").c_str());
  }

  // ---- the runs ----
  std::vector<CaseResult> results;
  bool dead = false;
  for (size_t i = 0; i < selected.size(); ++i) {
    std::fprintf(stderr, "[case %zu/%zu] %s\n", i + 1, selected.size(), selected[i].spec.name.c_str());
    CaseResult r;
    if (dead) {
      r.spec = selected[i].spec;
      r.error = "not run: an earlier case left a sticky CUDA error";
    } else {
      r = gpu ? run_gpu_case(selected[i].spec, opt, info) : run_cpu_case(selected[i].spec, opt);
      dead = r.fatal;
    }
    r.set = selected[i].set;
    print_progress(i, selected.size(), r, gpu, reference_note(run.reference, r));
    results.push_back(std::move(r));
  }

  // ---- the sparse sets (GPU only) ----
  std::vector<SparseResult> sparse_results;
  if (opt.verify && !sparse_selected.empty())
    std::printf("flashmla_bench: --verify does not apply to the sparse sets (the GPU test suites compare them with "
                "the CPU oracle)\n");
  for (size_t i = 0; i < sparse_selected.size(); ++i) {
    const SparseBenchCase& c = sparse_selected[i];
    std::fprintf(stderr, "[sparse case %zu/%zu] %s\n", i + 1, sparse_selected.size(), c.name.c_str());
    SparseResult r;
    if (dead) {
      r.c = c;
      r.error = "not run: an earlier case left a sticky CUDA error";
    } else {
      r = run_sparse_case(c, opt, info);
      dead = r.fatal;
    }
    std::printf("[sparse %zu/%zu] %s: ", i + 1, sparse_selected.size(), c.name.c_str());
    if (!r.error.empty()) {
      std::printf("ERROR %s\n", r.error.c_str());
    } else {
      const double us = r.best_us();
      std::printf("eager %s us, graph %s us -> %.1f TFLOPS, %.0f GB/s (%d input set%s, %s, setup %.2f s)",
                  r.eager.us.empty() ? "-" : format_us(r.eager.median()).c_str(),
                  r.graph.us.empty() ? "-" : format_us(r.graph.median()).c_str(), us > 0 ? r.flop / us / 1e6 : 0.0,
                  us > 0 ? r.bytes / us / 1e3 : 0.0, r.input_sets, r.input_sets == 1 ? "" : "s",
                  c.prefill ? "prefill" : (r.workspace_bytes ? "split top-k" : "unsplit"), r.setup_s);
      const std::string note = sparse_reference_note(run.reference, r);
      if (!note.empty()) std::printf("; %s", note.c_str());
      if (!r.graph_error.empty()) std::printf("; graph: %s", r.graph_error.c_str());
      std::printf("\n");
    }
    std::fflush(stdout);
    sparse_results.push_back(std::move(r));
  }
  if (!sparse_results.empty())
    run.sections = std::make_shared<nlohmann::json>(sparse_sections(sparse_results, run.reference, run.ceilings));

  // ---- JSON ----
  // The commit: $FLASHMLA_GIT_COMMIT, else git at run time, else git at configure time; only a full hash counts
  // (a checkout without history answers "HEAD").
  auto is_hash = [](const std::string& h) {
    return h.size() == 40 && h.find_first_not_of("0123456789abcdef") == std::string::npos;
  };
  const char* env_commit = std::getenv("FLASHMLA_GIT_COMMIT");
  std::string commit = env_commit ? env_commit : "";
  bool from_git = false;
  if (commit.empty()) {
    commit = shell_first_line("git -C '" FLASHMLA_SOURCE_DIR "' rev-parse HEAD 2>/dev/null");
    from_git = is_hash(commit);
    if (!from_git) commit = is_hash(FLASHMLA_GIT_COMMIT) ? FLASHMLA_GIT_COMMIT : "unknown";
  }
  const bool dirty =
      from_git &&
      !shell_first_line("git -C '" FLASHMLA_SOURCE_DIR "' status --porcelain --untracked-files=no 2>/dev/null").empty();
  std::string path = opt.out_path;
  if (path.empty()) {
    namespace fs = std::filesystem;
    // GPU results go to the repository's bench/results/; CPU demo results stay next to the binary
    // (the build directory), so that they never mix with measurements.
    const fs::path src(FLASHMLA_SOURCE_DIR);
    std::error_code ec;
    const fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    fs::path dir = fs::is_directory(src / "bench") ? src / "bench" / "results" : fs::path(".");
    if (!gpu) dir = ec ? fs::path(".") : exe_dir;
    path = (dir / (info.card_slug + "-" + utc_date() + (partial ? "-partial" : "") + ".json")).string();
  }
  run.commit = commit;
  run.commit_from_git = from_git;
  run.dirty = dirty;
  const std::string err = write_results(path, run, results);
  if (err.empty()) {
    std::printf("results written to %s\n", path.c_str());
  } else {
    std::fprintf(stderr, "flashmla_bench: cannot write %s: %s\n", path.c_str(), err.c_str());
  }

  if (!results.empty() || sparse_results.empty()) print_table(run, results);
  print_sparse_table(sparse_results, run.reference, run.ceilings);
  int bad = 0;
  for (const CaseResult& r : results) bad += (!r.error.empty() || (r.verify.ran && !r.verify.ok)) ? 1 : 0;
  for (const SparseResult& r : sparse_results) bad += r.error.empty() ? 0 : 1;
  std::fflush(stdout);
  return bad ? 1 : 0;
}
