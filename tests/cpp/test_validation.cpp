// Bad input (SPEC §5): one named test per validation error. Each starts from a good CPU case, mutates
// one thing and asserts the status code, that the message names the argument with the expected and the
// actual value, and that nothing was written (outputs are pre-filled with a sentinel pattern).
// CUDA-typed views use fake device addresses and only go through can_implement(), which never
// dereferences them, so these tests are safe in every build.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "api/validate.h"
#include "flashmla/flashmla.h"

namespace {

using flashmla::DecodeArgs;
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::ScheduleArgs;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

constexpr uint16_t kOutSentinel = 0x7FAB;      // a bf16/fp16 NaN payload no backend produces
constexpr uint32_t kLseSentinel = 0x7FBADBADu;  // a float NaN payload
constexpr int32_t kIntSentinel = -123456789;

// A small valid CPU decode: b = 2, s_q = 2, h_q = 4, h_kv = 2, cache_seqlens {70, 5}, 4 pages, a block
// table of 3 columns whose unused entries hold garbage.
struct HostCase {
  static constexpr int64_t b = 2, s_q = 2, h_q = 4, h_kv = 2, d = 576, dv = 512, page = 64;
  static constexpr int64_t num_blocks = 4, max_blocks = 3, num_sm_parts = 3;
  std::vector<uint16_t> q, k, out;
  std::vector<float> lse;
  std::vector<int32_t> block_table{2, 0, -7, 3, 99, std::numeric_limits<int32_t>::max()};
  std::vector<int32_t> seqlens{70, 5};
  std::vector<int32_t> metadata, num_splits;

  HostCase() {
    q.resize(b * s_q * h_q * d);
    k.resize(num_blocks * page * h_kv * d);
    uint32_t x = 12345;
    auto next = [&x]() {  // small exact bf16 values k/64, k in [-32, 32]
      x = x * 1664525u + 1013904223u;
      const float f = static_cast<float>(static_cast<int32_t>((x >> 16) % 65) - 32) / 64.0f;
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      return static_cast<uint16_t>(bits >> 16);
    };
    for (auto& v : q) v = next();
    for (auto& v : k) v = next();
    out.assign(b * s_q * h_q * dv, kOutSentinel);
    lse.resize(b * h_q * s_q);
    for (auto& v : lse) std::memcpy(&v, &kLseSentinel, 4);
    metadata.assign(num_sm_parts * 8, kIntSentinel);
    num_splits.assign(b + 1, kIntSentinel);
  }

  DecodeArgs args() {
    DecodeArgs a;
    a.q = flashmla::make_view(q.data(), DType::kBF16, {b, s_q, h_q, d});
    a.k_cache = flashmla::make_view(k.data(), DType::kBF16, {num_blocks, page, h_kv, d});
    a.block_table = flashmla::make_view(block_table.data(), DType::kInt32, {b, max_blocks});
    a.cache_seqlens = flashmla::make_view(seqlens.data(), DType::kInt32, {b});
    a.out = flashmla::make_view(out.data(), DType::kBF16, {b, s_q, h_q, dv});
    a.lse = flashmla::make_view(lse.data(), DType::kFP32, {b, h_q, s_q});
    return a;
  }

  ScheduleArgs schedule_args() {
    ScheduleArgs s;
    s.cache_seqlens = flashmla::make_view(seqlens.data(), DType::kInt32, {b});
    s.num_q_rows_per_head_k = static_cast<int32_t>(s_q * h_q / h_kv);
    s.num_heads_k = static_cast<int32_t>(h_kv);
    s.s_q = static_cast<int32_t>(s_q);
    s.num_sm_parts = static_cast<int32_t>(num_sm_parts);
    s.tile_scheduler_metadata = flashmla::make_view(metadata.data(), DType::kInt32, {num_sm_parts, 8});
    s.num_splits = flashmla::make_view(num_splits.data(), DType::kInt32, {b + 1});
    return s;
  }

  bool outputs_untouched() const {
    for (uint16_t v : out)
      if (v != kOutSentinel) return false;
    for (float v : lse) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      if (bits != kLseSentinel) return false;
    }
    return true;
  }
  bool schedule_untouched() const {
    for (int32_t v : metadata)
      if (v != kIntSentinel) return false;
    for (int32_t v : num_splits)
      if (v != kIntSentinel) return false;
    return true;
  }
};

void expect_message(const Status& st, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    EXPECT_NE(st.message().find(p), std::string::npos) << "message \"" << st.message() << "\" lacks \"" << p << "\"";
}

// decode() and can_implement() on CPU tensors: same status, named message, nothing written.
void expect_rejected(HostCase& c, const DecodeArgs& a, StatusCode code, std::initializer_list<const char*> parts) {
  const std::vector<uint16_t> q_before = c.q;
  const Status ci = flashmla::can_implement(a);
  const Status st = flashmla::decode(a);
  EXPECT_EQ(st.code(), code) << flashmla::status_code_name(st.code()) << ": " << st.message();
  EXPECT_EQ(ci.code(), st.code()) << ci.message();
  EXPECT_EQ(ci.message(), st.message());
  expect_message(st, parts);
  EXPECT_TRUE(c.outputs_untouched()) << "an output was written although the call was rejected";
  EXPECT_EQ(q_before, c.q);
}

#define EXPECT_REJECTED(code, ...) \
  expect_rejected(c, a, StatusCode::code, {__VA_ARGS__})

