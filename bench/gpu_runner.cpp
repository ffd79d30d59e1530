// flashmla_bench — the GPU runner: inputs built on the device, the schedule computed once (engines reuse
// it across layers), then eager timing (CUDA events around back-to-back decode() calls) and graph timing
// (N calls captured in one CUDA graph, replayed), each rotating among input sets whose total footprint
// exceeds the L2 several times; medians of several samples. Also the ceilings: a device-to-device copy
// and a cuBLAS bf16 GEMM, measured in the same process.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.h"
#include "cuda_helpers.h"
#include "device_fill.h"
#include "flashmla/flashmla.h"

namespace flashmla::bench {
namespace {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a ^ (b * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string popen_first_line(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  std::array<char, 256> buf{};
  if (fgets(buf.data(), static_cast<int>(buf.size()), f)) out = buf.data();
  pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return out;
}

// One input set: its own q, cache (fully random), shuffled block table, seqlens and outputs; with the
// FP8 cache also the descales (fp32 [1] each, on the device).
struct InputSet {
  DeviceBuffer q, k_cache, block_table, seqlens, out, lse, descale_k, descale_q;
  std::vector<int32_t> block_table_host;  // [b, max_blocks]
  DecodeArgs args;
};

// Bytes per q and cache element: 2, or 1 for the e4m3 ones.
size_t q_elem_bytes(const Options& opt) { return opt.fp8_q ? 1 : 2; }
size_t k_elem_bytes(const Options& opt) { return opt.fp8_cache ? 1 : 2; }

size_t set_bytes(const CaseDims& d, const Options& opt) {
  return q_elem_bytes(opt) * static_cast<size_t>(d.q_numel()) + k_elem_bytes(opt) * static_cast<size_t>(d.k_numel()) +
         2 * static_cast<size_t>(d.out_numel()) + 4 * static_cast<size_t>(d.lse_numel() + d.block_table_numel() + d.batch);
}

// The FP8 inputs' descale: the fills draw clamp(N(0,1) / 10, -1, 1), so amax <= 1 and the quantizer's
// per-tensor rule (descale = amax / 448) gives 1/448 for a full tensor.
constexpr float kFp8Descale = 1.0f / 448.0f;

void build_set(InputSet& set, const CaseSpec& spec, const CaseDims& d, int set_index, int device, const Options& opt,
               cudaStream_t st) {
  const bool fp16 = spec.dtype == DType::kFP16;
  set.q = DeviceBuffer(q_elem_bytes(opt) * static_cast<size_t>(d.q_numel()));
  set.k_cache = DeviceBuffer(k_elem_bytes(opt) * static_cast<size_t>(d.k_numel()));
  set.block_table = DeviceBuffer(4 * static_cast<size_t>(d.block_table_numel()));
  set.seqlens = DeviceBuffer(4 * static_cast<size_t>(d.batch));
  set.out = DeviceBuffer(2 * static_cast<size_t>(d.out_numel()));
  set.lse = DeviceBuffer(4 * static_cast<size_t>(d.lse_numel()));
  const uint64_t seed = mix_seed(spec.seed, static_cast<uint64_t>(set_index) + 1);
  if (opt.fp8_q) {
    BENCH_CUDA(fill_randn_e4m3(set.q.get(), d.q_numel(), 1.0f / kFp8Descale, mix_seed(seed, 1), st));
  } else {
    BENCH_CUDA(fill_randn_16bit(set.q.get(), d.q_numel(), fp16, mix_seed(seed, 1), st));
  }
  if (opt.fp8_cache) {
    BENCH_CUDA(fill_randn_e4m3(set.k_cache.get(), d.k_numel(), 1.0f / kFp8Descale, mix_seed(seed, 2), st));
    set.descale_k = DeviceBuffer(4);
    BENCH_CUDA(cudaMemcpyAsync(set.descale_k.get(), &kFp8Descale, 4, cudaMemcpyHostToDevice, st));
    if (opt.fp8_q) {
      set.descale_q = DeviceBuffer(4);
      BENCH_CUDA(cudaMemcpyAsync(set.descale_q.get(), &kFp8Descale, 4, cudaMemcpyHostToDevice, st));
    }
  } else {
    BENCH_CUDA(fill_randn_16bit(set.k_cache.get(), d.k_numel(), fp16, mix_seed(seed, 2), st));
  }
  // Outputs poisoned with NaN (0xffff is a NaN in bf16 and fp16; 0xffffffff in float32).
  BENCH_CUDA(cudaMemsetAsync(set.out.get(), 0xff, set.out.bytes(), st));
  BENCH_CUDA(cudaMemsetAsync(set.lse.get(), 0xff, set.lse.bytes(), st));

  // Pages: a seeded permutation of all page ids; requests take consecutive stretches of it. Unused
  // entries hold page 0 (valid; never read).
  std::vector<int32_t> perm(static_cast<size_t>(d.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(mix_seed(seed, 3));
  std::shuffle(perm.begin(), perm.end(), rng);
  set.block_table_host.assign(static_cast<size_t>(d.block_table_numel()), 0);
  size_t next = 0;
  for (int32_t i = 0; i < d.batch; ++i) {
    const int32_t pages = spec.seqlens[i] <= 0 ? 0 : (spec.seqlens[i] + kPage - 1) / kPage;
    for (int32_t k = 0; k < pages; ++k) set.block_table_host[static_cast<size_t>(i) * d.max_blocks + k] = perm[next++];
  }
  BENCH_CUDA(cudaMemcpyAsync(set.block_table.get(), set.block_table_host.data(), set.block_table.bytes(),
                             cudaMemcpyHostToDevice, st));
  BENCH_CUDA(cudaMemcpyAsync(set.seqlens.get(), spec.seqlens.data(), set.seqlens.bytes(), cudaMemcpyHostToDevice, st));
  BENCH_CUDA(cudaStreamSynchronize(st));  // the host vectors above must outlive the copies

  CasePointers p;
  p.q = set.q.get();
  p.k_cache = set.k_cache.get();
  p.block_table = set.block_table.get();
  p.cache_seqlens = set.seqlens.get();
  p.out = set.out.get();
  p.lse = set.lse.get();
  const CaseViews v = make_views(d, spec.dtype, p, DeviceType::kCUDA, device);
  set.args = make_decode_args(spec, v);
  if (opt.fp8_cache) {  // the same shapes and strides, e4m3 elements (1 B)
    set.args.k_cache = make_view(set.k_cache.get(), DType::kFP8E4M3, {d.num_blocks, kPage, d.h_kv, kD}, DeviceType::kCUDA,
                                 device);
    set.args.descale_k = make_view(set.descale_k.get(), DType::kFP32, {1}, DeviceType::kCUDA, device);
  }
  if (opt.fp8_q) {
    set.args.q = make_view(set.q.get(), DType::kFP8E4M3, {d.batch, d.s_q, d.h_q, kD}, DeviceType::kCUDA, device);
    set.args.descale_q = make_view(set.descale_q.get(), DType::kFP32, {1}, DeviceType::kCUDA, device);
  }
}

std::vector<int32_t> pick_requests(const CaseSpec& spec, int want) {
  const int32_t b = spec.batch;
  std::vector<int32_t> cand = {0, b - 1, b / 2};
  if (b > 0) {
    cand.push_back(static_cast<int32_t>(std::max_element(spec.seqlens.begin(), spec.seqlens.end()) - spec.seqlens.begin()));
  }
  for (int k = 1; k <= want; ++k) cand.push_back(static_cast<int32_t>(int64_t{b} * k / (want + 1)));
  std::vector<int32_t> out;
  for (int32_t i : cand) {
    if (i < 0 || i >= b || std::find(out.begin(), out.end(), i) != out.end()) continue;
    out.push_back(i);
    if (static_cast<int>(out.size()) >= want) break;
  }
  return out;
}

// Copies the listed requests of set 0 (inputs and the device's outputs) into a compact host sub-case.
SubCase gather_sub_case(const InputSet& set, const CaseSpec& spec, const CaseDims& d, const std::vector<int32_t>& req) {
  SubCase sc;
  const int32_t k = static_cast<int32_t>(req.size());
  const int64_t q_row = int64_t{d.s_q} * d.h_q * kD, o_row = int64_t{d.s_q} * d.h_q * kDV, l_row = int64_t{d.h_q} * d.s_q;
  const int64_t page_elems = int64_t{kPage} * d.h_kv * kD;
  int32_t total_pages = 0, max_pages = 1;
  for (int32_t i : req) {
    const int32_t pages = spec.seqlens[i] <= 0 ? 0 : (spec.seqlens[i] + kPage - 1) / kPage;
    total_pages += pages;
    max_pages = std::max(max_pages, pages);
  }
  sc.spec = spec;
  sc.spec.name = spec.name + "_verify";
  sc.spec.batch = k;
  sc.spec.seqlens.clear();
  sc.dims = d;
  sc.dims.batch = k;
  sc.dims.num_blocks = total_pages + 1;  // one spare (zero) page: never an empty cache
  sc.dims.max_blocks = max_pages;
  sc.q.resize(static_cast<size_t>(k * q_row));
  sc.k_cache.assign(static_cast<size_t>(sc.dims.num_blocks * page_elems), 0);
  sc.block_table.assign(static_cast<size_t>(k) * max_pages, total_pages);  // unused: the spare page
  sc.out_got.resize(static_cast<size_t>(k * o_row));
  sc.lse_got.resize(static_cast<size_t>(k * l_row));
  int32_t next = 0;
  for (int32_t n = 0; n < k; ++n) {
    const int32_t i = req[n];
    sc.spec.seqlens.push_back(spec.seqlens[i]);
    BENCH_CUDA(cudaMemcpy(sc.q.data() + n * q_row, set.q.as<uint16_t>() + i * q_row, 2 * q_row, cudaMemcpyDeviceToHost));
    BENCH_CUDA(cudaMemcpy(sc.out_got.data() + n * o_row, set.out.as<uint16_t>() + i * o_row, 2 * o_row,
                          cudaMemcpyDeviceToHost));
    BENCH_CUDA(cudaMemcpy(sc.lse_got.data() + n * l_row, set.lse.as<float>() + i * l_row, 4 * l_row, cudaMemcpyDeviceToHost));
    const int32_t pages = spec.seqlens[i] <= 0 ? 0 : (spec.seqlens[i] + kPage - 1) / kPage;
    for (int32_t j = 0; j < pages; ++j) {
      const int32_t page = set.block_table_host[static_cast<size_t>(i) * d.max_blocks + j];
      BENCH_CUDA(cudaMemcpy(sc.k_cache.data() + int64_t{next} * page_elems, set.k_cache.as<uint16_t>() + page * page_elems,
                            2 * page_elems, cudaMemcpyDeviceToHost));
      sc.block_table[static_cast<size_t>(n) * max_pages + j] = next++;
    }
  }
  sc.seqlens = sc.spec.seqlens;
  return sc;
}

std::string status_text(const Status& st) {
  return std::string(status_code_name(st.code())) + ": " + st.message();
}

}  // namespace

bool probe_gpu(const Options& opt, MachineInfo& info) {
  if (!flashmla::built_with_cuda()) {
    info.cpu_reason = "this build of flashmla has no CUDA kernels";
    return false;
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    info.cpu_reason = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e) : "no CUDA device";
    return false;
  }
  if (opt.device < 0 || opt.device >= count) {
    info.cpu_reason = "--device " + std::to_string(opt.device) + " out of range (" + std::to_string(count) + " devices)";
    return false;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, opt.device) != cudaSuccess) {
    info.cpu_reason = "cudaGetDeviceProperties failed";
    return false;
  }
  info.card = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.l2_bytes = prop.l2CacheSize;
  info.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  info.driver_string = popen_first_line("nvidia-smi --query-gpu=driver_version --format=csv,noheader -i " +
                                        std::to_string(opt.device) + " 2>/dev/null");
  const Status st = flashmla::device_supported(opt.device);
  if (!st.ok()) {
    info.cpu_reason = info.card + ": " + st.message();
    return false;
  }
  if (cudaSetDevice(opt.device) != cudaSuccess) {
    info.cpu_reason = "cudaSetDevice failed";
    return false;
  }
  info.backend = "cuda";
  return true;
}

Ceilings measure_ceilings(const Options& opt) {
  Ceilings c;
  c.measured = true;
  const int samples = std::max(5, opt.repeats + 3);
  // ---- device-to-device copy: >= 2 GB, bytes read + written / time ----
  try {
    Stream stream;
    EventPair ev;
    size_t bytes = size_t{1} << 31;  // 2 GiB
    size_t free_b = 0, total_b = 0;
    BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
    while (bytes > (size_t{1} << 28) && 2 * bytes > free_b * 8 / 10) bytes /= 2;
    DeviceBuffer src(bytes), dst(bytes);
    BENCH_CUDA(fill_randn_16bit(src.get(), static_cast<int64_t>(bytes / 2), false, 0xc0b1ull, stream.s));
    for (int i = 0; i < 3; ++i) BENCH_CUDA(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.s));
    for (int i = 0; i < samples; ++i) {
      BENCH_CUDA(cudaEventRecord(ev.a, stream.s));
      BENCH_CUDA(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream.s));
      BENCH_CUDA(cudaEventRecord(ev.b, stream.s));
      BENCH_CUDA(cudaEventSynchronize(ev.b));
      c.copy_samples.push_back(2.0 * static_cast<double>(bytes) / (ev.ms() * 1e-3) / 1e9);
    }
    c.copy_bytes = static_cast<double>(bytes);
    Samples s{c.copy_samples};
    c.copy_gbps = s.median();
  } catch (const std::exception& e) {
    c.copy_error = e.what();
  }
  // ---- bf16 GEMM 8192^3 through cuBLAS (fp32 accumulation), random data ----
  try {
    constexpr int n = 8192;
    Stream stream;
    EventPair ev;
    const size_t elems = size_t{n} * n;
    DeviceBuffer a(2 * elems), b(2 * elems), out(2 * elems), ws(size_t{32} << 20);
    BENCH_CUDA(fill_randn_16bit(a.get(), static_cast<int64_t>(elems), false, 0xa11ull, stream.s));
    BENCH_CUDA(fill_randn_16bit(b.get(), static_cast<int64_t>(elems), false, 0xb22ull, stream.s));
    cublasHandle_t h = nullptr;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
    struct HandleGuard {
      cublasHandle_t h;
      ~HandleGuard() { cublasDestroy(h); }
    } guard{h};
    cublasSetStream(h, stream.s);
    cublasSetWorkspace(h, ws.get(), ws.bytes());
    const float alpha = 1.0f, beta = 0.0f;
    auto gemm = [&]() {
      const cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(), CUDA_R_16BF, n, b.get(),
                                             CUDA_R_16BF, n, &beta, out.get(), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                             CUBLAS_GEMM_DEFAULT);
      if (st != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cublasGemmEx: ") + cublasGetStatusString(st));
    };
    for (int i = 0; i < 5; ++i) gemm();
    for (int i = 0; i < samples; ++i) {
      BENCH_CUDA(cudaEventRecord(ev.a, stream.s));
      gemm();
      BENCH_CUDA(cudaEventRecord(ev.b, stream.s));
      BENCH_CUDA(cudaEventSynchronize(ev.b));
      c.gemm_samples.push_back(2.0 * n * double{n} * n / (ev.ms() * 1e-3) / 1e12);
    }
    Samples s{c.gemm_samples};
    c.gemm_tflops = s.median();
  } catch (const std::exception& e) {
    c.gemm_error = e.what();
  }
  return c;
}

