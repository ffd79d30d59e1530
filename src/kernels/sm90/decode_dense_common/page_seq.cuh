// A CTA's page sequence, for a dense decode kernel whose consumers issue their own loads (the bf16/fp16
// kernel, decode_dense/kernel.cuh): the pages of every (request, page range) chunk of the CTA's
// schedule record, concatenated in order. Page k of that sequence lives in K stage k % 2, so when a
// consumer releases a box group of page k it loads the same group of page k + 2 into the slot; these
// helpers find that page's block id, and the next chunk that needs a Q tile. Called by one thread;
// the common case (the page is in the same request) is one block-table load. Host code too: the CPU
// test DenseSelfLoad.* replays the consumers' loads over random schedules.
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "common/split_plan.h"

namespace flashmla::sm90::dense_common {

// End page (exclusive) of request req's chunk in this record (its begin is rec's begin block for the
// first request, 0 for the others).
template <class Params>
FLASHMLA_HD int chunk_end_page(const Params& p, const int32_t* rec, int req) {
  return req == rec[plan::kRecEndReq] ? rec[plan::kRecEndBlock] : plan::dense_items(p.seqlens[req]);
}

// Block id of the page `ahead` places after page pg of request req (whose chunk ends at page pe) in
// the CTA's page sequence, or -1 past its end. Chunks without pages are skipped.
template <class Params>
FLASHMLA_HD int page_after(const Params& p, const int32_t* rec, int req, int pe, int pg, int ahead) {
  int q = pg + ahead;
  while (q >= pe) {
    if (req >= rec[plan::kRecEndReq]) return -1;
    q -= pe;
    ++req;
    pe = chunk_end_page(p, rec, req);
  }
  return p.block_table[static_cast<int64_t>(req) * p.stride_bt_b + q];
}

// First request at or after `req` whose chunk has at least one page (so its consumers wait for a Q
// tile), or -1.
template <class Params>
FLASHMLA_HD int next_chunk_with_pages(const Params& p, const int32_t* rec, int req) {
  for (; req <= rec[plan::kRecEndReq]; ++req) {
    const int pb = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginBlock] : 0;
    if (pb < chunk_end_page(p, rec, req)) return req;
  }
  return -1;
}

}  // namespace flashmla::sm90::dense_common