void expect_schedule_rejected(HostCase& c, const ScheduleArgs& s, StatusCode code,
                              std::initializer_list<const char*> parts) {
  const Status st = flashmla::compute_schedule(s);
  EXPECT_EQ(st.code(), code) << flashmla::status_code_name(st.code()) << ": " << st.message();
  expect_message(st, parts);
  EXPECT_TRUE(c.schedule_untouched()) << "the schedule was written although the call was rejected";
}

#define EXPECT_SCHEDULE_REJECTED(code, ...) \
  expect_schedule_rejected(c, s, StatusCode::code, {__VA_ARGS__})

// ---- CUDA-typed views at fake addresses (never dereferenced) ----------------------------------------

void* fake_ptr(int slot, uintptr_t offset = 0) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(0x100000000000ull) + static_cast<uintptr_t>(slot) * 0x40000000ull +
                                 offset);
}

DecodeArgs cuda_args(HostCase& c, int32_t device_index = 0) {
  DecodeArgs a = c.args();
  TensorView* views[] = {&a.q, &a.k_cache, &a.block_table, &a.cache_seqlens, &a.out, &a.lse};
  int slot = 0;
  for (TensorView* v : views) {
    v->data = fake_ptr(slot++);
    v->device = DeviceType::kCUDA;
    v->device_index = device_index;
  }
  a.tile_scheduler_metadata = flashmla::make_view(fake_ptr(slot++), DType::kInt32, {HostCase::num_sm_parts, 8},
                                                  DeviceType::kCUDA, device_index);
  a.num_splits = flashmla::make_view(fake_ptr(slot++), DType::kInt32, {HostCase::b + 1}, DeviceType::kCUDA,
                                     device_index);
  a.workspace = fake_ptr(slot++);
  a.workspace_bytes = flashmla::decode_workspace_size(HostCase::b, HostCase::s_q, HostCase::h_q, 512,
                                                      HostCase::num_sm_parts);
  return a;
}

void expect_cuda_rejected(const DecodeArgs& a, StatusCode code, std::initializer_list<const char*> parts) {
  const Status st = flashmla::can_implement(a);
  EXPECT_EQ(st.code(), code) << flashmla::status_code_name(st.code()) << ": " << st.message();
  expect_message(st, parts);
}

#define EXPECT_CUDA_REJECTED(code, ...) expect_cuda_rejected(a, StatusCode::code, {__VA_ARGS__})

// ======================================= good cases ==================================================

TEST(Validation, GoodCaseFillsShape) {
  HostCase c;
  flashmla::DecodeShape shape;
  const Status st = flashmla::detail::validate_decode(c.args(), &shape);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(shape.batch, 2);
  EXPECT_EQ(shape.s_q, 2);
  EXPECT_EQ(shape.h_q, 4);
  EXPECT_EQ(shape.h_kv, 2);
  EXPECT_EQ(shape.heads_per_kv, 2);
  EXPECT_EQ(shape.head_dim, 576);
  EXPECT_EQ(shape.head_dim_v, 512);
  EXPECT_EQ(shape.num_blocks, 4);
  EXPECT_EQ(shape.page_size, 64);
  EXPECT_EQ(shape.max_blocks_per_seq, 3);
  EXPECT_EQ(shape.num_sm_parts, 0);
  EXPECT_EQ(shape.dtype, DType::kBF16);
  EXPECT_FLOAT_EQ(shape.softmax_scale, 1.0f / 24.0f);
  EXPECT_TRUE(c.outputs_untouched());
  EXPECT_TRUE(flashmla::can_implement(c.args()).ok());
}

TEST(Validation, GoodCaseDecodesAndWritesEveryOutput) {
  HostCase c;
  const Status st = flashmla::decode(c.args());
  ASSERT_TRUE(st.ok()) << st.message();
  for (uint16_t v : c.out) ASSERT_NE(v, kOutSentinel);
  for (float v : c.lse) ASSERT_TRUE(std::isfinite(v));
}

TEST(Validation, SoftmaxScaleDefaultForZeroNegativeNaN) {
  for (float s : {0.0f, -1.0f, -std::numeric_limits<float>::infinity(), std::nanf("")}) {
    HostCase c;
    DecodeArgs a = c.args();
    a.softmax_scale = s;
    flashmla::DecodeShape shape;
    ASSERT_TRUE(flashmla::detail::validate_decode(a, &shape).ok());
    EXPECT_EQ(shape.softmax_scale, static_cast<float>(1.0 / std::sqrt(576.0))) << "for softmax_scale " << s;
  }
}

TEST(Validation, SoftmaxScalePositiveKept) {
  HostCase c;
  DecodeArgs a = c.args();
  a.softmax_scale = 0.125f;
  flashmla::DecodeShape shape;
  ASSERT_TRUE(flashmla::detail::validate_decode(a, &shape).ok());
  EXPECT_EQ(shape.softmax_scale, 0.125f);
  a.softmax_scale = std::numeric_limits<float>::denorm_min();
  ASSERT_TRUE(flashmla::detail::validate_decode(a, &shape).ok());
  EXPECT_EQ(shape.softmax_scale, std::numeric_limits<float>::denorm_min());
}

TEST(Validation, LseAnyStrideAccepted) {
  HostCase c;
  DecodeArgs a = c.args();
  // lse [b, h_q, s_q] viewed over storage laid out as [b, s_q, h_q].
  a.lse.stride[0] = HostCase::s_q * HostCase::h_q;
  a.lse.stride[1] = 1;
  a.lse.stride[2] = HostCase::h_q;
  EXPECT_TRUE(flashmla::can_implement(a).ok()) << flashmla::can_implement(a).message();
}

