// CPU backend: dense MLA decode computed directly from docs/spec.md §1, in float64.
//
// Work is cut into items (request, KV head, query token, group of query heads) run by a small pool of
// std::threads pulling from an atomic counter, longest requests first. Every query head is computed by
// exactly one item with the same sequence of operations whatever the grouping, so the result is
// bit-identical for any thread count (FLASHMLA_CPU_THREADS overrides std::thread::hardware_concurrency()).
//
// The helpers in `detail` (cpu/attend.h) are shared with the testing library's split + combine replay.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/kv_format.h"
#include "common/numerics.h"
#include "cpu/attend.h"
#include "cpu/cpu_backend.h"

namespace flashmla::cpu::detail {

int32_t num_threads() noexcept {
  if (const char* env = std::getenv("FLASHMLA_CPU_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && v > 0) return static_cast<int32_t>(std::min<long>(v, 1024));
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int32_t>(std::min<unsigned>(hw, 1024));
}

// Runs fn(0) ... fn(n - 1) on up to num_threads() threads (the caller's thread included). Returns false
// if any call threw; the remaining items are then skipped.
bool parallel_for(int64_t n, const std::function<void(int64_t)>& fn) noexcept {
  if (n <= 0) return true;
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&]() noexcept {
    try {
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) return;
        const int64_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= n) return;
        fn(i);
      }
    } catch (...) {
      failed.store(true);
    }
  };
  const int64_t want = std::min<int64_t>(num_threads(), n);
  std::vector<std::thread> pool;
  try {
    pool.reserve(static_cast<size_t>(want - 1));
    for (int64_t t = 1; t < want; ++t) pool.emplace_back(worker);
  } catch (...) {
    // Fewer threads than wished (thread creation failed): the ones running and this one finish the job.
  }
  worker();
  for (auto& th : pool) th.join();
  return !failed.load();
}

namespace {
// One stored element of q or k_cache as a double: 16-bit floats exactly, e4m3 (docs/spec.md §8) through
// the shared codec times the per-tensor descale (e4m3 * fp32 is exact in double).
struct ElementReader {
  const void* base;
  DType dtype;
  double descale;
  double operator()(int64_t i) const {
    if (dtype == DType::kFP8E4M3)
      return static_cast<double>(kvfmt::e4m3_to_float(static_cast<const uint8_t*>(base)[i])) * descale;
    return numerics::half_to_float(static_cast<const uint16_t*>(base)[i], dtype);
  }
};
double descale_of(const TensorView& v) { return v.defined() ? *static_cast<const float*>(v.data) : 1.0; }
}  // namespace

