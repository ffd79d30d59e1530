// The CPU twin of the split-KV scheduler (algorithm and record layout: src/common/schedule_plan.h).
//
// KEEP THIS A DIRECT TRANSCRIPTION of the rules below: the device kernel (src/kernels/common/
// sched_meta.cu) implements the same formulas with the same plan:: functions and its output must be
// bit-identical to this one for every input (tests compare them record by record).
//
//   total            = sum_i request_cost(L_i)                (negative L_i count as 0)
//   payload          = payload_of(total, num_sm_parts)
//   start_i          = sum_{j<i} request_cost(L_j)
//   fp_i, lp_i       = first_part(start_i, payload), last_part(start_i, L_i, payload)
//   num_splits[0]    = 0, num_splits[i+1] = num_splits[i] + (lp_i - fp_i + 1)
//   partition p's first item is request i if   fp_i < p <= lp_i,
//                                          or  p == fp_i and (i == 0 or lp_{i-1} < p)
//   partition p's last item is request i if    fp_i <= p < lp_i,
//                                          or  p == lp_i and (i == b-1 or fp_{i+1} > p)
//   record p = { first, chunk_of(first).begin, last, chunk_of(last).end,
//                num_splits[first] + (p - fp_first), payload, 0, status }
//   a partition without a first item: { 0, 0, -1, 0, 0, payload, 0, status }
//   status (field 7) = kStatusNegativeSeqlen in record 0 if any L_i < 0, else 0; 0 in other records.
#include <cstdint>
#include <vector>

#include "common/schedule_plan.h"
#include "cpu/cpu_backend.h"

namespace flashmla::cpu {

void compute_schedule(const int32_t* seqlens, int32_t batch, int32_t num_sm_parts, int32_t* metadata,
                      int32_t* num_splits) noexcept {
  if (num_splits != nullptr) num_splits[0] = 0;
  if (num_sm_parts <= 0 || metadata == nullptr || num_splits == nullptr) return;
  if (batch < 0) batch = 0;

  bool negative = false;
  int64_t total = 0;
  for (int32_t i = 0; i < batch; ++i) {
    if (seqlens[i] < 0) negative = true;
    total += plan::request_cost(seqlens[i]);
  }
  const int64_t payload = plan::payload_of(total, num_sm_parts);

  // Per-request start offsets and partition ranges. The loops below are O(b * num_sm_parts): fine for
  // a test twin; what matters is that each formula is the one the kernel evaluates.
  std::vector<int64_t> start;
  std::vector<int32_t> fp, lp;
  try {
    start.resize(batch);
    fp.resize(batch);
    lp.resize(batch);
  } catch (...) {
    return;  // cannot happen for sane batch sizes; the outputs stay unwritten except num_splits[0]
  }
  int64_t pos = 0;
  for (int32_t i = 0; i < batch; ++i) {
    start[i] = pos;
    fp[i] = plan::first_part(pos, payload);
    lp[i] = plan::last_part(pos, seqlens[i], payload);
    num_splits[i + 1] = num_splits[i] + (lp[i] - fp[i] + 1);
    pos += plan::request_cost(seqlens[i]);
  }

  for (int32_t p = 0; p < num_sm_parts; ++p) {
    int32_t first = -1;
    for (int32_t i = 0; i < batch; ++i) {
      const bool straddles_in = p > fp[i] && p <= lp[i];
      const bool begins_here = p == fp[i] && (i == 0 || lp[i - 1] < p);
      if (straddles_in || begins_here) {
        first = i;
        break;
      }
    }
    int32_t last = -1;
    for (int32_t i = 0; i < batch; ++i) {
      const bool straddles_out = p >= fp[i] && p < lp[i];
      const bool ends_here = p == lp[i] && (i == batch - 1 || fp[i + 1] > p);
      if (straddles_out || ends_here) {
        last = i;
        break;
      }
    }

    int32_t* rec = metadata + static_cast<int64_t>(p) * plan::kRecordInts;
    rec[plan::kRecPayload] = static_cast<int32_t>(payload);
    rec[plan::kRecReserved] = 0;
    rec[plan::kRecStatus] = (p == 0 && negative) ? plan::kStatusNegativeSeqlen : 0;
    if (first < 0 || last < 0) {
      rec[plan::kRecBeginReq] = 0;
      rec[plan::kRecBeginBlock] = 0;
      rec[plan::kRecEndReq] = -1;
      rec[plan::kRecEndBlock] = 0;
      rec[plan::kRecBeginSlot] = 0;
      continue;
    }
    int32_t begin_block = 0, unused_end = 0, unused_begin = 0, end_block = 0;
    plan::chunk_of(start[first], seqlens[first], payload, p, &begin_block, &unused_end);
    plan::chunk_of(start[last], seqlens[last], payload, p, &unused_begin, &end_block);
    rec[plan::kRecBeginReq] = first;
    rec[plan::kRecBeginBlock] = begin_block;
    rec[plan::kRecEndReq] = last;
    rec[plan::kRecEndBlock] = end_block;
    rec[plan::kRecBeginSlot] = num_splits[first] + (p - fp[first]);
  }
}

}  // namespace flashmla::cpu