TEST(Validation, UnusedBlockTableEntriesIgnored) {
  HostCase c;
  c.block_table = {1, 0, std::numeric_limits<int32_t>::min(), 2, -1, 1 << 30};
  EXPECT_TRUE(flashmla::can_implement(c.args()).ok());
}

TEST(Validation, EmptyBlockTableWithZeroSeqlensAccepted) {
  HostCase c;
  c.seqlens = {0, 0};
  DecodeArgs a = c.args();
  a.block_table = flashmla::make_view(nullptr, DType::kInt32, {HostCase::b, 0});
  EXPECT_TRUE(flashmla::can_implement(a).ok()) << flashmla::can_implement(a).message();
}

TEST(Validation, ScheduleTensorsOptionalOnCpuButCheckedWhenGiven) {
  HostCase c;
  DecodeArgs a = c.args();
  const ScheduleArgs s = c.schedule_args();
  a.tile_scheduler_metadata = s.tile_scheduler_metadata;
  a.num_splits = s.num_splits;
  flashmla::DecodeShape shape;
  ASSERT_TRUE(flashmla::detail::validate_decode(a, &shape).ok());
  EXPECT_EQ(shape.num_sm_parts, HostCase::num_sm_parts);
}

// ======================================= q ===========================================================

TEST(Validation, QUndefined) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q = TensorView{};
  EXPECT_REJECTED(kInvalidArgument, "q: expected rank 4 [b, s_q, h_q, 576]", "got rank 0 [] (undefined tensor)");
}

TEST(Validation, QRank) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q = flashmla::make_view(c.q.data(), DType::kBF16, {2, 1, 576});
  EXPECT_REJECTED(kInvalidArgument, "q: expected rank 4 [b, s_q, h_q, 576], got rank 3 [2, 1, 576]");
}

TEST(Validation, QRankAboveMax) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.rank = 7;
  EXPECT_REJECTED(kInvalidArgument, "q: expected rank 4", "got rank 7");
}

TEST(Validation, QDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.dtype = DType::kFP32;
  EXPECT_REJECTED(kInvalidArgument, "q.dtype: expected bfloat16 or float16, got float32");
}

TEST(Validation, QUnknownDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.dtype = static_cast<DType>(42);
  EXPECT_REJECTED(kInvalidArgument, "q.dtype: expected bfloat16 or float16, got unknown dtype (42)");
}

TEST(Validation, QHeadDim) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[3] = 512;
  EXPECT_REJECTED(kNotSupported, "q.shape[3] (head dim): expected 576, got 512");
}

TEST(Validation, QBatchZero) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[0] = 0;
  EXPECT_REJECTED(kInvalidArgument, "q.shape[0] (b): expected 1..1048576, got 0");
}

TEST(Validation, QBatchTooLarge) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[0] = (int64_t{1} << 20) + 1;
  EXPECT_REJECTED(kInvalidArgument, "q.shape[0] (b): expected 1..1048576, got 1048577");
}

TEST(Validation, QSeqLenZero) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[1] = 0;
  EXPECT_REJECTED(kInvalidArgument, "q.shape[1] (s_q): expected >= 1, got 0");
}

TEST(Validation, QHeadsZero) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[2] = 0;
  EXPECT_REJECTED(kInvalidArgument, "q.shape[2] (h_q): expected >= 1, got 0");
}

TEST(Validation, QNegativeSize) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[1] = -3;
  EXPECT_REJECTED(kInvalidArgument, "q.shape[1]: expected >= 0, got -3");
}

TEST(Validation, QTooManyRows) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[1] = 1 << 16;
  a.q.shape[2] = 1 << 16;
  EXPECT_REJECTED(kInvalidArgument, "q: expected at most 2147483647 query rows (b * s_q * h_q), got shape [2, 65536, 65536, 576]");
}

TEST(Validation, QElementCountOverflow) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[1] = int64_t{1} << 40;
  a.q.shape[2] = int64_t{1} << 40;
  EXPECT_REJECTED(kInvalidArgument, "q: expected at most 2^63 - 1 elements, got shape [2, 1099511627776, 1099511627776, 576]");
}

TEST(Validation, QStrideOffsetOverflow) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.stride[0] = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_REJECTED(kInvalidArgument, "q.stride: expected strides whose byte offsets fit in 64 bits", "got (");
}

TEST(Validation, QLastDimNotContiguous) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.stride[3] = 2;
  EXPECT_REJECTED(kInvalidArgument, "q.stride[3]: expected 1 (last dimension contiguous), got 2");
}

TEST(Validation, QNegativeStride) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.stride[2] = -576;
  EXPECT_REJECTED(kInvalidArgument, "q.stride[2]: expected >= 0, got -576");
}

TEST(Validation, QNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "q.data: expected a non-null pointer (tensor of 9216 elements), got null");
}

TEST(Validation, QMisalignedForDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.data = reinterpret_cast<char*>(c.q.data()) + 1;  // never read: validation fails first
  EXPECT_REJECTED(kInvalidArgument, "q.data: expected an address aligned to 2 bytes (bfloat16), got 0x");
}

// ======================================= head_dim_v ==================================================

TEST(Validation, HeadDimVUnsupported) {
  HostCase c;
  DecodeArgs a = c.args();
  a.head_dim_v = 256;
  EXPECT_REJECTED(kNotSupported, "head_dim_v: expected 512, got 256");
}

TEST(Validation, HeadDimVZero) {
  HostCase c;
  DecodeArgs a = c.args();
  a.head_dim_v = 0;
  EXPECT_REJECTED(kInvalidArgument, "head_dim_v: expected 512, got 0");
}