CaseResult run_gpu_case(const CaseSpec& spec, const Options& opt, const MachineInfo& info) {
  CaseResult r = CaseResult::for_spec(spec);
  if (opt.fp8_cache) r.bytes = r.footprint_bytes = fp8_case_bytes(spec, opt.fp8_q);
  const int device = opt.device;
  try {
    Stream stream;
    const auto t_setup = std::chrono::steady_clock::now();
    MakeOptions mo;
    mo.poison = false;
    const CaseDims d = case_dims(spec, mo);

    // ---- how many input sets: rotate until the footprint is several L2s, within half the free memory ----
    const double l2 = static_cast<double>(std::max<int64_t>(info.l2_bytes, 1));
    int sets = static_cast<int>(std::ceil(opt.l2_multiple * l2 / std::max(r.footprint_bytes, 1.0)));
    sets = std::clamp(sets, 1, 64);
    size_t free_b = 0, total_b = 0;
    BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
    const size_t per_set = set_bytes(d, opt);
    const size_t fit = per_set == 0 ? 64 : (free_b / 2) / per_set;
    if (fit == 0) {
      throw std::runtime_error("inputs need " + std::to_string(per_set >> 20) + " MiB, " + std::to_string(free_b >> 20) + " MiB free");
    }
    sets = std::min<int>(sets, static_cast<int>(std::min<size_t>(fit, 64)));
    r.input_sets = sets;
    std::vector<InputSet> in(static_cast<size_t>(sets));
    for (int s = 0; s < sets; ++s) build_set(in[s], spec, d, s, device, opt, stream.s);

    // ---- the schedule: once (every layer of a step reuses it), on set 0's seqlens (all sets share them) ----
    int32_t parts = 0;
    Status st = query_num_sm_parts(DeviceType::kCUDA, device, spec.s_q * spec.h_q / spec.h_kv, spec.h_kv, spec.s_q, &parts);
    if (!st.ok()) {
      throw std::runtime_error("query_num_sm_parts: " + status_text(st));
    }
    r.num_sm_parts = parts;
    DeviceBuffer meta(4 * static_cast<size_t>(parts) * kScheduleRecordInts), splits(4 * static_cast<size_t>(spec.batch + 1));
    ScheduleArgs sa;
    sa.cache_seqlens = in[0].args.cache_seqlens;
    sa.num_q_rows_per_head_k = spec.s_q * spec.h_q / spec.h_kv;
    sa.num_heads_k = spec.h_kv;
    sa.s_q = spec.s_q;
    sa.num_sm_parts = parts;
    sa.tile_scheduler_metadata = make_view(meta.get(), DType::kInt32, {parts, kScheduleRecordInts}, DeviceType::kCUDA, device);
    sa.num_splits = make_view(splits.get(), DType::kInt32, {spec.batch + 1}, DeviceType::kCUDA, device);
    sa.stream = stream.s;
    st = compute_schedule(sa);
    if (!st.ok()) {
      throw std::runtime_error("compute_schedule: " + status_text(st));
    }
    const size_t ws_bytes = decode_workspace_size(spec.batch, spec.s_q, spec.h_q, kDV, parts);
    DeviceBuffer ws(ws_bytes);
    for (InputSet& s : in) {
      s.args.tile_scheduler_metadata = sa.tile_scheduler_metadata;
      s.args.num_splits = sa.num_splits;
      s.args.workspace = ws.get();
      s.args.workspace_bytes = ws_bytes;
      s.args.stream = stream.s;
    }
    BENCH_CUDA(cudaStreamSynchronize(stream.s));
    r.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_setup).count();

    // ---- verify: one run on the poisoned outputs of set 0, compared with the CPU backend ----
    if (opt.verify) {
      st = decode(in[0].args);
      if (!st.ok()) {
        throw std::runtime_error("decode: " + status_text(st));
      }
      BENCH_CUDA(cudaStreamSynchronize(stream.s));
      const std::vector<int32_t> req = pick_requests(spec, opt.verify_requests);
      SubCase sc = gather_sub_case(in[0], spec, d, req);
      r.verify = verify_against_cpu(sc, req);
    }

    const int n = std::max(1, opt.iters);
    size_t rot = 0;
    auto call = [&]() -> Status { return decode(in[rot++ % in.size()].args); };

    // ---- eager: events around n back-to-back calls ----
    {
      EventPair ev;
      for (int i = 0; i < opt.warmup; ++i) {
        st = call();
        if (!st.ok()) {
          throw std::runtime_error("decode: " + status_text(st));
        }
      }
      BENCH_CUDA(cudaStreamSynchronize(stream.s));
      double host_total = 0;
      for (int k = 0; k < opt.repeats; ++k) {
        BENCH_CUDA(cudaEventRecord(ev.a, stream.s));
        const auto h0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
          st = call();
          if (!st.ok()) {
            throw std::runtime_error("decode: " + status_text(st));
          }
        }
        host_total += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - h0).count();
        BENCH_CUDA(cudaEventRecord(ev.b, stream.s));
        BENCH_CUDA(cudaEventSynchronize(ev.b));
        r.eager.us.push_back(1e3 * ev.ms() / n);
      }
      r.host_us_per_call = host_total / (double{1} * opt.repeats * n);
    }

    // ---- graph: n calls captured once, replayed ----
    {
      cudaGraph_t graph = nullptr;
      BENCH_CUDA(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
      Status cap;
      for (int i = 0; i < n && cap.ok(); ++i) cap = call();
      const cudaError_t end = cudaStreamEndCapture(stream.s, &graph);
      if (!cap.ok() || end != cudaSuccess) {
        r.graph_error = !cap.ok() ? "decode during capture: " + status_text(cap)
                                  : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError();  // capture errors are not sticky
      } else {
        cudaGraphExec_t exec = nullptr;
        const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        if (inst != cudaSuccess) {
          r.graph_error = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(inst);
          cudaGetLastError();
        } else {
          struct ExecGuard {
            cudaGraphExec_t e;
            ~ExecGuard() { cudaGraphExecDestroy(e); }
          } exec_guard{exec};
          EventPair ev;
          for (int i = 0; i < std::max(1, std::min(opt.warmup, 3)); ++i) BENCH_CUDA(cudaGraphLaunch(exec, stream.s));
          for (int k = 0; k < opt.repeats; ++k) {
            BENCH_CUDA(cudaEventRecord(ev.a, stream.s));
            BENCH_CUDA(cudaGraphLaunch(exec, stream.s));
            BENCH_CUDA(cudaEventRecord(ev.b, stream.s));
            BENCH_CUDA(cudaEventSynchronize(ev.b));
            r.graph.us.push_back(1e3 * ev.ms() / n);
          }
        }
      }
    }
    BENCH_CUDA(cudaStreamSynchronize(stream.s));
    BENCH_CUDA(cudaGetLastError());
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (!r.error.empty()) r.fatal = note_sticky_error(r.error);
  return r;
}

}  // namespace flashmla::bench
