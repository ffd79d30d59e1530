// flashmla_bench — the sparse sets (sparse_bench.h): cases, the GPU runner, JSON rows and the table.
#include "sparse_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flashmla/flashmla.h"
#include "flashmla/quantize.h"
#include "flashmla/sparse_decode.h"
#include "flashmla/sparse_prefill.h"

#if defined(FLASHMLA_BENCH_CUDA)
#include <cuda_runtime_api.h>

#include "cuda_helpers.h"
#include "device_fill.h"
#endif

namespace flashmla::bench {

using nlohmann::json;

double SparseResult::best_us() const {
  const double e = eager.us.empty() ? 0 : eager.median(), g = graph.us.empty() ? 0 : graph.median();
  if (e > 0 && g > 0) return std::min(e, g);
  return e > 0 ? e : g;
}

bool is_sparse_set(const std::string& set) { return set == "sparse" || set == "sparse_prefill"; }

namespace {

// Main-pool tokens per request: FlashMLA's harness draws top-k over s_k 32k contexts.
constexpr int64_t kDecodeContext = 32768;

SparseBenchCase decode_case(int32_t d_qk, int32_t b, int32_t s_q, int32_t h, int32_t topk, int32_t extra, int32_t page,
                            int32_t extra_page) {
  SparseBenchCase c;
  c.set = "sparse";
  c.d_qk = d_qk;
  c.batch = b;
  c.s_q = s_q;
  c.h_q = h;
  c.topk = topk;
  c.extra_topk = extra;
  c.page = page;
  c.extra_page = extra_page;
  c.s_kv = std::max<int64_t>(kDecodeContext, 2 * int64_t{topk});
  c.extra_s_kv = extra > 0 ? std::max<int64_t>(8192, 2 * int64_t{extra}) : 0;
  c.name = std::string(d_qk == 576 ? "v32" : "model1") + "_b" + std::to_string(b) + "_sq" + std::to_string(s_q) + "_h" +
           std::to_string(h) + "_topk" + std::to_string(topk) + (extra ? "_extra" + std::to_string(extra) : "");
  return c;
}

SparseBenchCase prefill_case(int32_t d_qk, int32_t h, int32_t topk, int64_t s_kv) {
  SparseBenchCase c;
  c.set = "sparse_prefill";
  c.prefill = true;
  c.d_qk = d_qk;
  c.batch = 1;
  c.s_q = 4096;
  c.h_q = h;
  c.topk = topk;
  c.s_kv = s_kv;
  c.sink = true;
  c.name = "d" + std::to_string(d_qk) + "_h" + std::to_string(h) + "_topk" + std::to_string(topk) + "_sq4096_skv" +
           std::to_string(s_kv);
  return c;
}

}  // namespace

std::vector<SparseBenchCase> sparse_bench_set(const std::string& set) {
  std::vector<SparseBenchCase> v;
  if (set == "sparse") {
    // Issue 11's table (s_q 2), then the tensor-parallel ranks (h_q 16 / 32), which FlashMLA pads to 64.
    for (int b : {2, 64, 74, 128}) v.push_back(decode_case(576, b, 2, 128, 2048, 0, 64, 64));
    for (int h : {64, 128}) v.push_back(decode_case(576, 148, 2, h, 16384, 0, 64, 64));
    for (int b : {64, 128, 256}) v.push_back(decode_case(512, b, 2, 64, 128, 512, 256, 64));
    for (int b : {64, 128, 256}) v.push_back(decode_case(512, b, 2, 128, 128, 1024, 256, 64));
    for (int h : {64, 128}) v.push_back(decode_case(512, 148, 2, h, 16384, 0, 64, 64));
    for (int h : {16, 32})
      for (int b : {32, 128})
        for (int s_q : {1, 2}) v.push_back(decode_case(576, b, s_q, h, 2048, 0, 64, 64));
    for (int h : {16, 32}) v.push_back(decode_case(512, 128, 1, h, 128, 512, 256, 64));
  } else if (set == "sparse_prefill") {
    // Issue 12's table: s_q 4096, attn_sink.
    for (int64_t s_kv : {8192, 32768, 65536, 131072}) v.push_back(prefill_case(576, 128, 2048, s_kv));
    for (int64_t s_kv : {8192, 32768, 65536}) v.push_back(prefill_case(512, 64, 512, s_kv));
    for (int64_t s_kv : {8192, 32768, 65536}) v.push_back(prefill_case(512, 128, 1024, s_kv));
  }
  return v;
}

namespace {

const json* reference_row(const Reference& ref, const SparseResult& r) {
  if (!ref.loaded()) return nullptr;
  const char* section = r.c.prefill ? "sparse_prefill" : "sparse_decode";
  const json& t = *ref.table;
  auto s = t.find(section);
  if (s == t.end() || !s->is_object()) return nullptr;
  auto rows = s->find("rows");
  if (rows == s->end() || !rows->is_object()) return nullptr;
  auto it = rows->find(r.c.name);
  return it == rows->end() ? nullptr : &*it;
}

double num(const json* row, const char* key) {
  if (row == nullptr) return 0;
  auto it = row->find(key);
  return it != row->end() && it->is_number() ? it->get<double>() : 0;
}

}  // namespace

std::string sparse_reference_note(const Reference& ref, const SparseResult& r) {
  const json* row = reference_row(ref, r);
  const double us = r.best_us();
  if (row == nullptr || us <= 0) return "";
  char buf[128] = "";
  if (const double f = num(row, "flashmla_us"); f > 0)
    std::snprintf(buf, sizeof buf, "%.2fx FlashMLA (%.1f us)", us / f, f);
  else if (const double p = num(row, "flashmla_padded_h64_us"); p > 0)
    std::snprintf(buf, sizeof buf, "%.2fx FlashMLA padded to h64 (%.1f us)", us / p, p);
  return buf;
}

json sparse_sections(const std::vector<SparseResult>& results, const Reference& ref, const Ceilings& c) {
  json dec = json::array(), pre = json::array();
  int rows[2] = {0, 0}, met[2] = {0, 0};
  for (const SparseResult& r : results) {
    const double us = r.best_us();
    json j = {{"case", r.c.name},
              {"set", r.c.set},
              {"op", r.c.prefill ? "sparse_prefill" : "sparse_decode"},
              {"d_qk", r.c.d_qk},
              {"batch", r.c.batch},
              {"s_q", r.c.s_q},
              {"h_q", r.c.h_q},
              {"topk", r.c.topk},
              {"s_kv", r.c.s_kv},
              {"attn_sink", r.c.sink},
              {"flop", r.flop},
              {"bytes", r.bytes},
              {"input_sets", r.input_sets},
              {"eager_us", r.eager.us.empty() ? json(nullptr) : json(r.eager.median())},
              {"graph_us", r.graph.us.empty() ? json(nullptr) : json(r.graph.median())},
              {"eager_samples_us", r.eager.us},
              {"graph_samples_us", r.graph.us},
              {"us", us > 0 ? json(us) : json(nullptr)},
              {"tflops", us > 0 ? json(r.flop / us / 1e6) : json(nullptr)},
              {"gbps", us > 0 ? json(r.bytes / us / 1e3) : json(nullptr)},
              {"host_us_per_call", r.host_us_per_call},
              {"setup_s", r.setup_s}};
    if (!r.c.prefill) {
      j["format"] = r.c.d_qk == 576 ? "V32" : "MODEL1";
      j["extra_topk"] = r.c.extra_topk;
      j["page"] = r.c.page;
      if (r.c.extra_topk) {
        j["extra_page"] = r.c.extra_page;
        j["extra_s_kv"] = r.c.extra_s_kv;
      }
      j["workspace_bytes"] = r.workspace_bytes;
      j["split"] = r.workspace_bytes > 0;
    }
    if (us > 0 && c.copy_gbps > 0) j["copy_ratio"] = r.bytes / us / 1e3 / c.copy_gbps;
    if (us > 0 && c.gemm_tflops > 0) j["gemm_ratio"] = r.flop / us / 1e6 / c.gemm_tflops;
    if (!r.error.empty()) j["error"] = r.error;
    if (!r.graph_error.empty()) j["graph_error"] = r.graph_error;
    if (const json* row = reference_row(ref, r)) {
      j["reference"] = *row;
      const int k = r.c.prefill ? 1 : 0;
      if (const double f = num(row, "flashmla_us"); f > 0 && us > 0) {
        j["us_over_flashmla"] = us / f;
        ++rows[k];
        met[k] += us <= f ? 1 : 0;
      } else if (const double p = num(row, "flashmla_padded_h64_us"); p > 0 && us > 0) {
        j["us_over_flashmla_padded_h64"] = us / p;
      }
    }
    (r.c.prefill ? pre : dec).push_back(j);
  }
  json out = json::object();
  if (!dec.empty()) out["sparse_decode"] = dec;
  if (!pre.empty()) out["sparse_prefill"] = pre;
  json verdicts = json::array();
  const char* names[2] = {"sparse_decode", "sparse_prefill"};
  for (int k = 0; k < 2; ++k)
    if (rows[k] > 0)
      verdicts.push_back({{"name", names[k]}, {"title", "at least as fast as FlashMLA"}, {"rows", rows[k]}, {"met", met[k]}});
  if (!verdicts.empty()) out["sparse_verdicts"] = verdicts;
  return out;
}

void print_sparse_table(const std::vector<SparseResult>& results, const Reference& ref, const Ceilings& c) {
  if (results.empty()) return;
  size_t w = 4;
  for (const SparseResult& r : results) w = std::max(w, r.c.name.size());
  std::printf("\n== sparse sets (FLOP = 2 * valid indices * h_q * (d_qk + 512)) ==\n");
  std::printf("%-*s %9s %9s %7s %6s %5s %5s %6s | %s\n", static_cast<int>(w), "case", "eager_us", "graph_us", "TFLOPS",
              "GB/s", "/copy", "/gemm", "split", "reference");
  for (const SparseResult& r : results) {
    if (!r.error.empty()) {
      std::printf("%-*s ERROR %s\n", static_cast<int>(w), r.c.name.c_str(), r.error.c_str());
      continue;
    }
    const double us = r.best_us();
    char rc[32] = "-", rg[32] = "-";
    if (us > 0 && c.copy_gbps > 0) std::snprintf(rc, sizeof rc, "%.3f", r.bytes / us / 1e3 / c.copy_gbps);
    if (us > 0 && c.gemm_tflops > 0) std::snprintf(rg, sizeof rg, "%.3f", r.flop / us / 1e6 / c.gemm_tflops);
    std::printf("%-*s %9s %9s %7.1f %6.0f %5s %5s %6s | %s\n", static_cast<int>(w), r.c.name.c_str(),
                r.eager.us.empty() ? "-" : format_us(r.eager.median()).c_str(),
                r.graph.us.empty() ? "-" : format_us(r.graph.median()).c_str(), us > 0 ? r.flop / us / 1e6 : 0.0,
                us > 0 ? r.bytes / us / 1e3 : 0.0, rc, rg, r.c.prefill ? "-" : (r.workspace_bytes ? "yes" : "no"),
                sparse_reference_note(ref, r).c_str());
  }
}

#if !defined(FLASHMLA_BENCH_CUDA)

SparseResult run_sparse_case(const SparseBenchCase& c, const Options&, const MachineInfo&) {
  SparseResult r;
  r.c = c;
  r.error = "built without CUDA";
  return r;
}

#else

namespace {

std::string status_str(const Status& st) { return std::string(status_code_name(st.code())) + ": " + st.message(); }

// A quantized FP8 pool of `pages` pages on the device: a host-quantized chunk of whole pages (random
// clamp(randn / 10) * 2^k latents through quantize_kv_cache, so every scale and value is valid),
// replicated by doubling device-to-device copies.
DeviceBuffer make_pool(int32_t d_qk, int64_t pages, int32_t page, uint64_t seed) {
  const KvFormat f = d_qk == 576 ? KvFormat::kSparseV32 : KvFormat::kSparseModel1;
  const int64_t bpt = d_qk == 576 ? 656 : 584;
  const int64_t chunk_pages = std::max<int64_t>(1, std::min<int64_t>(pages, std::max<int64_t>(1, 4096 / page)));
  std::vector<uint16_t> lat(static_cast<size_t>(chunk_pages * page * d_qk));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t t = 0; t < chunk_pages * page; ++t) {
    const float mul = std::ldexp(1.0f, static_cast<int>(rng() % 7) - 3);
    for (int32_t c = 0; c < d_qk; ++c) {
      const float x = std::clamp(nd(rng) / 10.0f, -1.0f, 1.0f) * mul;
      uint32_t u;
      std::memcpy(&u, &x, 4);
      lat[static_cast<size_t>(t * d_qk + c)] = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
  }
  std::vector<uint8_t> host(static_cast<size_t>(chunk_pages * page * bpt));
  const Status st = quantize_kv_cache(f, make_view(lat.data(), DType::kBF16, {chunk_pages, page, 1, d_qk}),
                                      make_view(host.data(), DType::kUInt8, {chunk_pages, page, 1, bpt}));
  if (!st.ok()) throw std::runtime_error("quantize_kv_cache: " + status_str(st));
  const size_t total = static_cast<size_t>(pages * page * bpt), chunk = host.size();
  DeviceBuffer pool(total);
  BENCH_CUDA(cudaMemcpy(pool.get(), host.data(), std::min(chunk, total), cudaMemcpyHostToDevice));
  for (size_t filled = std::min(chunk, total); filled < total;) {
    const size_t n = std::min(filled, total - filled);
    BENCH_CUDA(cudaMemcpy(static_cast<uint8_t*>(pool.get()) + filled, pool.get(), n, cudaMemcpyDeviceToDevice));
    filled += n;
  }
  return pool;
}

DeviceBuffer upload(const void* host, size_t bytes) {
  DeviceBuffer b(bytes);
  if (bytes) BENCH_CUDA(cudaMemcpy(b.get(), host, bytes, cudaMemcpyHostToDevice));
  return b;
}

// Eager and graph timing of `call(i)` (i: the call's index, for rotating input sets).
void time_calls(const std::function<Status(int)>& call, const Options& opt, cudaStream_t stream, SparseResult* r) {
  const int n = std::max(1, opt.iters);
  const EventPair ev;
  int k = 0;
  for (int i = 0; i < opt.warmup; ++i) {
    const Status st = call(k++);
    if (!st.ok()) throw std::runtime_error("call: " + status_str(st));
  }
  BENCH_CUDA(cudaStreamSynchronize(stream));
  double host_total = 0;
  for (int rep = 0; rep < opt.repeats; ++rep) {
    BENCH_CUDA(cudaEventRecord(ev.a, stream));
    const auto h0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const Status st = call(k++);
      if (!st.ok()) throw std::runtime_error("call: " + status_str(st));
    }
    host_total += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - h0).count();
    BENCH_CUDA(cudaEventRecord(ev.b, stream));
    BENCH_CUDA(cudaEventSynchronize(ev.b));
    r->eager.us.push_back(1e3 * ev.ms() / n);
  }
  r->host_us_per_call = host_total / (double{1} * opt.repeats * n);