TEST(Validation, HeadDimVLargerThanHeadDim) {
  HostCase c;
  DecodeArgs a = c.args();
  a.head_dim_v = 600;
  EXPECT_REJECTED(kInvalidArgument, "head_dim_v: expected 512, got 600");
}

// ======================================= k_cache =====================================================

TEST(Validation, KCacheRank) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache = flashmla::make_view(c.k.data(), DType::kBF16, {4 * 64, 2, 576});
  EXPECT_REJECTED(kInvalidArgument, "k_cache: expected rank 4 [num_blocks, 64, h_kv, 576], got rank 3 [256, 2, 576]");
}

TEST(Validation, KCacheDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.dtype = DType::kFP16;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.dtype: expected bfloat16 (same as q), got float16");
}

TEST(Validation, KCachePageSize) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[0] = 8;
  a.k_cache.shape[1] = 32;
  EXPECT_REJECTED(kNotSupported, "k_cache.shape[1] (page size): expected 64, got 32");
}

TEST(Validation, KCachePageSizeZero) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[1] = 0;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.shape[1] (page size): expected 64, got 0");
}

TEST(Validation, KCacheHeadDim) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[3] = 512;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.shape[3] (head dim): expected 576 (same as q), got 512");
}

TEST(Validation, KCacheNoKvHeads) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[2] = 0;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.shape[2] (h_kv): expected 1..8, got 0");
}

TEST(Validation, KCacheTooManyKvHeads) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[2] = 16;
  a.k_cache.shape[0] = 1;
  a.k_cache.shape[2] = 16;
  EXPECT_REJECTED(kNotSupported, "k_cache.shape[2] (h_kv): expected 1..8, got 16");
}

TEST(Validation, KCacheNoBlocks) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[0] = 0;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.shape[0] (num_blocks): expected >= 1, got 0");
}

TEST(Validation, HeadsNotMultipleOfKvHeads) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.shape[2] = 6;  // views only: validation reads neither q nor k_cache
  a.k_cache.shape[0] = 2;
  a.k_cache.shape[2] = 4;
  EXPECT_REJECTED(kInvalidArgument, "h_q % h_kv: expected 0, got h_q=6, h_kv=4");
}

TEST(Validation, KCacheLastDimNotContiguous) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.shape[0] = 2;
  a.k_cache.stride[3] = 2;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.stride[3]: expected 1 (last dimension contiguous), got 2");
}

TEST(Validation, KCacheNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "k_cache.data: expected a non-null pointer", "got null");
}

TEST(Validation, KCacheDeviceMismatch) {
  HostCase c;
  DecodeArgs a = c.args();
  a.k_cache.device = DeviceType::kCUDA;
  a.k_cache.data = fake_ptr(1);
  EXPECT_REJECTED(kInvalidArgument, "k_cache.device: expected cpu (same as q), got cuda:0");
}

// ======================================= block_table =================================================

TEST(Validation, BlockTableUndefined) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table = TensorView{};
  EXPECT_REJECTED(kInvalidArgument, "block_table: expected rank 2 [b, max_blocks_per_seq], got rank 0 []");
}

TEST(Validation, BlockTableRank) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table = flashmla::make_view(c.block_table.data(), DType::kInt32, {6});
  EXPECT_REJECTED(kInvalidArgument, "block_table: expected rank 2 [b, max_blocks_per_seq], got rank 1 [6]");
}

TEST(Validation, BlockTableDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table.dtype = DType::kFP32;
  EXPECT_REJECTED(kInvalidArgument, "block_table.dtype: expected int32, got float32");
}

TEST(Validation, BlockTableBatch) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table = flashmla::make_view(c.block_table.data(), DType::kInt32, {3, 2});
  EXPECT_REJECTED(kInvalidArgument, "block_table.shape[0]: expected 2 (batch of q), got 3");
}

TEST(Validation, BlockTableLastDimNotContiguous) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table = flashmla::make_view(c.block_table.data(), DType::kInt32, {2, 1});
  a.block_table.shape[1] = 2;
  a.block_table.stride[0] = 3;
  a.block_table.stride[1] = 2;
  EXPECT_REJECTED(kInvalidArgument, "block_table.stride[1]: expected 1 (last dimension contiguous), got 2");
}

TEST(Validation, BlockTableNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "block_table.data: expected a non-null pointer (tensor of 6 elements), got null");
}

// ======================================= cache_seqlens ===============================================

TEST(Validation, SeqlensRank) {
  HostCase c;
  DecodeArgs a = c.args();
  a.cache_seqlens = flashmla::make_view(c.seqlens.data(), DType::kInt32, {2, 1});
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens: expected rank 1 [b], got rank 2 [2, 1]");
}

TEST(Validation, SeqlensDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.cache_seqlens.dtype = DType::kBF16;
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens.dtype: expected int32, got bfloat16");
}

TEST(Validation, SeqlensBatch) {
  HostCase c;
  DecodeArgs a = c.args();
  a.cache_seqlens.shape[0] = 1;
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens.shape[0]: expected 2 (batch of q), got 1");
}

TEST(Validation, SeqlensNotContiguous) {
  HostCase c;
  DecodeArgs a = c.args();
  c.seqlens = {70, 0, 5, 0};
  a.cache_seqlens.data = c.seqlens.data();
  a.cache_seqlens.stride[0] = 2;
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens.stride[0]: expected 1 (contiguous), got 2");
}

TEST(Validation, SeqlensNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.cache_seqlens.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens.data: expected a non-null pointer (tensor of 2 elements), got null");
}

