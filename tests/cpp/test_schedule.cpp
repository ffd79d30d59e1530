// The CPU twin of the scheduler (src/cpu/schedule.cpp) against the invariants of docs/spec.md §2 and the
// plan of src/common/schedule_plan.h, over hand-checked examples and thousands of random batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "cases.h"
#include "cpu/cpu_backend.h"

using namespace flashmla;

namespace {

struct Schedule {
  std::vector<int32_t> meta;  // [parts, 8]
  std::vector<int32_t> num_splits;
};

Schedule run_schedule(const std::vector<int32_t>& seqlens, int32_t parts) {
  Schedule s;
  s.meta.assign(static_cast<size_t>(parts) * plan::kRecordInts, 0x5a5a5a5a);  // poisoned: all must be written
  s.num_splits.assign(seqlens.size() + 1, 0x5a5a5a5a);
  cpu::compute_schedule(seqlens.data(), static_cast<int32_t>(seqlens.size()), parts, s.meta.data(),
                        s.num_splits.data());
  return s;
}

// Checks every invariant; returns "" or a description of the first violation.
std::string check_invariants(const std::vector<int32_t>& seqlens, int32_t parts, const Schedule& s) {
  const int32_t b = static_cast<int32_t>(seqlens.size());
  auto pages = [&](int32_t i) { return plan::dense_items(seqlens[i]); };
  int64_t total = 0;
  bool negative = false;
  for (int32_t L : seqlens) {
    total += plan::request_cost(plan::dense_items(L));
    negative = negative || L < 0;
  }
  const int64_t payload = plan::payload_of(total, parts);

  if (s.num_splits[0] != 0) return "num_splits[0] != 0";
  // Walk the chunks of all partitions in order: they must tile request 0 pages [0, n0), request 1 ...
  int32_t cur_req = 0, cur_page = 0;  // next expected (request, page)
  bool cur_started = false;           // whether cur_req already has a chunk
  std::vector<int32_t> chunks_of(b, 0);
  std::vector<std::vector<int32_t>> slots_of(b);
  for (int32_t p = 0; p < parts; ++p) {
    const int32_t* r = &s.meta[static_cast<size_t>(p) * plan::kRecordInts];
    const std::string where = "partition " + std::to_string(p) + ": ";
    if (r[plan::kRecPayload] != payload) return where + "payload " + std::to_string(r[plan::kRecPayload]);
    if (r[plan::kRecReserved] != 0) return where + "reserved != 0";
    const int32_t want_status = (p == 0 && negative) ? plan::kStatusNegativeSeqlen : 0;
    if (r[plan::kRecStatus] != want_status) return where + "status " + std::to_string(r[plan::kRecStatus]);
    const int32_t br = r[plan::kRecBeginReq], er = r[plan::kRecEndReq];
    if (br > er) {
      if (br != 0 || r[plan::kRecBeginBlock] != 0 || er != -1 || r[plan::kRecEndBlock] != 0 ||
          r[plan::kRecBeginSlot] != 0)
        return where + "malformed empty record";
      continue;
    }
    if (br < 0 || er >= b) return where + "request range outside the batch";
    int64_t cost = 0;
    for (int32_t q = br; q <= er; ++q) {
      const int32_t pb = q == br ? r[plan::kRecBeginBlock] : 0;
      const int32_t pe = q == er ? r[plan::kRecEndBlock] : pages(q);
      const int32_t slot = q == br ? r[plan::kRecBeginSlot] : s.num_splits[q];
      // Contiguity: this chunk continues the previous one or starts the next request at page 0.
      if (q == cur_req && cur_started) {
        if (pb != cur_page)
          return where + "request " + std::to_string(q) + " chunk starts at page " + std::to_string(pb) +
                 ", expected " + std::to_string(cur_page);
      } else {
        // Previous request must be complete.
        if (cur_started && cur_page != pages(cur_req))
          return where + "request " + std::to_string(cur_req) + " left incomplete";
        const int32_t expect_req = cur_started ? cur_req + 1 : cur_req;
        if (q != expect_req)
          return where + "request " + std::to_string(q) + " out of order (expected " + std::to_string(expect_req) + ")";
        if (pb != 0) return where + "request " + std::to_string(q) + " starts at page " + std::to_string(pb);
        cur_req = q;
        cur_started = true;
      }
      if (pe < pb || pe > pages(q)) return where + "bad page range of request " + std::to_string(q);
      // Only empty requests may have empty chunks.
      if (pe == pb && pages(q) != 0) return where + "empty chunk of non-empty request " + std::to_string(q);
      cur_page = pe;
      ++chunks_of[q];
      slots_of[q].push_back(slot);
      cost += (pe - pb) + plan::kFixedOverheadItems;
    }
    if (cost > payload + plan::kFixedOverheadItems) {
      return where + "balance bound: cost " + std::to_string(cost) + " > payload " + std::to_string(payload) + " + F";
    }
  }
  if (b > 0) {
    if (!cur_started || cur_req != b - 1 || cur_page != pages(b - 1)) return "not every page is covered";
  }
  for (int32_t i = 0; i < b; ++i) {
    if (chunks_of[i] < 1) return "request " + std::to_string(i) + " has no chunk";
    if (pages(i) == 0 && chunks_of[i] != 1)
      return "empty request " + std::to_string(i) + " covered " + std::to_string(chunks_of[i]) + " times";
    if (s.num_splits[i + 1] - s.num_splits[i] != chunks_of[i])
      return "num_splits inconsistent at request " + std::to_string(i);
    for (int32_t k = 0; k < chunks_of[i]; ++k) {
      if (slots_of[i][k] != s.num_splits[i] + k)
        return "slot of chunk " + std::to_string(k) + " of request " + std::to_string(i) + " is " +
               std::to_string(slots_of[i][k]);
    }
  }
  if (s.num_splits[b] > b + parts - 1) return "num_splits[b] = " + std::to_string(s.num_splits[b]) + " > b + parts - 1";
  return "";
}

using flashmla::test::Lcg;

}  // namespace

