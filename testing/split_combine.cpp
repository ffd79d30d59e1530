// Reference of the GPU's split + combine path (record layout: src/common/schedule_plan.h).
//
// 1. Split: every partition p of `metadata` is walked as the kernel walks it: requests begin_req ..
//    end_req, the first starting at page begin_block, the last ending at page end_block, the others
//    whole. Each (request, page range) chunk gives, per query row, a float32 partial output normalised
//    by the chunk's own softmax sum and a float32 partial LSE (-inf when the chunk sees no key: an empty
//    request, or pages entirely past the row's causal limit). The chunk is stored in split slot
//    begin_slot (first chunk of the partition) or num_splits[req] (the later ones, which start at page 0).
// 2. Combine: request i merges its slots [num_splits[i], num_splits[i+1]) with log-sum-exp weights in
//    float32, as the combine kernel does; a request with a single slot is written from it directly.
//    All slots at -inf (the row sees no key) give out = 0 and lse = +inf.
// Inconsistent metadata (a slot outside the prefix sums, a slot written twice or never, pages outside a
// request) is reported as kInternal rather than silently producing garbage: tests rely on it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/numerics.h"
#include "common/split_plan.h"
#include "common/tile_map.h"
#include "cpu/attend.h"
#include "split_combine.h"


namespace flashmla::test {
using cpu::detail::attend;
using cpu::detail::key_limit;
using cpu::detail::parallel_for;
namespace {

struct Chunk {
  int32_t req;
  int32_t page_begin;  // in plan::kDenseTileTokens pages
  int32_t page_end;
  int32_t slot;
};

Status internal(const std::string& what) { return Status(StatusCode::kInternal, "decode_split_combine: " + what); }

}  // namespace

Status decode_split_combine(const DecodeArgs& args, const DecodeShape& shape, const int32_t* metadata,
                            const int32_t* num_splits, int32_t num_sm_parts) noexcept {
  try {
    if (shape.dtype != DType::kBF16 && shape.dtype != DType::kFP16) {
      return Status(StatusCode::kInvalidArgument,
                    std::string("q.dtype: expected bfloat16 or float16, got ") + dtype_name(shape.dtype));
    }
    if (shape.page_size != plan::kDenseTileTokens) return internal("page_size must equal the plan's block size");
    if (shape.h_kv <= 0 || shape.heads_per_kv <= 0 || shape.h_q != shape.h_kv * shape.heads_per_kv ||
        shape.head_dim_v > shape.head_dim) {
      return internal("inconsistent DecodeShape");
    }
    if (metadata == nullptr || num_splits == nullptr || num_sm_parts <= 0) return internal("no schedule");

    const int32_t b = shape.batch;
    const int32_t s_q = shape.s_q;
    const int32_t h_q = shape.h_q;
    const int32_t hpk = shape.heads_per_kv;
    const int32_t DV = shape.head_dim_v;
    const auto* sl = static_cast<const int32_t*>(args.cache_seqlens.data);
    const int64_t ss = args.cache_seqlens.stride[0];
    auto seqlen = [&](int32_t i) { return sl[i * ss]; };

    // num_splits: a prefix sum with at least one slot per request.
    if (num_splits[0] != 0) return internal("num_splits[0] = " + std::to_string(num_splits[0]) + ", expected 0");
    for (int32_t i = 0; i < b; ++i) {
      if (num_splits[i + 1] <= num_splits[i]) {
        return internal("request " + std::to_string(i) + " has no split slot (num_splits[" + std::to_string(i + 1) +
                        "] = " + std::to_string(num_splits[i + 1]) + ")");
      }
    }
    const int32_t slots = num_splits[b];

    // Chunks of every partition, in partition order.
    std::vector<Chunk> chunks;
    for (int32_t p = 0; p < num_sm_parts; ++p) {
      const int32_t* rec = metadata + static_cast<int64_t>(p) * plan::kRecordInts;
      const int32_t br = rec[plan::kRecBeginReq], er = rec[plan::kRecEndReq];
      if (br > er) continue;
      if (br < 0 || er >= b) return internal("partition " + std::to_string(p) + " names requests outside the batch");
      for (int32_t r = br; r <= er; ++r) {
        const int32_t n = plan::dense_items(seqlen(r));
        Chunk c{r, r == br ? rec[plan::kRecBeginBlock] : 0, r == er ? rec[plan::kRecEndBlock] : n,
                r == br ? rec[plan::kRecBeginSlot] : num_splits[r]};
        if (c.page_begin < 0 || c.page_end > n || c.page_begin > c.page_end) {
          return internal("partition " + std::to_string(p) + ": pages [" + std::to_string(c.page_begin) + ", " +
                          std::to_string(c.page_end) + ") of request " + std::to_string(r) + " (" + std::to_string(n) +
                          " pages)");
        }
        if (c.slot < num_splits[r] || c.slot >= num_splits[r + 1]) {
          return internal("partition " + std::to_string(p) + ": slot " + std::to_string(c.slot) + " of request " +
                          std::to_string(r) + " is outside [" + std::to_string(num_splits[r]) + ", " +
                          std::to_string(num_splits[r + 1]) + ")");
        }
        chunks.push_back(c);
      }
    }
    std::vector<int32_t> writes(slots, 0);
    for (const Chunk& c : chunks) ++writes[c.slot];
    for (int32_t s = 0; s < slots; ++s) {
      if (writes[s] != 1) {
        return internal("split slot " + std::to_string(s) + " is written " + std::to_string(writes[s]) + " times");
      }
    }

    // 1. Split: partial results in float32, [slot][s_q][h_q][DV] and [slot][s_q][h_q].
    const size_t rows = static_cast<size_t>(slots) * s_q * h_q;
    std::vector<float> part_o(rows * DV);
    std::vector<float> part_lse(rows);
    const int64_t per_chunk = static_cast<int64_t>(shape.h_kv) * s_q;
    bool ok = parallel_for(static_cast<int64_t>(chunks.size()) * per_chunk, [&](int64_t item) {
      const Chunk& c = chunks[item / per_chunk];
      const int32_t kvh = static_cast<int32_t>((item % per_chunk) / s_q);
      const int32_t j = static_cast<int32_t>(item % s_q);
      const int64_t limit = key_limit(seqlen(c.req), j, s_q, args.causal);
      const int64_t k0 = static_cast<int64_t>(c.page_begin) * plan::kDenseTileTokens;
      const int64_t k1 = std::min<int64_t>(static_cast<int64_t>(c.page_end) * plan::kDenseTileTokens, limit);
      const int32_t h0 = kvh * hpk;
      std::vector<double> o(static_cast<size_t>(hpk) * DV);
      std::vector<double> l(hpk);
      attend(args, shape, c.req, j, kvh, h0, h0 + hpk, k0, std::max(k0, k1), o.data(), l.data());
      for (int32_t h = 0; h < hpk; ++h) {
        const size_t row = (static_cast<size_t>(c.slot) * s_q + j) * h_q + h0 + h;
        part_lse[row] = static_cast<float>(l[h]);  // -inf stays -inf
        for (int32_t d = 0; d < DV; ++d) part_o[row * DV + d] = static_cast<float>(o[static_cast<size_t>(h) * DV + d]);
      }
    });
    if (!ok) return internal("out of memory in a worker thread");

    // 2. Combine, in float32 like the combine kernel.
    auto* op = static_cast<uint16_t*>(args.out.data);
    auto* lp = static_cast<float*>(args.lse.data);
    const int64_t* os = args.out.stride;
    const int64_t* ls = args.lse.stride;
    const float inf = std::numeric_limits<float>::infinity();
    ok = parallel_for(static_cast<int64_t>(b) * s_q, [&](int64_t item) {
      const int32_t i = static_cast<int32_t>(item / s_q);
      const int32_t j = static_cast<int32_t>(item % s_q);
      const int32_t s0 = num_splits[i], s1 = num_splits[i + 1];
      std::vector<float> w(s1 - s0);
      for (int32_t h = 0; h < h_q; ++h) {
        uint16_t* orow = op + i * os[0] + j * os[1] + h * os[2];
        float* lse = lp + i * ls[0] + h * ls[1] + j * ls[2];
        auto row_of = [&](int32_t s) { return (static_cast<size_t>(s) * s_q + j) * h_q + h; };
        float m = -inf;
        for (int32_t s = s0; s < s1; ++s) m = std::max(m, part_lse[row_of(s)]);
        if (m == -inf) {
          for (int32_t d = 0; d < DV; ++d) orow[d * os[3]] = 0;
          *lse = inf;
          continue;
        }
        if (s1 - s0 == 1) {  // single split: written directly from the partial result
          const float* src = part_o.data() + row_of(s0) * DV;
          for (int32_t d = 0; d < DV; ++d) orow[d * os[3]] = numerics::float_to_half(src[d], shape.dtype);
          *lse = part_lse[row_of(s0)];
          continue;
        }
        float wsum = 0.0f;
        for (int32_t s = s0; s < s1; ++s) {
          w[s - s0] = std::exp(part_lse[row_of(s)] - m);  // exp(-inf) = 0 for chunks without keys
          wsum += w[s - s0];
        }
        const float inv = 1.0f / wsum;
        for (int32_t d = 0; d < DV; ++d) {
          float acc = 0.0f;
          for (int32_t s = s0; s < s1; ++s) acc += w[s - s0] * part_o[row_of(s) * DV + d];
          orow[d * os[3]] = numerics::float_to_half(acc * inv, shape.dtype);
        }
        *lse = m + std::log(wsum);
      }
    });
    if (!ok) return internal("out of memory in a worker thread");
    return Status::Ok();
  } catch (...) {
    return internal("out of memory");
  }
}

}  // namespace flashmla::test