TEST(Validation, SeqlensMisaligned) {
  HostCase c;
  DecodeArgs a = c.args();
  a.cache_seqlens.data = reinterpret_cast<char*>(c.seqlens.data()) + 2;
  a.cache_seqlens.shape[0] = 1;
  a.q.shape[0] = 1;  // keep the batch consistent
  a.block_table.shape[0] = 1;
  a.out.shape[0] = 1;
  a.lse.shape[0] = 1;
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens.data: expected an address aligned to 4 bytes (int32), got 0x");
}

// ======================================= out =========================================================

TEST(Validation, OutUndefined) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out = TensorView{};
  EXPECT_REJECTED(kInvalidArgument, "out: expected rank 4 [b, s_q, h_q, head_dim_v], got rank 0 [] (undefined tensor)");
}

TEST(Validation, OutDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.dtype = DType::kFP16;
  EXPECT_REJECTED(kInvalidArgument, "out.dtype: expected bfloat16 (same as q), got float16");
}

TEST(Validation, OutShape) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out = flashmla::make_view(c.out.data(), DType::kBF16, {2, 2, 3, 512});
  EXPECT_REJECTED(kInvalidArgument, "out.shape: expected [2, 2, 4, 512] ([b, s_q, h_q, head_dim_v]), got [2, 2, 3, 512]");
}

TEST(Validation, OutHeadDimV) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out = flashmla::make_view(c.out.data(), DType::kBF16, {2, 2, 2, 576});  // fits inside the buffer
  EXPECT_REJECTED(kInvalidArgument, "out.shape: expected [2, 2, 4, 512]", "got [2, 2, 2, 576]");
}

TEST(Validation, OutLastDimNotContiguous) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.stride[3] = 2;
  a.out.shape[0] = 1;
  a.q.shape[0] = 1;
  a.block_table.shape[0] = 1;
  a.cache_seqlens.shape[0] = 1;
  a.lse.shape[0] = 1;
  EXPECT_REJECTED(kInvalidArgument, "out.stride[3]: expected 1 (last dimension contiguous), got 2");
}

TEST(Validation, OutZeroStride) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.stride[2] = 0;
  EXPECT_REJECTED(kInvalidArgument, "out.stride[2]: expected a nonzero stride (an output must not overlap itself), got 0");
}

TEST(Validation, OutNegativeStride) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.stride[0] = -2048;
  a.out.data = c.out.data() + 2 * 2 * 4 * 512 / 2;  // the view stays inside the buffer
  EXPECT_REJECTED(kInvalidArgument, "out.stride[0]: expected >= 0, got -2048");
}

TEST(Validation, OutNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "out.data: expected a non-null pointer (tensor of 8192 elements), got null");
}

TEST(Validation, OutDeviceMismatch) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.device = DeviceType::kCUDA;
  a.out.device_index = 3;
  a.out.data = fake_ptr(4);
  EXPECT_REJECTED(kInvalidArgument, "out.device: expected cpu (same as q), got cuda:3");
}

// ======================================= lse =========================================================

TEST(Validation, LseDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse.dtype = DType::kBF16;
  EXPECT_REJECTED(kInvalidArgument, "lse.dtype: expected float32, got bfloat16");
}

TEST(Validation, LseRank) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse = flashmla::make_view(c.lse.data(), DType::kFP32, {2, 8});
  EXPECT_REJECTED(kInvalidArgument, "lse: expected rank 3 [b, h_q, s_q], got rank 2 [2, 8]");
}

TEST(Validation, LseShapeTransposed) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse = flashmla::make_view(c.lse.data(), DType::kFP32, {2, 2, 4});  // [b, s_q, h_q]: the wrong order
  EXPECT_REJECTED(kInvalidArgument, "lse.shape: expected [2, 4, 2] ([b, h_q, s_q]), got [2, 2, 4]");
}

TEST(Validation, LseZeroStride) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse.stride[1] = 0;
  EXPECT_REJECTED(kInvalidArgument, "lse.stride[1]: expected a nonzero stride (an output must not overlap itself), got 0");
}

TEST(Validation, LseNullData) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse.data = nullptr;
  EXPECT_REJECTED(kInvalidArgument, "lse.data: expected a non-null pointer (tensor of 16 elements), got null");
}

// ======================================= devices =====================================================

TEST(Validation, UnknownDeviceType) {
  HostCase c;
  DecodeArgs a = c.args();
  a.q.device = static_cast<DeviceType>(7);
  EXPECT_REJECTED(kInvalidArgument, "q.device: expected cpu or cuda, got unknown device type (7)");
}

TEST(Validation, BlockTableUnknownDeviceType) {
  HostCase c;
  DecodeArgs a = c.args();
  a.block_table.device = static_cast<DeviceType>(5);
  EXPECT_REJECTED(kInvalidArgument, "block_table.device: expected cpu (same as q), got unknown device type (5)");
}

// ======================================= schedule tensors given on the CPU ===========================

TEST(Validation, MetadataDtype) {
  HostCase c;
  DecodeArgs a = c.args();
  a.tile_scheduler_metadata = c.schedule_args().tile_scheduler_metadata;
  a.tile_scheduler_metadata.dtype = DType::kFP32;
  EXPECT_REJECTED(kInvalidArgument, "tile_scheduler_metadata.dtype: expected int32, got float32");
}

TEST(Validation, MetadataRecordSize) {
  HostCase c;
  DecodeArgs a = c.args();
  a.tile_scheduler_metadata = flashmla::make_view(c.metadata.data(), DType::kInt32, {4, 6});
  EXPECT_REJECTED(kInvalidArgument, "tile_scheduler_metadata.shape[1] (record size): expected 8, got 6");
}