TEST(Schedule, HandCheckedSingleRequest) {
  // One request of 10 pages over 2 partitions: cost 15, payload 8; pages sit at positions 5..14.
  const Schedule s = run_schedule({640}, 2);
  EXPECT_EQ(s.num_splits, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(std::vector<int32_t>(s.meta.begin(), s.meta.begin() + 8), (std::vector<int32_t>{0, 0, 0, 3, 0, 8, 0, 0}));
  EXPECT_EQ(std::vector<int32_t>(s.meta.begin() + 8, s.meta.end()), (std::vector<int32_t>{0, 3, 0, 10, 1, 8, 0, 0}));
}

TEST(Schedule, HandCheckedMixedBatch) {
  // Lengths 1 (1 page), 0 (empty), 200 (4 pages): costs 6, 5, 9 = 20; 3 parts -> payload 7.
  // Request 0: page at 5 -> part 0. Request 1 (empty): at 6 + 5 = 11 -> part 1.
  // Request 2: starts at 11, pages at 16..19 -> parts 2 (16..19 < 21).
  const Schedule s = run_schedule({1, 0, 200}, 3);
  EXPECT_EQ(s.num_splits, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(std::vector<int32_t>(s.meta.begin(), s.meta.begin() + 8), (std::vector<int32_t>{0, 0, 0, 1, 0, 7, 0, 0}));
  EXPECT_EQ(std::vector<int32_t>(s.meta.begin() + 8, s.meta.begin() + 16),
            (std::vector<int32_t>{1, 0, 1, 0, 1, 7, 0, 0}));
  EXPECT_EQ(std::vector<int32_t>(s.meta.begin() + 16, s.meta.end()), (std::vector<int32_t>{2, 0, 2, 4, 2, 7, 0, 0}));
  EXPECT_EQ(check_invariants({1, 0, 200}, 3, s), "");
}

TEST(Schedule, EmptyPartitionsAndEmptyBatch) {
  // Many more partitions than work: most records are empty.
  const Schedule s = run_schedule({64}, 150);
  EXPECT_EQ(check_invariants({64}, 150, s), "");
  int32_t used = 0;
  for (int32_t p = 0; p < 150; ++p) used += s.meta[p * 8 + plan::kRecBeginReq] <= s.meta[p * 8 + plan::kRecEndReq];
  EXPECT_EQ(used, 1);
  const Schedule e = run_schedule({}, 4);
  EXPECT_EQ(e.num_splits, (std::vector<int32_t>{0}));
  for (int32_t p = 0; p < 4; ++p) {
    EXPECT_EQ(std::vector<int32_t>(e.meta.begin() + p * 8, e.meta.begin() + p * 8 + 8),
              (std::vector<int32_t>{0, 0, -1, 0, 0, 1, 0, 0}));
  }
}

// An empty last request sits at position start + F = total; when num_sm_parts divides the total cost
// exactly, a ceil-division payload puts that position one past the last partition.
TEST(Schedule, TrailingEmptyRequestWhenCostDividesEvenly) {
  for (const auto& [lens, parts] : std::vector<std::pair<std::vector<int32_t>, int32_t>>{
           {{64, 0}, 1}, {{64, 0}, 11}, {{0}, 1}, {{0}, 5}, {{3, 2, 0, 1, 1, 2, 2, 0}, 1}, {{640, 0, 0}, 4}}) {
    const Schedule s = run_schedule(lens, parts);
    EXPECT_EQ(check_invariants(lens, parts, s), "") << "b = " << lens.size() << ", parts = " << parts;
  }
}

TEST(Schedule, NegativeLengthsAreFlaggedAndTreatedAsZero) {
  const std::vector<int32_t> neg = {100, -5, 3000};
  const Schedule s = run_schedule(neg, 7);
  EXPECT_EQ(s.meta[plan::kRecStatus], plan::kStatusNegativeSeqlen);
  for (int32_t p = 1; p < 7; ++p) EXPECT_EQ(s.meta[p * 8 + plan::kRecStatus], 0);
  EXPECT_EQ(check_invariants(neg, 7, s), "");
  // Same plan as with 0, apart from the status flag.
  Schedule z = run_schedule({100, 0, 3000}, 7);
  EXPECT_EQ(z.meta[plan::kRecStatus], 0);
  z.meta[plan::kRecStatus] = plan::kStatusNegativeSeqlen;
  EXPECT_EQ(z.meta, s.meta);
  EXPECT_EQ(z.num_splits, s.num_splits);
}

TEST(Schedule, RandomBatchesKeepEveryInvariant) {
  Lcg rng(12345);
  int64_t splits_seen = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    const int32_t b = 1 + (iter % 4 == 0 ? rng.below(160) : rng.below(12));
    const int32_t parts = 1 + rng.below(iter % 3 == 0 ? 150 : 40);
    const int32_t style = rng.below(5);
    std::vector<int32_t> lens(b);
    for (int32_t& L : lens) {
      switch (style) {
        case 0:
          L = rng.below(200);
          break;  // short, many empties
        case 1:
          L = rng.below(70000);
          break;  // long
        case 2:
          L = rng.below(4) == 0 ? 0 : 64 * (1 + rng.below(40));
          break;  // page multiples, zeros
        case 3:
          L = rng.below(8) == 0 ? -rng.below(100) - 1 : rng.below(5000);
          break;  // negatives
        default:
          L = rng.below(3) == 0 ? 0 : 1 + rng.below(3);
          break;  // tiny
      }
    }
    const Schedule s = run_schedule(lens, parts);
    const std::string err = check_invariants(lens, parts, s);
    std::string lens_str;
    for (int32_t L : lens) lens_str += std::to_string(L) + " ";
    ASSERT_EQ(err, "") << "iteration " << iter << ", b = " << b << ", parts = " << parts << ", lengths " << lens_str;
    splits_seen += s.num_splits[b] - b;
  }
  EXPECT_GT(splits_seen, 1000);  // the random batches do exercise splitting
}

TEST(Schedule, DeterministicAndIndependentOfPoison) {
  const std::vector<int32_t> lens = {5000, 1, 0, 70000, 65, 64};
  const Schedule a = run_schedule(lens, 132);
  std::vector<int32_t> meta(132 * 8, -7), ns(lens.size() + 1, 99);
  cpu::compute_schedule(lens.data(), static_cast<int32_t>(lens.size()), 132, meta.data(), ns.data());
  EXPECT_EQ(meta, a.meta);
  EXPECT_EQ(ns, a.num_splits);
}
