// The CPU twin of the split-KV scheduler (algorithm: src/common/split_plan.h; record layout:
// include/flashmla/decode.h).
//
// KEEP THIS A DIRECT TRANSCRIPTION of the rules below: the device kernel (src/kernels/common/
// sched_meta.cu) implements the same formulas with the same plan:: functions and its output must be
// bit-identical to this one for every input (tests compare them record by record).
//
//   n_i              = dense_items(L_i)                      (negative L_i count as 0)
//   total            = sum_i request_cost(n_i)
//   payload          = payload_of(total, num_sm_parts)
//   start_i          = sum_{j<i} request_cost(n_j)
//   fp_i, lp_i       = first_part(start_i, payload), last_part(start_i, n_i, payload)
//   num_splits[0]    = 0, num_splits[i+1] = num_splits[i] + (lp_i - fp_i + 1)
//   for p in [fp_i, lp_i]: request i begins partition p if p > fp_i or lp_{i-1} < p (i = 0: always),
//                          and ends it if p < lp_i or fp_{i+1} > p (i = b-1: always)
//   a partition without requests: { 0, 0, -1, 0, 0, payload, 0, status }
//   status (field 7) = kStatusNegativeSeqlen in record 0 if any L_i < 0, else 0; 0 in other records.
// Linear in b + num_sm_parts + splits: every (request, partition) pair visited is a split.
#include <cstdint>

#include "common/split_plan.h"
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
    total += plan::request_cost(plan::dense_items(seqlens[i]));
  }
  const int64_t payload = plan::payload_of(total, num_sm_parts);

  for (int32_t p = 0; p < num_sm_parts; ++p) {
    int32_t* rec = metadata + static_cast<int64_t>(p) * plan::kRecordInts;
    rec[plan::kRecBeginReq] = 0;
    rec[plan::kRecBeginBlock] = 0;
    rec[plan::kRecEndReq] = -1;
    rec[plan::kRecEndBlock] = 0;
    rec[plan::kRecBeginSlot] = 0;
    rec[plan::kRecPayload] = plan::payload_field(payload);
    rec[plan::kRecReserved] = 0;
    rec[plan::kRecStatus] = (p == 0 && negative) ? plan::kStatusNegativeSeqlen : 0;
  }

  int64_t start = 0;
  int32_t lp_prev = -1;
  for (int32_t i = 0; i < batch; ++i) {
    const int32_t n = plan::dense_items(seqlens[i]);
    const int32_t fp = plan::first_part(start, payload);
    const int32_t lp = plan::last_part(start, n, payload);
    const int64_t next_start = start + plan::request_cost(n);
    const int32_t fp_next = i + 1 < batch ? plan::first_part(next_start, payload) : num_sm_parts;
    num_splits[i + 1] = num_splits[i] + (lp - fp + 1);
    for (int32_t p = fp; p <= lp; ++p) {
      int32_t begin = 0, end = 0;
      plan::chunk_of(start, n, payload, p, &begin, &end);
      int32_t* rec = metadata + static_cast<int64_t>(p) * plan::kRecordInts;
      if (p > fp || lp_prev < p) {
        rec[plan::kRecBeginReq] = i;
        rec[plan::kRecBeginBlock] = begin;
        rec[plan::kRecBeginSlot] = num_splits[i] + (p - fp);
      }
      if (p < lp || fp_next > p) {
        rec[plan::kRecEndReq] = i;
        rec[plan::kRecEndBlock] = end;
      }
    }
    lp_prev = lp;
    start = next_start;
  }
}

}  // namespace flashmla::cpu

namespace flashmla::cpu {

Status run_schedule(const ScheduleProblem& p) {
  const ScheduleArgs& a = *p.args;
  compute_schedule(static_cast<const int32_t*>(a.cache_seqlens.data), p.batch, a.num_sm_parts,
                   static_cast<int32_t*>(a.tile_scheduler_metadata.data), static_cast<int32_t*>(a.num_splits.data));
  return Status::Ok();
}

}  // namespace flashmla::cpu