  cudaGraph_t graph = nullptr;
  BENCH_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  Status cap;
  for (int i = 0; i < n && cap.ok(); ++i) cap = call(i);
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (!cap.ok() || end != cudaSuccess) {
    r->graph_error = !cap.ok() ? "call during capture: " + status_str(cap)
                               : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    return;
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (inst != cudaSuccess) {
    r->graph_error = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(inst);
    (void)cudaGetLastError();
    return;
  }
  struct ExecGuard {
    cudaGraphExec_t e;
    ~ExecGuard() { cudaGraphExecDestroy(e); }
  } exec_guard{exec};
  for (int i = 0; i < std::max(1, std::min(opt.warmup, 3)); ++i) BENCH_CUDA(cudaGraphLaunch(exec, stream));
  for (int rep = 0; rep < opt.repeats; ++rep) {
    BENCH_CUDA(cudaEventRecord(ev.a, stream));
    BENCH_CUDA(cudaGraphLaunch(exec, stream));
    BENCH_CUDA(cudaEventRecord(ev.b, stream));
    BENCH_CUDA(cudaEventSynchronize(ev.b));
    r->graph.us.push_back(1e3 * ev.ms() / n);
  }
}

// Random indices of one pool: request i draws from its own s_kv tokens [i * pages * page, ...).
// Returns the number of distinct tokens per request summed (for the bytes formula).
int64_t draw_indices(const SparseBenchCase& c, int32_t topk, int64_t s_kv, int64_t pages_per_req, int32_t page,
                     uint64_t seed, std::vector<int32_t>* idx) {
  idx->resize(static_cast<size_t>(int64_t{c.batch} * c.s_q * topk));
  std::mt19937_64 rng(seed);
  int64_t unique = 0;
  std::vector<uint8_t> seen(static_cast<size_t>(s_kv));
  for (int32_t i = 0; i < c.batch; ++i) {
    std::fill(seen.begin(), seen.end(), 0);
    const int64_t base = int64_t{i} * pages_per_req * page;
    for (int32_t j = 0; j < c.s_q; ++j)
      for (int32_t t = 0; t < topk; ++t) {
        const int64_t tok = static_cast<int64_t>(rng() % static_cast<uint64_t>(s_kv));
        unique += seen[static_cast<size_t>(tok)] ? 0 : 1;
        seen[static_cast<size_t>(tok)] = 1;
        (*idx)[static_cast<size_t>((int64_t{i} * c.s_q + j) * topk + t)] = static_cast<int32_t>(base + tok);
      }
  }
  return unique;
}

using Clock = std::chrono::steady_clock;

void run_decode(const SparseBenchCase& c, const Options& opt, const MachineInfo& info, cudaStream_t stream,
                Clock::time_point t0, SparseResult* r) {
  const int dev = opt.device;
  const int64_t bpt = c.d_qk == 576 ? 656 : 584;
  const int64_t rows = int64_t{c.batch} * c.s_q * c.h_q;
  const int64_t pages = (c.s_kv + c.page - 1) / c.page, epages = c.extra_topk ? (c.extra_s_kv + c.extra_page - 1) / c.extra_page : 0;
  DeviceBuffer cache = make_pool(c.d_qk, c.batch * pages, c.page, 11);
  DeviceBuffer ecache = c.extra_topk ? make_pool(c.d_qk, c.batch * epages, c.extra_page, 12) : DeviceBuffer();
  DeviceBuffer q(static_cast<size_t>(rows * c.d_qk * 2)), out(static_cast<size_t>(rows * 512 * 2)), lse(static_cast<size_t>(rows * 4));
  BENCH_CUDA(fill_randn_16bit(q.get(), rows * c.d_qk, false, 7, stream));

  // Index sets: rotate until the gathered bytes exceed l2_multiple L2s (at most 16 sets).
  std::vector<int32_t> idx;
  const int64_t u0 = draw_indices(c, c.topk, c.s_kv, pages, c.page, 100, &idx);
  int64_t ue = 0;
  std::vector<int32_t> eidx;
  if (c.extra_topk) ue = draw_indices(c, c.extra_topk, c.extra_s_kv, epages, c.extra_page, 200, &eidx);
  const double gathered = static_cast<double>(u0 + ue) * bpt;
  const double valid = double{1} * c.batch * c.s_q * (c.topk + c.extra_topk);
  r->flop = 2.0 * valid * c.h_q * (c.d_qk + 512);
  r->bytes = rows * c.d_qk * 2.0 + gathered + rows * 512 * 2.0;
  int sets = static_cast<int>(std::ceil(opt.l2_multiple * std::max<int64_t>(info.l2_bytes, 1) / std::max(gathered, 1.0)));
  sets = std::clamp(sets, 1, 16);
  r->input_sets = sets;
  std::vector<DeviceBuffer> ind, eind;
  for (int s = 0; s < sets; ++s) {
    if (s > 0) draw_indices(c, c.topk, c.s_kv, pages, c.page, 100 + s, &idx);
    ind.push_back(upload(idx.data(), idx.size() * 4));
    if (c.extra_topk) {
      if (s > 0) draw_indices(c, c.extra_topk, c.extra_s_kv, epages, c.extra_page, 200 + s, &eidx);
      eind.push_back(upload(eidx.data(), eidx.size() * 4));
    }
  }
  r->workspace_bytes = sparse_decode_workspace_size(c.batch, c.s_q, c.h_q, c.topk, c.extra_topk);
  DeviceBuffer ws(r->workspace_bytes);
  std::vector<SparseDecodeArgs> args(static_cast<size_t>(sets));
  for (int s = 0; s < sets; ++s) {
    SparseDecodeArgs& a = args[static_cast<size_t>(s)];
    a.q = make_view(q.get(), DType::kBF16, {c.batch, c.s_q, c.h_q, c.d_qk}, DeviceType::kCUDA, dev);
    a.k_cache = make_view(cache.get(), DType::kUInt8, {c.batch * pages, c.page, 1, bpt}, DeviceType::kCUDA, dev);
    a.indices = make_view(ind[static_cast<size_t>(s)].get(), DType::kInt32, {c.batch, c.s_q, c.topk}, DeviceType::kCUDA, dev);
    if (c.extra_topk) {
      a.extra_k_cache =
          make_view(ecache.get(), DType::kUInt8, {c.batch * epages, c.extra_page, 1, bpt}, DeviceType::kCUDA, dev);
      a.extra_indices =
          make_view(eind[static_cast<size_t>(s)].get(), DType::kInt32, {c.batch, c.s_q, c.extra_topk}, DeviceType::kCUDA, dev);
    }
    a.out = make_view(out.get(), DType::kBF16, {c.batch, c.s_q, c.h_q, 512}, DeviceType::kCUDA, dev);
    a.lse = make_view(lse.get(), DType::kFP32, {c.batch, c.h_q, c.s_q}, DeviceType::kCUDA, dev);
    a.workspace = ws.get();
    a.workspace_bytes = ws.bytes();
    a.stream = stream;
  }
  BENCH_CUDA(cudaStreamSynchronize(stream));
  r->setup_s = std::chrono::duration<double>(Clock::now() - t0).count();
  time_calls([&](int i) { return sparse_decode(args[static_cast<size_t>(i) % args.size()]); }, opt, stream, r);
}

void run_prefill(const SparseBenchCase& c, const Options& opt, cudaStream_t stream, Clock::time_point t0,
                 SparseResult* r) {
  const int dev = opt.device;
  const int64_t rows = int64_t{c.s_q} * c.h_q;
  DeviceBuffer q(static_cast<size_t>(rows * c.d_qk * 2)), kv(static_cast<size_t>(c.s_kv * c.d_qk * 2));
  DeviceBuffer out(static_cast<size_t>(rows * 512 * 2)), ml(static_cast<size_t>(rows * 4)), lse(static_cast<size_t>(rows * 4));
  BENCH_CUDA(fill_randn_16bit(q.get(), rows * c.d_qk, false, 21, stream));
  BENCH_CUDA(fill_randn_16bit(kv.get(), c.s_kv * c.d_qk, false, 22, stream));
  std::vector<int32_t> idx(static_cast<size_t>(int64_t{c.s_q} * c.topk));
  std::vector<uint8_t> seen(static_cast<size_t>(c.s_kv));
  std::mt19937_64 rng(23);
  int64_t unique = 0;
  for (auto& v : idx) {
    v = static_cast<int32_t>(rng() % static_cast<uint64_t>(c.s_kv));
    unique += seen[static_cast<size_t>(v)] ? 0 : 1;
    seen[static_cast<size_t>(v)] = 1;
  }
  DeviceBuffer ind = upload(idx.data(), idx.size() * 4);
  std::vector<float> sink(static_cast<size_t>(c.h_q));
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (float& s : sink) s = u(rng);
  DeviceBuffer dsink = upload(sink.data(), sink.size() * 4);
  const double valid = double{1} * c.s_q * std::min<int64_t>(c.topk, c.s_kv);
  r->flop = 2.0 * valid * c.h_q * (c.d_qk + 512);
  r->bytes = rows * c.d_qk * 2.0 + static_cast<double>(unique) * c.d_qk * 2 + rows * (512 * 2.0 + 8);
  SparsePrefillArgs a;
  a.q = make_view(q.get(), DType::kBF16, {c.s_q, c.h_q, c.d_qk}, DeviceType::kCUDA, dev);
  a.kv = make_view(kv.get(), DType::kBF16, {c.s_kv, 1, c.d_qk}, DeviceType::kCUDA, dev);
  a.indices = make_view(ind.get(), DType::kInt32, {c.s_q, 1, c.topk}, DeviceType::kCUDA, dev);
  if (c.sink) a.attn_sink = make_view(dsink.get(), DType::kFP32, {c.h_q}, DeviceType::kCUDA, dev);
  a.sm_scale = static_cast<float>(1.0 / std::sqrt(double{1} * c.d_qk));
  a.out = make_view(out.get(), DType::kBF16, {c.s_q, c.h_q, 512}, DeviceType::kCUDA, dev);
  a.max_logits = make_view(ml.get(), DType::kFP32, {c.s_q, c.h_q}, DeviceType::kCUDA, dev);
  a.lse = make_view(lse.get(), DType::kFP32, {c.s_q, c.h_q}, DeviceType::kCUDA, dev);
  a.stream = stream;
  BENCH_CUDA(cudaStreamSynchronize(stream));
  r->setup_s = std::chrono::duration<double>(Clock::now() - t0).count();
  time_calls([&](int) { return sparse_prefill(a); }, opt, stream, r);
}

}  // namespace

SparseResult run_sparse_case(const SparseBenchCase& c, const Options& opt, const MachineInfo& info) {
  SparseResult r;
  r.c = c;
  try {
    BENCH_CUDA(cudaSetDevice(opt.device));
    const Stream owned;
    const cudaStream_t stream = owned.s;
    const Clock::time_point t0 = Clock::now();
    if (c.prefill) run_prefill(c, opt, stream, t0, &r);
    else run_decode(c, opt, info, stream, t0, &r);
    BENCH_CUDA(cudaStreamSynchronize(stream));
    BENCH_CUDA(cudaGetLastError());
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (!r.error.empty()) r.fatal = note_sticky_error(r.error);
  return r;
}

#endif  // FLASHMLA_BENCH_CUDA

}  // namespace flashmla::bench