TEST(Validation, MetadataNoPartitions) {
  HostCase c;
  DecodeArgs a = c.args();
  a.tile_scheduler_metadata = flashmla::make_view(c.metadata.data(), DType::kInt32, {0, 8});
  EXPECT_REJECTED(kInvalidArgument, "tile_scheduler_metadata.shape[0] (num_sm_parts): expected 1..1048576, got 0");
}

TEST(Validation, NumSplitsShape) {
  HostCase c;
  DecodeArgs a = c.args();
  a.num_splits = flashmla::make_view(c.num_splits.data(), DType::kInt32, {2});
  EXPECT_REJECTED(kInvalidArgument, "num_splits.shape[0]: expected 3 (b + 1, b = 2), got 2");
}

// ======================================= aliasing ====================================================

TEST(Validation, OutAliasesQ) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.data = c.q.data();  // out (8192 elements) fits inside q (9216 elements)
  EXPECT_REJECTED(kInvalidArgument, "out: expected memory disjoint from q, got overlapping byte ranges [0x");
}

TEST(Validation, OutAliasesKCache) {
  HostCase c;
  DecodeArgs a = c.args();
  a.out.data = c.k.data() + 1000;
  EXPECT_REJECTED(kInvalidArgument, "out: expected memory disjoint from k_cache, got overlapping byte ranges");
}

TEST(Validation, LseAliasesOut) {
  HostCase c;
  DecodeArgs a = c.args();
  a.lse.data = c.out.data() + 64;
  EXPECT_REJECTED(kInvalidArgument, "lse: expected memory disjoint from out, got overlapping byte ranges");
}

TEST(Validation, LseAliasesSeqlens) {
  HostCase c;
  DecodeArgs a = c.args();
  std::vector<float> both(64, 0.0f);
  a.cache_seqlens.data = both.data();
  a.lse.data = both.data() + 1;  // seqlens {0, 0} in both[0..1], lse from both[1] on
  EXPECT_REJECTED(kInvalidArgument, "lse: expected memory disjoint from cache_seqlens, got overlapping byte ranges");
}

// ======================================= softmax_scale ===============================================

TEST(Validation, SoftmaxScaleInfinite) {
  HostCase c;
  DecodeArgs a = c.args();
  a.softmax_scale = std::numeric_limits<float>::infinity();
  EXPECT_REJECTED(kInvalidArgument, "softmax_scale: expected a finite value > 0 (or <= 0 / NaN for the default 1/sqrt(576)), got inf");
}

// ======================================= values (CPU tensors) ========================================

TEST(Validation, NegativeSeqlen) {
  HostCase c;
  c.seqlens[1] = -5;
  DecodeArgs a = c.args();
  EXPECT_REJECTED(kInvalidArgument, "cache_seqlens[1]: expected >= 0, got -5");
}

TEST(Validation, BlockTableTooShort) {
  HostCase c;
  c.seqlens[1] = 3 * 64 + 1;  // 4 pages, the table has 3 columns
  DecodeArgs a = c.args();
  EXPECT_REJECTED(kInvalidArgument, "block_table.shape[1]: expected >= 4 (pages needed by cache_seqlens[1] = 193), got 3");
}

TEST(Validation, PageIdOutOfRange) {
  HostCase c;
  c.block_table[1] = 4;  // request 0, page 1 (used: cache_seqlens[0] = 70); num_blocks = 4
  DecodeArgs a = c.args();
  EXPECT_REJECTED(kInvalidArgument, "block_table[0][1]: expected a page id in [0, 4) (k_cache.shape[0]", "got 4");
}

TEST(Validation, PageIdNegative) {
  HostCase c;
  c.block_table[3] = -1;  // request 1, page 0
  DecodeArgs a = c.args();
  EXPECT_REJECTED(kInvalidArgument, "block_table[1][0]: expected a page id in [0, 4)", "cache_seqlens[1] = 5", "got -1");
}

TEST(Validation, PageIdCheckHonoursBlockTableStride) {
  HostCase c;
  // A [2, 2] view over the 3-column storage: the entries are {2, 0} and {3, 99}.
  DecodeArgs a = c.args();
  a.block_table.shape[1] = 2;
  c.seqlens[1] = 65;  // request 1 now uses its second entry, 99
  EXPECT_REJECTED(kInvalidArgument, "block_table[1][1]: expected a page id in [0, 4)", "got 99");
}

// ======================================= CUDA-typed views (fake pointers) ============================

TEST(Validation, CudaNotBuiltIsNotSupported) {
  if (flashmla::built_with_cuda()) GTEST_SKIP() << "this build has the CUDA kernels";
  HostCase c;
  const DecodeArgs a = cuda_args(c);
  EXPECT_CUDA_REJECTED(kNotSupported, "q.device: expected cpu (flashmla was built without CUDA kernels", "got cuda:0");
  // decode() is safe here too: this build cannot launch anything, and validation never reads device memory.
  const Status st = flashmla::decode(a);
  EXPECT_EQ(st.code(), StatusCode::kNotSupported);
  expect_message(st, {"flashmla was built without CUDA kernels"});
}

TEST(Validation, CudaDeviceIndexMismatch) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.lse.device_index = 1;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "lse.device: expected cuda:0 (same as q), got cuda:1");
}

TEST(Validation, CudaNegativeDeviceIndex) {
  HostCase c;
  const DecodeArgs a = cuda_args(c, -1);
  EXPECT_CUDA_REJECTED(kInvalidArgument, "q.device_index: expected >= 0, got -1");
}