// Softmax attention of query token `token` of request `req`, query heads [h_begin, h_end) (all mapped
// to KV head `kv_head`), over the keys [key_begin, key_end) of the request (0 <= key_begin, key_end <=
// the request's length; the caller guarantees that the pages holding them are valid).
// out: [h_end - h_begin, head_dim_v] normalised by the chunk's own sum (zeros if no key);
// lse: [h_end - h_begin] natural-log log-sum-exp of the scaled scores (-inf if no key).
// May throw std::bad_alloc.
void attend(const DecodeArgs& args, const DecodeShape& shape, int32_t req, int32_t token, int32_t kv_head,
            int32_t h_begin, int32_t h_end, int64_t key_begin, int64_t key_end, double* out, double* lse) {
  const int32_t nh = h_end - h_begin;
  const int32_t D = shape.head_dim;
  const int32_t DV = shape.head_dim_v;
  const int32_t P = shape.page_size;
  const double scale = static_cast<double>(shape.softmax_scale);
  const double neg_inf = -std::numeric_limits<double>::infinity();

  std::fill(out, out + static_cast<int64_t>(nh) * DV, 0.0);
  std::fill(lse, lse + nh, neg_inf);
  if (key_end <= key_begin || nh <= 0) return;

  const ElementReader qp{args.q.data, args.q.dtype, descale_of(args.descale_q)};
  const ElementReader kp{args.k_cache.data, args.k_cache.dtype, descale_of(args.descale_k)};
  const auto* bt = static_cast<const int32_t*>(args.block_table.data);
  const int64_t* qs = args.q.stride;
  const int64_t* ks = args.k_cache.stride;
  const int64_t* bs = args.block_table.stride;

  std::vector<double> qd(static_cast<size_t>(nh) * D);
  std::vector<double> kd(static_cast<size_t>(P) * D);
  std::vector<double> sc(static_cast<size_t>(nh) * P);
  std::vector<double> mx(nh, neg_inf), sum(nh, 0.0);

  for (int32_t h = 0; h < nh; ++h) {
    const int64_t row = req * qs[0] + token * qs[1] + (h_begin + h) * qs[2];
    for (int32_t c = 0; c < D; ++c) qd[static_cast<size_t>(h) * D + c] = qp(row + c * qs[3]);
  }

  const int64_t first_page = key_begin / P;
  const int64_t last_page = (key_end - 1) / P;
  for (int64_t pg = first_page; pg <= last_page; ++pg) {
    const int64_t page = bt[req * bs[0] + pg * bs[1]];
    const int32_t r0 = static_cast<int32_t>(std::max<int64_t>(key_begin, pg * P) - pg * P);
    const int32_t r1 = static_cast<int32_t>(std::min<int64_t>(key_end, (pg + 1) * P) - pg * P);
    for (int32_t r = r0; r < r1; ++r) {
      const int64_t row = page * ks[0] + r * ks[1] + kv_head * ks[2];
      double* dst = kd.data() + static_cast<size_t>(r) * D;
      for (int32_t c = 0; c < D; ++c) dst[c] = kp(row + c * ks[3]);
    }
    for (int32_t h = 0; h < nh; ++h) {
      const double* qh = qd.data() + static_cast<size_t>(h) * D;
      double* sh = sc.data() + static_cast<size_t>(h) * P;
      double block_max = neg_inf;
      for (int32_t r = r0; r < r1; ++r) {
        const double* kr = kd.data() + static_cast<size_t>(r) * D;
        double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32_t c = 0;
        for (; c + 4 <= D; c += 4) {
          a0 += qh[c] * kr[c];
          a1 += qh[c + 1] * kr[c + 1];
          a2 += qh[c + 2] * kr[c + 2];
          a3 += qh[c + 3] * kr[c + 3];
        }
        for (; c < D; ++c) a0 += qh[c] * kr[c];
        const double s = ((a0 + a1) + (a2 + a3)) * scale;
        sh[r] = s;
        block_max = std::max(block_max, s);
      }
      const double new_max = std::max(mx[h], block_max);
      double* acc = out + static_cast<int64_t>(h) * DV;
      if (new_max > mx[h] && mx[h] != neg_inf) {
        const double corr = std::exp(mx[h] - new_max);
        sum[h] *= corr;
        for (int32_t c = 0; c < DV; ++c) acc[c] *= corr;
      }
      mx[h] = new_max;
      for (int32_t r = r0; r < r1; ++r) {
        const double p = std::exp(sh[r] - new_max);
        sum[h] += p;
        const double* vr = kd.data() + static_cast<size_t>(r) * D;
        for (int32_t c = 0; c < DV; ++c) acc[c] += p * vr[c];
      }
    }
  }
  for (int32_t h = 0; h < nh; ++h) {
    double* acc = out + static_cast<int64_t>(h) * DV;
    const double inv = 1.0 / sum[h];
    for (int32_t c = 0; c < DV; ++c) acc[c] *= inv;
    lse[h] = mx[h] + std::log(sum[h]);
  }
}

// Keys visible to query token `token` of a request of length L: [0, limit).
int64_t key_limit(int32_t L, int32_t token, int32_t s_q, bool causal) noexcept {
  int64_t limit = L;
  if (causal) limit = static_cast<int64_t>(L) - (s_q - 1 - token);
  return limit < 0 ? 0 : limit;
}

}  // namespace flashmla::cpu::detail

