// flashmla_bench — the CPU runner (the CPU backend on host buffers built by the shared case generator,
// timed with a host clock) and the verification of GPU results against the CPU backend.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bench.h"
#include "compare.h"
#include "flashmla/flashmla.h"

namespace flashmla::bench {

std::vector<CaseSpec> cpu_demo_cases() {
  // Small enough for a 2-core machine (each well under a second per call), shaped like the GPU sets:
  // one long-ish request with many heads, a varlen batch with few heads, MTP (s_q = 4, causal).
  return {fixed_case(1, 1, 128, 1, 1024, true, DType::kBF16), varlen_case(8, 1, 16, 1, 1024, false, DType::kBF16),
          varlen_case(2, 4, 16, 1, 2048, true, DType::kBF16), varlen_case(4, 2, 128, 1, 256, false, DType::kBF16)};
}

CaseResult run_cpu_case(const CaseSpec& spec, const Options& opt) {
  CaseResult r = CaseResult::for_spec(spec);
  try {
    const auto t0 = std::chrono::steady_clock::now();
    HostCase c = make_case(spec);
    r.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const CaseViews v = host_views(c);
    const DecodeArgs args = make_decode_args(spec, v);
    const int iters = opt.iters_given ? std::max(1, opt.iters) : 3;
    const int warmup = opt.iters_given ? std::max(0, opt.warmup) : 1;
    for (int i = 0; i < warmup; ++i) {
      const Status st = decode(args);
      if (!st.ok()) throw std::runtime_error("decode: " + st.message());
    }
    for (int i = 0; i < iters; ++i) {
      const auto h0 = std::chrono::steady_clock::now();
      const Status st = decode(args);
      const auto h1 = std::chrono::steady_clock::now();
      if (!st.ok()) throw std::runtime_error("decode: " + st.message());
      r.eager.us.push_back(std::chrono::duration<double, std::micro>(h1 - h0).count());
    }
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

VerifyResult verify_against_cpu(SubCase& sub, const std::vector<int32_t>& requests) {
  VerifyResult vr;
  vr.ran = true;
  vr.requests = requests;
  const CaseDims& d = sub.dims;
  std::vector<uint16_t> out_ref(static_cast<size_t>(d.out_numel()));
  std::vector<float> lse_ref(static_cast<size_t>(d.lse_numel()));
  CasePointers p;
  p.q = sub.q.data();
  p.k_cache = sub.k_cache.data();
  p.block_table = sub.block_table.data();
  p.cache_seqlens = sub.seqlens.data();
  p.out = out_ref.data();
  p.lse = lse_ref.data();
  const CaseViews v = make_views(d, sub.spec.dtype, p);
  const Status st = decode(make_decode_args(sub.spec, v));
  if (!st.ok()) {
    vr.message = "CPU backend failed: " + st.message();
    return vr;
  }
  const CompareResult co = compare_out(sub.out_got.data(), out_ref.data(), out_ref.size(), sub.spec.dtype,
                                       {d.batch, d.s_q, d.h_q, kDV});
  const CompareResult cl = compare_lse(sub.lse_got.data(), lse_ref.data(), lse_ref.size(), {d.batch, d.h_q, d.s_q});
  vr.ok = co.ok && cl.ok;
  vr.out_max_abs = co.max_abs;
  vr.out_max_rel = co.max_rel;
  vr.out_cos_diff = co.cos_diff;
  vr.out_bad = co.num_bad;
  vr.lse_max_abs = cl.max_abs;
  vr.lse_max_rel = cl.max_rel;
  vr.lse_bad = cl.num_bad;
  vr.message = !co.ok ? co.message : (!cl.ok ? cl.message : "ok");
  return vr;
}

}  // namespace flashmla::bench