TEST(Validation, CudaCpuTensorMixed) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.cache_seqlens = c.args().cache_seqlens;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "cache_seqlens.device: expected cuda:0 (same as q), got cpu");
}

TEST(Validation, CudaMissingMetadata) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.tile_scheduler_metadata = TensorView{};
  EXPECT_CUDA_REJECTED(kInvalidArgument,
                       "tile_scheduler_metadata: expected rank 2 [num_sm_parts, 8] (required for CUDA tensors",
                       "got rank 0 [] (undefined tensor)");
}

TEST(Validation, CudaMissingNumSplits) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.num_splits = TensorView{};
  EXPECT_CUDA_REJECTED(kInvalidArgument, "num_splits: expected rank 1 [b + 1] (required for CUDA tensors",
                       "got rank 0 []");
}

TEST(Validation, CudaMetadataNotContiguous) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.tile_scheduler_metadata.stride[0] = 16;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "tile_scheduler_metadata.stride[0]: expected 8 (contiguous), got 16");
}

TEST(Validation, CudaWorkspaceNull) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.workspace = nullptr;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "workspace: expected a non-null pointer to", "got null");
}

TEST(Validation, CudaWorkspaceTooSmall) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  const size_t need = a.workspace_bytes;
  a.workspace_bytes = need - 1;
  const std::string expected = "workspace_bytes: expected >= " + std::to_string(need) +
                               " (decode_workspace_size(2, 2, 4, 512, 3)), got " + std::to_string(need - 1);
  EXPECT_CUDA_REJECTED(kInvalidArgument, expected.c_str());
}

TEST(Validation, CudaWorkspaceMisaligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.workspace = static_cast<char*>(a.workspace) + 4;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "workspace: expected a 16-byte aligned address, got 0x");
}

TEST(Validation, CudaWorkspaceOverlapsOut) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.workspace = static_cast<char*>(a.out.data) + 4096;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "workspace: expected memory disjoint from out, got overlapping byte ranges");
}

TEST(Validation, CudaQBaseMisaligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.q.data = static_cast<char*>(a.q.data) + 8;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "q.data: expected a 16-byte aligned address (TMA), got 0x");
}

TEST(Validation, CudaKCacheBaseMisaligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.k_cache.data = static_cast<char*>(a.k_cache.data) + 2;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "k_cache.data: expected a 16-byte aligned address (TMA), got 0x");
}

TEST(Validation, CudaOutBaseMisaligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.out.data = static_cast<char*>(a.out.data) + 2;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "out.data: expected a 16-byte aligned address (16-byte vector stores), got 0x");
}

TEST(Validation, CudaQHeadStrideNotTmaAligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.q.stride[2] = 580;  // padded rows of 1160 bytes
  a.q.stride[1] = 4 * 580;
  a.q.stride[0] = 2 * 4 * 580;
  EXPECT_CUDA_REJECTED(kInvalidArgument,
                       "q.stride[2]: expected a positive multiple of 16 bytes below 2^40 (TMA needs 16-byte aligned "
                       "strides), i.e. a multiple of 8 elements, got 580 elements = 1160 bytes");
}

TEST(Validation, CudaQBatchStrideNotTmaAligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.q.stride[0] = 2 * 4 * 576 + 4;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "q.stride[0]: expected a positive multiple of 16 bytes below 2^40 (TMA",
                       "got 4612 elements = 9224 bytes");
}

TEST(Validation, CudaKCacheStrideNotTmaAligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.k_cache.stride[0] = 64 * 2 * 576 + 4;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "k_cache.stride[0]: expected a positive multiple of 16 bytes below 2^40 (TMA",
                       "got 73732 elements = 147464 bytes");
}

TEST(Validation, CudaKCacheStrideTooLargeForTma) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.k_cache.stride[0] = int64_t{1} << 40;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "k_cache.stride[0]: expected a positive multiple of 16 bytes below 2^40",
                       "got 1099511627776 elements");
}

TEST(Validation, CudaQBroadcastStride) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.q.stride[0] = 0;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "q.stride[0]: expected a positive multiple of 16 bytes", "got 0 elements = 0 bytes");
}

TEST(Validation, CudaOutStrideNotAligned) {
  HostCase c;
  DecodeArgs a = cuda_args(c);
  a.out.stride[2] = 516;
  a.out.stride[1] = 4 * 520;
  a.out.stride[0] = 2 * 4 * 520;
  EXPECT_CUDA_REJECTED(kInvalidArgument, "out.stride[2]: expected a positive multiple of 16 bytes below 2^40 (16-byte vector stores)",
                       "got 516 elements = 1032 bytes");
}

TEST(Validation, CudaValidViewsAreNeverDereferenced) {
  // Every check of a valid CUDA call runs without touching the (fake) memory: reaching the end proves it.
  HostCase c;
  const DecodeArgs a = cuda_args(c);
  flashmla::DecodeShape shape;
  const Status st = flashmla::detail::validate_decode(a, &shape);
  if (flashmla::built_with_cuda()) {
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(shape.num_sm_parts, HostCase::num_sm_parts);
  } else {
    EXPECT_EQ(st.code(), StatusCode::kNotSupported);
  }
}

// ======================================= compute_schedule ============================================

TEST(ValidationSchedule, GoodCaseWritesSchedule) {
  HostCase c;
  const Status st = flashmla::compute_schedule(c.schedule_args());
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.num_splits[0], 0);
  int32_t batch = -1;
  ASSERT_TRUE(flashmla::detail::validate_schedule(c.schedule_args(), &batch).ok());
  EXPECT_EQ(batch, 2);
}