namespace flashmla::cpu {

Status decode(const DecodeArgs& args, const DecodeShape& shape) noexcept {
  try {
    if (shape.dtype != DType::kBF16 && shape.dtype != DType::kFP16 && shape.dtype != DType::kFP8E4M3) {
      return Status(StatusCode::kInvalidArgument,
                    std::string("q.dtype: expected bfloat16, float16 or float8_e4m3fn, got ") + dtype_name(shape.dtype));
    }
    const DType out_dtype = args.out.dtype;  // q's dtype, bf16 for an fp8 q (validated)
    if (shape.h_kv <= 0 || shape.heads_per_kv <= 0 ||
        static_cast<int64_t>(shape.h_q) != static_cast<int64_t>(shape.h_kv) * shape.heads_per_kv ||
        shape.head_dim_v > shape.head_dim || shape.page_size <= 0) {
      return Status(StatusCode::kInternal, "cpu::decode: inconsistent DecodeShape");
    }
    if (shape.batch == 0 || shape.s_q == 0 || shape.h_q == 0) return Status::Ok();

    const auto* sl = static_cast<const int32_t*>(args.cache_seqlens.data);
    const int64_t ss = args.cache_seqlens.stride[0];
    auto* op = static_cast<uint16_t*>(args.out.data);
    auto* lp = static_cast<float*>(args.lse.data);
    const int64_t* os = args.out.stride;
    const int64_t* ls = args.lse.stride;
    const int32_t hpk = shape.heads_per_kv;
    const int32_t DV = shape.head_dim_v;

    // Head groups: at most 32 heads (keeps the float64 working set in cache), and enough groups that
    // every thread has work even for a single request.
    // 64-bit throughout: b * h_kv * s_q and the head counts can approach 2^31.
    const int64_t base_items = static_cast<int64_t>(shape.batch) * shape.h_kv * shape.s_q;
    const int64_t threads = detail::num_threads();
    int64_t groups = (static_cast<int64_t>(hpk) + 31) / 32;
    if (base_items * groups < 4 * threads) {
      groups = std::min<int64_t>((4 * threads + base_items - 1) / base_items, (static_cast<int64_t>(hpk) + 3) / 4);
      groups = std::max<int64_t>(groups, (static_cast<int64_t>(hpk) + 31) / 32);
    }
    const int32_t gsize = static_cast<int32_t>((static_cast<int64_t>(hpk) + groups - 1) / groups);
    groups = (static_cast<int64_t>(hpk) + gsize - 1) / gsize;

    // Longest requests first (their items are the longest), so the pool ends evenly.
    std::vector<int32_t> order(shape.batch);
    for (int32_t i = 0; i < shape.batch; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return sl[a * ss] > sl[b * ss]; });

    const int64_t per_req = static_cast<int64_t>(shape.h_kv) * shape.s_q * groups;
    const bool ok = detail::parallel_for(base_items * groups, [&](int64_t item) {
      const int32_t i = order[item / per_req];
      int64_t rest = item % per_req;
      const int32_t kvh = static_cast<int32_t>(rest / (static_cast<int64_t>(shape.s_q) * groups));
      rest %= static_cast<int64_t>(shape.s_q) * groups;
      const int32_t j = static_cast<int32_t>(rest / groups);
      const int32_t g = static_cast<int32_t>(rest % groups);
      const int32_t hh0 = g * gsize;
      const int32_t hh1 = static_cast<int32_t>(std::min<int64_t>(hpk, static_cast<int64_t>(hh0) + gsize));
      const int32_t h0 = kvh * hpk + hh0;
      const int32_t h1 = kvh * hpk + hh1;
      const int32_t nh = h1 - h0;

      const int64_t limit = detail::key_limit(sl[i * ss], j, shape.s_q, args.causal);
      std::vector<double> o(static_cast<size_t>(nh) * DV);
      std::vector<double> l(nh);
      detail::attend(args, shape, i, j, kvh, h0, h1, 0, limit, o.data(), l.data());
      for (int32_t h = 0; h < nh; ++h) {
        uint16_t* orow = op + i * os[0] + j * os[1] + (h0 + h) * os[2];
        float* lse = lp + i * ls[0] + (h0 + h) * ls[1] + j * ls[2];
        if (l[h] == -std::numeric_limits<double>::infinity()) {
          for (int32_t c = 0; c < DV; ++c) orow[c * os[3]] = 0;
          *lse = std::numeric_limits<float>::infinity();
        } else {
          const double* src = o.data() + static_cast<size_t>(h) * DV;
          for (int32_t c = 0; c < DV; ++c) orow[c * os[3]] = numerics::double_to_half(src[c], out_dtype);
          *lse = static_cast<float>(l[h]);
        }
      }
    });
    if (!ok) return Status(StatusCode::kInternal, "cpu::decode: out of memory in a worker thread");
    return Status::Ok();
  } catch (...) {
    return Status(StatusCode::kInternal, "cpu::decode: out of memory");
  }
}

}  // namespace flashmla::cpu