TEST(ValidationSchedule, SeqlensRank) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.cache_seqlens = flashmla::make_view(c.seqlens.data(), DType::kInt32, {1, 2});
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "cache_seqlens: expected rank 1 [b], got rank 2 [1, 2]");
}

TEST(ValidationSchedule, SeqlensDtype) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.cache_seqlens.dtype = DType::kFP32;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "cache_seqlens.dtype: expected int32, got float32");
}

TEST(ValidationSchedule, EmptyBatch) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.cache_seqlens.shape[0] = 0;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "cache_seqlens.shape[0] (batch): expected 1..1048576, got 0");
}

TEST(ValidationSchedule, SeqlensNotContiguous) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  c.seqlens = {1, 2, 3, 4};
  s.cache_seqlens.data = c.seqlens.data();
  s.cache_seqlens.stride[0] = 2;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "cache_seqlens.stride[0]: expected 1 (contiguous), got 2");
}

TEST(ValidationSchedule, RowsPerHeadKZero) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_q_rows_per_head_k = 0;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_q_rows_per_head_k: expected >= 1 (s_q * h_q / h_kv), got 0");
}

TEST(ValidationSchedule, HeadsKZero) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_heads_k = 0;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_heads_k: expected 1..8, got 0");
}

TEST(ValidationSchedule, HeadsKTooMany) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_heads_k = 9;
  EXPECT_SCHEDULE_REJECTED(kNotSupported, "num_heads_k: expected 1..8, got 9");
}

TEST(ValidationSchedule, NegativeSeqQ) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.s_q = -1;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "s_q: expected >= 0 (0 = unknown), got -1");
}

TEST(ValidationSchedule, NumSmPartsMismatch) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_sm_parts = 132;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_sm_parts: expected 3 (tile_scheduler_metadata.shape[0]), got 132");
}

TEST(ValidationSchedule, MetadataUndefined) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.tile_scheduler_metadata = TensorView{};
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "tile_scheduler_metadata: expected rank 2 [num_sm_parts, 8], got rank 0 []");
}

TEST(ValidationSchedule, MetadataRecordSize) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.tile_scheduler_metadata = flashmla::make_view(c.metadata.data(), DType::kInt32, {3, 4});
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "tile_scheduler_metadata.shape[1] (record size): expected 8, got 4");
}

TEST(ValidationSchedule, MetadataNotContiguous) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.tile_scheduler_metadata.shape[0] = 1;
  s.num_sm_parts = 1;
  s.tile_scheduler_metadata.stride[1] = 2;
  s.tile_scheduler_metadata.shape[1] = 8;
  c.metadata.resize(16, kIntSentinel);
  s.tile_scheduler_metadata.data = c.metadata.data();
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "tile_scheduler_metadata.stride[1]: expected 1 (contiguous), got 2");
}

TEST(ValidationSchedule, MetadataDtype) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.tile_scheduler_metadata.dtype = DType::kFP32;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "tile_scheduler_metadata.dtype: expected int32, got float32");
}

TEST(ValidationSchedule, NumSplitsShape) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_splits.shape[0] = 2;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_splits.shape[0]: expected 3 (b + 1, b = 2), got 2");
}

TEST(ValidationSchedule, NumSplitsNull) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_splits.data = nullptr;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_splits.data: expected a non-null pointer (tensor of 3 elements), got null");
}

TEST(ValidationSchedule, DeviceMismatch) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_splits.device = DeviceType::kCUDA;
  s.num_splits.data = fake_ptr(2);
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_splits.device: expected cpu (same as cache_seqlens), got cuda:0");
}

TEST(ValidationSchedule, OutputsOverlap) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.num_splits.data = c.metadata.data() + 8;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "num_splits: expected memory disjoint from tile_scheduler_metadata, got overlapping byte ranges");
}

TEST(ValidationSchedule, OutputOverlapsSeqlens) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  s.cache_seqlens.data = c.metadata.data() + 4;
  EXPECT_SCHEDULE_REJECTED(kInvalidArgument, "tile_scheduler_metadata: expected memory disjoint from cache_seqlens");
}

TEST(ValidationSchedule, CudaNotBuiltIsNotSupported) {
  if (flashmla::built_with_cuda()) GTEST_SKIP() << "this build has the CUDA kernels";
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  TensorView* views[] = {&s.cache_seqlens, &s.tile_scheduler_metadata, &s.num_splits};
  int slot = 0;
  for (TensorView* v : views) {
    v->data = fake_ptr(slot++);
    v->device = DeviceType::kCUDA;
  }
  EXPECT_SCHEDULE_REJECTED(kNotSupported, "cache_seqlens.device: expected cpu (flashmla was built without CUDA kernels",
                           "got cuda:0");
}

TEST(ValidationSchedule, CudaMetadataMisaligned) {
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  TensorView* views[] = {&s.cache_seqlens, &s.tile_scheduler_metadata, &s.num_splits};
  int slot = 0;
  for (TensorView* v : views) {
    v->data = fake_ptr(slot++);
    v->device = DeviceType::kCUDA;
  }
  s.tile_scheduler_metadata.data = static_cast<char*>(s.tile_scheduler_metadata.data) + 4;
  // Only validation runs: it fails before anything could be launched on the fake pointers.
  int32_t batch = 0;
  const Status st = flashmla::detail::validate_schedule(s, &batch);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  expect_message(st, {"tile_scheduler_metadata.data: expected a 16-byte aligned address", "got 0x"});
}

}  // namespace
