// Bad input (docs/spec.md §5), table-driven. Every row of a table starts from the good CPU case (HostCase),
// mutates one thing and names the outcome: StatusCode, ErrorKind and message fragments (the argument,
// the expected value, the actual value). One parameterized test runs each table, so every row is its own
// gtest (--gtest_filter='Validation/DecodeRows.*Overlap*'), and checks for every row:
//   * can_implement() and decode() agree (code, kind, message) and match the row;
//   * for validation failures, detail::validate_decode() returns the same status;
//   * nothing was written on failure (out / lse sentinels; metadata / num_splits for schedule rows),
//     everything was written on success, and no input changed (inputs are compared with copies).
// CUDA-typed views use fake device addresses. decode() / compute_schedule() are only called on them when
// can_implement() / validate_schedule() failed or the build has no CUDA kernels, so nothing is ever
// launched on a fake pointer.
//
// Where a row's outcome depends on the build (Reach): kEveryBuild rows fail in validation, identically
// everywhere. kNeedsCudaBuild rows pass validation and are rejected by the sm90 variant before it looks
// at the device: in a build without CUDA kernels they get the registry's "no sm90 variant" instead.
// kNeedsGpu rows are only reachable after the device check (a real sm_90 GPU): without CUDA kernels
// they get the registry error, in a CUDA build without a usable GPU they are skipped.
//
// Old checks (one TEST per message, before the validation refactor) whose meaning changed:
//   * softmax_scale: negative, -inf and NaN used to select the default and denorm_min was kept; now only
//     0 (and -0, equal to 0 in C++) selects the default, anything else must be a normal float in
//     (0, 1e4] (Scale_* rows). The message of an infinite scale changed accordingly. 1e-50 rounds to 0.0f
//     as a float, so in C++ it selects the default (Scale_1e_50_FloatZeroSelectsDefault; the issue item
//     "Scale_1e-50Rejected" is the Python layer's job, which sees a double).
//   * page size: 32 on the CPU was kNotSupported; any page size is valid on the CPU now (PageSize*OnCpu).
//     Page size != 64 is the sm90 variant's kNotSupported (Cuda_PageSize32NotSupported). Page size 0 is
//     now "expected 1..2^31 - 1", and k_cache's layout reads [num_blocks, page_size, h_kv, 576].
//   * zero strides of out / lse: now rejected by the self-overlap check ("expected a stride > 0 ...").
//   * BlockTableTooShort: the message now names the page size ("pages of 64 tokens needed by ...").
//   * CUDA without CUDA kernels: the error comes from the registry (no sm90 variant ...
//     FLASHMLA_ENABLE_CUDA=OFF) after validation, not from q.device; validate_decode() of a valid
//     CUDA call now succeeds in every build (CudaValidViewsPassValidationInEveryBuild).
//   * workspace (null, too small, misaligned, overlapping): checked after variant selection, so only
//     reachable on a GPU (kNeedsGpu rows); the size formula is tested through checked_workspace_bytes.
//     "too small" now names "(decode_workspace_size)" instead of its arguments.
//   * compute_schedule() on CUDA tensors without CUDA kernels: the registry error, not cache_seqlens.device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "api/decode_validation.h"
#include "flashmla/flashmla.h"

namespace {

using flashmla::DecodeArgs;
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::ErrorKind;
using flashmla::make_view;
using flashmla::ScheduleArgs;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

constexpr uint16_t kOutSentinel = 0x7FAB;      // a bf16/fp16 NaN payload no backend produces
constexpr uint32_t kLseSentinel = 0x7FBADBADu;  // a float NaN payload
constexpr int32_t kIntSentinel = -123456789;
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

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
  std::vector<float> scratch = std::vector<float>(64, 0.0f);  // memory two views may share (aliasing rows)

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
    a.q = make_view(q.data(), DType::kBF16, {b, s_q, h_q, d});
    a.k_cache = make_view(k.data(), DType::kBF16, {num_blocks, page, h_kv, d});
    a.block_table = make_view(block_table.data(), DType::kInt32, {b, max_blocks});
    a.cache_seqlens = make_view(seqlens.data(), DType::kInt32, {b});
    a.out = make_view(out.data(), DType::kBF16, {b, s_q, h_q, dv});
    a.lse = make_view(lse.data(), DType::kFP32, {b, h_q, s_q});
    return a;
  }

  ScheduleArgs schedule_args() {
    ScheduleArgs s;
    s.cache_seqlens = make_view(seqlens.data(), DType::kInt32, {b});
    s.num_q_rows_per_head_k = static_cast<int32_t>(s_q * h_q / h_kv);
    s.num_heads_k = static_cast<int32_t>(h_kv);
    s.s_q = static_cast<int32_t>(s_q);
    s.num_sm_parts = static_cast<int32_t>(num_sm_parts);
    s.tile_scheduler_metadata = make_view(metadata.data(), DType::kInt32, {num_sm_parts, 8});
    s.num_splits = make_view(num_splits.data(), DType::kInt32, {b + 1});
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
  bool outputs_all_written() const {
    for (uint16_t v : out)
      if (v == kOutSentinel) return false;
    for (float v : lse) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      if (bits == kLseSentinel) return false;
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

// Copies of every input buffer, to prove that no call changed one.
struct Inputs {
  std::vector<uint16_t> q, k;
  std::vector<int32_t> block_table, seqlens;
  std::vector<float> scratch;
  explicit Inputs(const HostCase& c) : q(c.q), k(c.k), block_table(c.block_table), seqlens(c.seqlens), scratch(c.scratch) {}
  void expect_unchanged(const HostCase& c) const {
    EXPECT_TRUE(q == c.q) << "q changed";
    EXPECT_TRUE(k == c.k) << "k_cache changed";
    EXPECT_EQ(block_table, c.block_table) << "block_table changed";
    EXPECT_EQ(seqlens, c.seqlens) << "cache_seqlens changed";
    EXPECT_TRUE(scratch == c.scratch) << "scratch memory changed";
  }
};

// ---- CUDA-typed views at fake addresses (never dereferenced) ----------------------------------------

void* fake_ptr(int slot, uintptr_t offset = 0) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(0x100000000000ull) +
                                 static_cast<uintptr_t>(slot) * 0x40000000ull + offset);
}
void* shift(void* p, intptr_t bytes) { return static_cast<char*>(p) + bytes; }

DecodeArgs cuda_args(HostCase& c, int32_t device_index = 0) {
  DecodeArgs a = c.args();
  TensorView* views[] = {&a.q, &a.k_cache, &a.block_table, &a.cache_seqlens, &a.out, &a.lse};
  int slot = 0;
  for (TensorView* v : views) {
    v->data = fake_ptr(slot++);
    v->device = DeviceType::kCUDA;
    v->device_index = device_index;
  }
  a.tile_scheduler_metadata =
      make_view(fake_ptr(slot++), DType::kInt32, {HostCase::num_sm_parts, 8}, DeviceType::kCUDA, device_index);
  a.num_splits = make_view(fake_ptr(slot++), DType::kInt32, {HostCase::b + 1}, DeviceType::kCUDA, device_index);
  a.workspace = fake_ptr(slot++);
  a.workspace_bytes =
      flashmla::decode_workspace_size(HostCase::b, HostCase::s_q, HostCase::h_q, 512, HostCase::num_sm_parts);
  return a;
}

void make_schedule_cuda(ScheduleArgs& s, int32_t device_index = 0) {
  TensorView* views[] = {&s.cache_seqlens, &s.tile_scheduler_metadata, &s.num_splits};
  int slot = 0;
  for (TensorView* v : views) {
    v->data = fake_ptr(slot++);
    v->device = DeviceType::kCUDA;
    v->device_index = device_index;
  }
}

// ---- rows -----------------------------------------------------------------------------------------------

enum class Reach { kEveryBuild, kNeedsCudaBuild, kNeedsGpu };

struct Expect {
  StatusCode code;
  ErrorKind kind;
  std::vector<std::string> fragments;
};

// The outcome this build can reach for a row (nullopt-like `skip` when it cannot be reached here).
struct Reached {
  Expect expect;
  std::string skip;  // non-empty: GTEST_SKIP with this reason
};

Reached reached(const Expect& row, Reach reach, const char* op) {
  if (reach == Reach::kEveryBuild) return {row, ""};
  if (!flashmla::built_with_cuda())
    return {{StatusCode::kNotSupported, ErrorKind::kType,
             {std::string(op) + ": no sm90 variant for q.dtype", "FLASHMLA_ENABLE_CUDA=OFF", "this build has: cpu/"}},
            ""};
  if (reach == Reach::kNeedsGpu) {
    const Status dev = flashmla::device_supported(0);
    if (!dev.ok()) return {row, "reachable only on an sm_90 GPU: " + dev.message()};
  }
  return {row, ""};
}

void expect_status(const Status& st, const Expect& e, const char* what) {
  EXPECT_EQ(st.code(), e.code) << what << ": " << flashmla::status_code_name(st.code()) << ": " << st.message();
  EXPECT_EQ(static_cast<int>(st.kind()), static_cast<int>(e.kind)) << what << ": " << st.message();
  for (const std::string& f : e.fragments)
    EXPECT_NE(st.message().find(f), std::string::npos) << what << ": message \"" << st.message() << "\" lacks \"" << f << "\"";
}

void expect_same(const Status& a, const Status& b, const char* what) {
  EXPECT_EQ(a.code(), b.code()) << what << ": " << a.message() << " vs " << b.message();
  EXPECT_EQ(static_cast<int>(a.kind()), static_cast<int>(b.kind())) << what;
  EXPECT_EQ(a.message(), b.message()) << what;
}

constexpr StatusCode kOk = StatusCode::kOk;
constexpr StatusCode kInvalid = StatusCode::kInvalidArgument;
constexpr StatusCode kUnsupported = StatusCode::kNotSupported;
constexpr ErrorKind kNone = ErrorKind::kNone;
constexpr ErrorKind kType = ErrorKind::kType;
constexpr ErrorKind kDevice = ErrorKind::kDevice;
constexpr ErrorKind kShape = ErrorKind::kShape;
constexpr ErrorKind kStride = ErrorKind::kStride;
constexpr ErrorKind kPointer = ErrorKind::kPointer;
constexpr ErrorKind kAlias = ErrorKind::kAlias;
constexpr ErrorKind kValue = ErrorKind::kValue;
constexpr ErrorKind kWorkspace = ErrorKind::kWorkspace;
constexpr Reach kEveryBuild = Reach::kEveryBuild;
constexpr Reach kNeedsCudaBuild = Reach::kNeedsCudaBuild;
constexpr Reach kNeedsGpu = Reach::kNeedsGpu;

// ======================================= decode() / can_implement() ==================================

struct DecodeRow {
  const char* name;
  void (*mutate)(HostCase& c, DecodeArgs& a);
  StatusCode code;
  ErrorKind kind;
  std::vector<std::string> fragments;
  Reach reach = kEveryBuild;
};
void PrintTo(const DecodeRow& r, std::ostream* os) { *os << r.name; }

#define MUT(...) [](HostCase & c, DecodeArgs & a) { (void)c; (void)a; __VA_ARGS__; }

const std::string kScaleExpected = "softmax_scale: expected 0 (the default 0.0416667) or a normal float in (0, 10000], got ";

const std::vector<DecodeRow> kDecodeRows = {
    // ---- good cases ----
    {"Ok_GoodCase", MUT(), kOk, kNone, {}},
    {"Ok_Causal", MUT(a.causal = true), kOk, kNone, {}},
    {"Ok_LseAnyStrideAccepted",  // lse [b, h_q, s_q] over storage laid out as [b, s_q, h_q]
     MUT(a.lse.stride[0] = HostCase::s_q * HostCase::h_q; a.lse.stride[1] = 1; a.lse.stride[2] = HostCase::h_q),
     kOk, kNone, {}},
    {"Ok_UnusedBlockTableEntriesIgnored",
     MUT(c.block_table = {1, 0, std::numeric_limits<int32_t>::min(), 2, -1, 1 << 30};
         a.block_table.data = c.block_table.data()),
     kOk, kNone, {}},
    {"Ok_EmptyBlockTableWithZeroSeqlens",
     MUT(c.seqlens = {0, 0}; a.block_table = make_view(nullptr, DType::kInt32, {HostCase::b, 0})), kOk, kNone, {}},
    {"Ok_ScheduleTensorsOptionalOnCpuButAccepted",
     MUT(a.tile_scheduler_metadata = c.schedule_args().tile_scheduler_metadata;
         a.num_splits = c.schedule_args().num_splits),
     kOk, kNone, {}},
    {"PageSize53IsValidOnCpu", MUT(a.k_cache = make_view(c.k.data(), DType::kBF16, {4, 53, 2, 576})), kOk, kNone, {}},
    {"PageSize32IsValidOnCpu",  // 70 tokens = 3 pages of 32
     MUT(a.k_cache = make_view(c.k.data(), DType::kBF16, {8, 32, 2, 576}); c.block_table[2] = 5), kOk, kNone, {}},
    {"PageSize1IsValidOnCpu",
     MUT(c.seqlens = {3, 2}; c.block_table = {2, 0, 1, 3, 1, 0}; a.block_table.data = c.block_table.data();
         a.k_cache = make_view(c.k.data(), DType::kBF16, {4, 1, 2, 576})),
     kOk, kNone, {}},

    // ---- q ----
    {"Q_Undefined", MUT(a.q = TensorView{}), kInvalid, kShape,
     {"q: expected rank 4 [b, s_q, h_q, 576]", "got rank 0 [] (undefined tensor)"}},
    {"Q_Rank3", MUT(a.q = make_view(c.q.data(), DType::kBF16, {2, 1, 576})), kInvalid, kShape,
     {"q: expected rank 4 [b, s_q, h_q, 576], got rank 3 [2, 1, 576]"}},
    {"RankTooLarge", MUT(a.q.rank = 6), kInvalid, kShape, {"q: expected rank 4", "got rank 6"}},
    {"RankNegative", MUT(a.q.rank = -1), kInvalid, kShape, {"q: expected rank 4", "got rank -1"}},
    {"Q_Rank7", MUT(a.q.rank = 7), kInvalid, kShape, {"q: expected rank 4", "got rank 7"}},
    {"Q_DtypeFp32", MUT(a.q.dtype = DType::kFP32), kInvalid, kType,
     {"q.dtype: expected bfloat16, float16 or float8_e4m3fn, got float32"}},
    {"Q_UnknownDtype42", MUT(a.q.dtype = static_cast<DType>(42)), kInvalid, kType,
     {"q.dtype: expected bfloat16, float16 or float8_e4m3fn, got unknown dtype (42)"}},
    {"UnknownDType", MUT(a.q.dtype = static_cast<DType>(99)), kInvalid, kType,
     {"q.dtype: expected bfloat16, float16 or float8_e4m3fn, got unknown dtype (99)"}},
    {"Q_HeadDim512", MUT(a.q.shape[3] = 512), kUnsupported, kShape, {"q.shape[3] (head dim): expected 576, got 512"}},
    {"Q_BatchZero", MUT(a.q.shape[0] = 0), kInvalid, kShape, {"q.shape[0] (b): expected 1..1048576, got 0"}},
    {"Q_BatchTooLarge", MUT(a.q.shape[0] = (int64_t{1} << 20) + 1), kInvalid, kShape,
     {"q.shape[0] (b): expected 1..1048576, got 1048577"}},
    {"Q_SeqLenZero", MUT(a.q.shape[1] = 0), kInvalid, kShape, {"q.shape[1] (s_q): expected >= 1, got 0"}},
    {"Q_HeadsZero", MUT(a.q.shape[2] = 0), kInvalid, kShape, {"q.shape[2] (h_q): expected >= 1, got 0"}},
    {"Q_NegativeSize", MUT(a.q.shape[1] = -3), kInvalid, kShape, {"q.shape[1]: expected >= 0, got -3"}},
    {"Q_TooManyRows", MUT(a.q.shape[1] = 1 << 16; a.q.shape[2] = 1 << 16), kInvalid, kShape,
     {"q: expected at most 2147483647 query rows (b * s_q * h_q), got shape [2, 65536, 65536, 576]"}},
    {"Q_ElementCountOverflow", MUT(a.q.shape[1] = int64_t{1} << 40; a.q.shape[2] = int64_t{1} << 40), kInvalid, kShape,
     {"q: expected at most 2^63 - 1 elements, got shape [2, 1099511627776, 1099511627776, 576]"}},
    {"Q_StrideOffsetOverflow", MUT(a.q.stride[0] = std::numeric_limits<int64_t>::max() / 2), kInvalid, kStride,
     {"q.stride: expected strides whose byte offsets fit in 64 bits", "got ("}},
    {"Q_LastDimNotContiguous", MUT(a.q.stride[3] = 2), kInvalid, kStride,
     {"q.stride[3]: expected 1 (last dimension contiguous), got 2"}},
    {"Q_NegativeStride", MUT(a.q.stride[2] = -576), kInvalid, kStride, {"q.stride[2]: expected >= 0, got -576"}},
    {"Q_NullData", MUT(a.q.data = nullptr), kInvalid, kPointer,
     {"q.data: expected a non-null pointer (tensor of 9216 elements), got null"}},
    {"Q_MisalignedForDtype", MUT(a.q.data = shift(c.q.data(), 1)), kInvalid, kPointer,
     {"q.data: expected an address aligned to 2 bytes (bfloat16), got 0x"}},

    // ---- head_dim_v ----
    {"HeadDimV_256", MUT(a.head_dim_v = 256), kUnsupported, kValue, {"head_dim_v: expected 512, got 256"}},
    {"HeadDimV_0", MUT(a.head_dim_v = 0), kInvalid, kValue, {"head_dim_v: expected 512, got 0"}},
    {"HeadDimV_600", MUT(a.head_dim_v = 600), kInvalid, kValue, {"head_dim_v: expected 512, got 600"}},

    // ---- k_cache ----
    {"K_Rank3", MUT(a.k_cache = make_view(c.k.data(), DType::kBF16, {4 * 64, 2, 576})), kInvalid, kShape,
     {"k_cache: expected rank 4 [num_blocks, page_size, h_kv, 576], got rank 3 [256, 2, 576]"}},
    {"K_Dtype", MUT(a.k_cache.dtype = DType::kFP16), kInvalid, kType,
     {"k_cache.dtype: expected bfloat16 (same as q), got float16"}},
    {"K_UnknownDtype99", MUT(a.k_cache.dtype = static_cast<DType>(99)), kInvalid, kType,
     {"k_cache.dtype: expected bfloat16 (same as q), got unknown dtype (99)"}},
    {"K_PageSizeZero", MUT(a.k_cache.shape[1] = 0), kInvalid, kShape,
     {"k_cache.shape[1] (page size): expected 1..2^31 - 1, got 0"}},
    {"K_PageSizeAboveInt32Max", MUT(a.k_cache.shape[1] = int64_t{1} << 31), kInvalid, kShape,
     {"k_cache.shape[1] (page size): expected 1..2^31 - 1, got 2147483648"}},
    {"K_HeadDim512", MUT(a.k_cache.shape[3] = 512), kInvalid, kShape,
     {"k_cache.shape[3] (head dim): expected 576 (same as q), got 512"}},
    {"K_NoKvHeads", MUT(a.k_cache.shape[2] = 0), kInvalid, kShape, {"k_cache.shape[2] (h_kv): expected 1..8, got 0"}},
    {"K_TooManyKvHeads", MUT(a.q.shape[2] = 16; a.k_cache.shape[0] = 1; a.k_cache.shape[2] = 16), kUnsupported, kShape,
     {"k_cache.shape[2] (h_kv): expected 1..8, got 16"}},
    {"K_NoBlocks", MUT(a.k_cache.shape[0] = 0), kInvalid, kShape,
     {"k_cache.shape[0] (num_blocks): expected >= 1, got 0"}},
    {"K_HeadsNotMultipleOfKvHeads", MUT(a.q.shape[2] = 6; a.k_cache.shape[0] = 2; a.k_cache.shape[2] = 4), kInvalid,
     kShape, {"h_q % h_kv: expected 0, got h_q=6, h_kv=4"}},
    {"K_LastDimNotContiguous", MUT(a.k_cache.shape[0] = 2; a.k_cache.stride[3] = 2), kInvalid, kStride,
     {"k_cache.stride[3]: expected 1 (last dimension contiguous), got 2"}},
    {"K_NullData", MUT(a.k_cache.data = nullptr), kInvalid, kPointer,
     {"k_cache.data: expected a non-null pointer", "got null"}},
    {"K_DeviceMismatch", MUT(a.k_cache.device = DeviceType::kCUDA; a.k_cache.data = fake_ptr(1)), kInvalid, kDevice,
     {"k_cache.device: expected cpu (same as q), got cuda:0"}},

    // ---- block_table ----
    {"BT_Undefined", MUT(a.block_table = TensorView{}), kInvalid, kShape,
     {"block_table: expected rank 2 [b, max_blocks_per_seq], got rank 0 []"}},
    {"BT_Rank1", MUT(a.block_table = make_view(c.block_table.data(), DType::kInt32, {6})), kInvalid, kShape,
     {"block_table: expected rank 2 [b, max_blocks_per_seq], got rank 1 [6]"}},
    {"BT_Dtype", MUT(a.block_table.dtype = DType::kFP32), kInvalid, kType,
     {"block_table.dtype: expected int32, got float32"}},
    {"BT_Batch", MUT(a.block_table = make_view(c.block_table.data(), DType::kInt32, {3, 2})), kInvalid, kShape,
     {"block_table.shape[0]: expected 2 (batch of q), got 3"}},
    {"BT_TooWide", MUT(a.block_table.shape[1] = int64_t{1} << 31), kInvalid, kShape,
     {"block_table.shape[1] (max_blocks_per_seq): expected at most 2^31 - 1, got 2147483648"}},
    {"BT_LastDimNotContiguous",
     MUT(a.block_table.shape[1] = 2; a.block_table.stride[0] = 3; a.block_table.stride[1] = 2), kInvalid, kStride,
     {"block_table.stride[1]: expected 1 (last dimension contiguous), got 2"}},
    {"BT_NullData", MUT(a.block_table.data = nullptr), kInvalid, kPointer,
     {"block_table.data: expected a non-null pointer (tensor of 6 elements), got null"}},
    {"BT_UnknownDeviceType5", MUT(a.block_table.device = static_cast<DeviceType>(5)), kInvalid, kDevice,
     {"block_table.device: expected cpu (same as q), got unknown device type (5)"}},

    // ---- cache_seqlens ----
    {"SL_Rank2", MUT(a.cache_seqlens = make_view(c.seqlens.data(), DType::kInt32, {2, 1})), kInvalid, kShape,
     {"cache_seqlens: expected rank 1 [b], got rank 2 [2, 1]"}},
    {"SL_Dtype", MUT(a.cache_seqlens.dtype = DType::kBF16), kInvalid, kType,
     {"cache_seqlens.dtype: expected int32, got bfloat16"}},
    {"SL_Batch", MUT(a.cache_seqlens.shape[0] = 1), kInvalid, kShape,
     {"cache_seqlens.shape[0]: expected 2 (batch of q), got 1"}},
    {"SL_NotContiguous",
     MUT(c.seqlens = {70, 0, 5, 0}; a.cache_seqlens.data = c.seqlens.data(); a.cache_seqlens.stride[0] = 2), kInvalid,
     kStride, {"cache_seqlens.stride[0]: expected 1 (contiguous), got 2"}},
    {"SL_NullData", MUT(a.cache_seqlens.data = nullptr), kInvalid, kPointer,
     {"cache_seqlens.data: expected a non-null pointer (tensor of 2 elements), got null"}},
    {"SL_Misaligned",  // batch 1 everywhere, so that only the pointer is wrong
     MUT(a.cache_seqlens.data = shift(c.seqlens.data(), 2); a.cache_seqlens.shape[0] = 1; a.q.shape[0] = 1;
         a.block_table.shape[0] = 1; a.out.shape[0] = 1; a.lse.shape[0] = 1),
     kInvalid, kPointer, {"cache_seqlens.data: expected an address aligned to 4 bytes (int32), got 0x"}},

    // ---- out ----
    {"Out_Undefined", MUT(a.out = TensorView{}), kInvalid, kShape,
     {"out: expected rank 4 [b, s_q, h_q, head_dim_v], got rank 0 [] (undefined tensor)"}},
    {"Out_RankTooLarge", MUT(a.out.rank = 6), kInvalid, kShape, {"out: expected rank 4", "got rank 6"}},
    {"Out_Dtype", MUT(a.out.dtype = DType::kFP16), kInvalid, kType,
     {"out.dtype: expected bfloat16 (same as q), got float16"}},
    {"Out_UnknownDtype99", MUT(a.out.dtype = static_cast<DType>(99)), kInvalid, kType,
     {"out.dtype: expected bfloat16 (same as q), got unknown dtype (99)"}},
    {"Out_Shape", MUT(a.out = make_view(c.out.data(), DType::kBF16, {2, 2, 3, 512})), kInvalid, kShape,
     {"out.shape: expected [2, 2, 4, 512] ([b, s_q, h_q, head_dim_v]), got [2, 2, 3, 512]"}},
    {"Out_HeadDimV", MUT(a.out = make_view(c.out.data(), DType::kBF16, {2, 2, 2, 576})), kInvalid, kShape,
     {"out.shape: expected [2, 2, 4, 512]", "got [2, 2, 2, 576]"}},
    {"Out_LastDimNotContiguous",
     MUT(a.out.stride[3] = 2; a.out.shape[0] = 1; a.q.shape[0] = 1; a.block_table.shape[0] = 1;
         a.cache_seqlens.shape[0] = 1; a.lse.shape[0] = 1),
     kInvalid, kStride, {"out.stride[3]: expected 1 (last dimension contiguous), got 2"}},
    {"Out_ZeroStride", MUT(a.out.stride[2] = 0), kInvalid, kStride,
     {"out.stride[2]: expected a stride > 0 (an output must not overlap itself", "got 0 with strides (4096, 2048, 0, 1)"}},
    {"Out_NegativeStride", MUT(a.out.stride[0] = -2048; a.out.data = c.out.data() + 2 * 2 * 4 * 512 / 2), kInvalid,
     kStride, {"out.stride[0]: expected >= 0, got -2048"}},
    {"Overlap_OutStride2Is1", MUT(a.out.stride[2] = 1), kInvalid, kStride,
     {"out.stride[2]: expected a stride > 511", "got 1 with strides (4096, 2048, 1, 1) for shape [2, 2, 4, 512]"}},
    {"Overlap_OutStride2Is256", MUT(a.out.stride[2] = 256), kInvalid, kStride,
     {"out.stride[2]: expected a stride > 511", "got 256"}},
    {"Overlap_OutStride0EqualsStride1", MUT(a.out.stride[0] = a.out.stride[1]), kInvalid, kStride,
     {"out.stride[0]: expected a stride > 4095", "got 2048 with strides (2048, 2048, 512, 1)"}},
    {"Out_NullData", MUT(a.out.data = nullptr), kInvalid, kPointer,
     {"out.data: expected a non-null pointer (tensor of 8192 elements), got null"}},
    {"Out_MisalignedForDtype", MUT(a.out.data = shift(c.out.data(), 1)), kInvalid, kPointer,
     {"out.data: expected an address aligned to 2 bytes (bfloat16), got 0x"}},
    {"Out_DeviceMismatch", MUT(a.out.device = DeviceType::kCUDA; a.out.device_index = 3; a.out.data = fake_ptr(4)),
     kInvalid, kDevice, {"out.device: expected cpu (same as q), got cuda:3"}},
    {"Out_UnknownDevice", MUT(a.out.device = static_cast<DeviceType>(99)), kInvalid, kDevice,
     {"out.device: expected cpu (same as q), got unknown device type (99)"}},

    // ---- lse ----
    {"Lse_Dtype", MUT(a.lse.dtype = DType::kBF16), kInvalid, kType, {"lse.dtype: expected float32, got bfloat16"}},
    {"Lse_Rank2", MUT(a.lse = make_view(c.lse.data(), DType::kFP32, {2, 8})), kInvalid, kShape,
     {"lse: expected rank 3 [b, h_q, s_q], got rank 2 [2, 8]"}},
    {"Lse_ShapeTransposed", MUT(a.lse = make_view(c.lse.data(), DType::kFP32, {2, 2, 4})), kInvalid, kShape,
     {"lse.shape: expected [2, 4, 2] ([b, h_q, s_q]), got [2, 2, 4]"}},
    {"Lse_ZeroStride", MUT(a.lse.stride[1] = 0), kInvalid, kStride,
     {"lse.stride[1]: expected a stride > 0 (an output must not overlap itself", "got 0"}},
    {"Overlap_LseStrides111", MUT(a.lse.stride[0] = 1; a.lse.stride[1] = 1; a.lse.stride[2] = 1), kInvalid, kStride,
     {"lse.stride[1]: expected a stride > 1", "got 1 with strides (1, 1, 1) for shape [2, 4, 2]"}},
    {"Lse_NullData", MUT(a.lse.data = nullptr), kInvalid, kPointer,
     {"lse.data: expected a non-null pointer (tensor of 16 elements), got null"}},
    {"Lse_Misaligned", MUT(a.lse.data = shift(c.lse.data(), 2)), kInvalid, kPointer,
     {"lse.data: expected an address aligned to 4 bytes (float32), got 0x"}},

    // ---- devices ----
    {"UnknownDevice", MUT(a.q.device = static_cast<DeviceType>(99)), kInvalid, kDevice,
     {"q.device: expected cpu or cuda, got unknown device type (99)"}},
    {"Dev_QUnknownDeviceType7", MUT(a.q.device = static_cast<DeviceType>(7)), kInvalid, kDevice,
     {"q.device: expected cpu or cuda, got unknown device type (7)"}},

    // ---- schedule tensors given on the CPU: optional, but checked ----
    {"Md_Dtype",
     MUT(a.tile_scheduler_metadata = c.schedule_args().tile_scheduler_metadata;
         a.tile_scheduler_metadata.dtype = DType::kFP32),
     kInvalid, kType, {"tile_scheduler_metadata.dtype: expected int32, got float32"}},
    {"Md_RecordSize", MUT(a.tile_scheduler_metadata = make_view(c.metadata.data(), DType::kInt32, {4, 6})), kInvalid,
     kShape, {"tile_scheduler_metadata.shape[1] (record size): expected 8, got 6"}},
    {"Md_NoPartitions", MUT(a.tile_scheduler_metadata = make_view(c.metadata.data(), DType::kInt32, {0, 8})), kInvalid,
     kShape, {"tile_scheduler_metadata.shape[0] (num_sm_parts): expected 1..1048576, got 0"}},
    {"Md_DeviceMismatch",
     MUT(a.tile_scheduler_metadata =
             make_view(fake_ptr(6), DType::kInt32, {HostCase::num_sm_parts, 8}, DeviceType::kCUDA)),
     kInvalid, kDevice, {"tile_scheduler_metadata.device: expected cpu (same as q), got cuda:0"}},
    {"NS_Shape", MUT(a.num_splits = make_view(c.num_splits.data(), DType::kInt32, {2})), kInvalid, kShape,
     {"num_splits.shape[0]: expected 3 (b + 1, b = 2), got 2"}},

    // ---- aliasing ----
    {"Alias_OutAliasesQ", MUT(a.out.data = c.q.data()), kInvalid, kAlias,  // out (8192 elements) fits inside q
     {"out: expected memory disjoint from q, got overlapping byte ranges [0x"}},
    {"Alias_OutAliasesKCache", MUT(a.out.data = c.k.data() + 1000), kInvalid, kAlias,
     {"out: expected memory disjoint from k_cache, got overlapping byte ranges"}},
    {"Alias_OutAliasesBlockTable",
     MUT(a.block_table.data = c.out.data() + 8), kInvalid, kAlias,  // validation fails before reading the table
     {"out: expected memory disjoint from block_table"}},
    {"Alias_LseAliasesOut", MUT(a.lse.data = c.out.data() + 64), kInvalid, kAlias,
     {"lse: expected memory disjoint from out, got overlapping byte ranges"}},
    {"Alias_LseAliasesSeqlens",  // seqlens {0, 0} in scratch[0..1], lse from scratch[1] on
     MUT(a.cache_seqlens.data = c.scratch.data(); a.lse.data = c.scratch.data() + 1), kInvalid, kAlias,
     {"lse: expected memory disjoint from cache_seqlens, got overlapping byte ranges"}},

    // ---- softmax_scale: 0 (or -0) selects the default, else a normal float in (0, 1e4] ----
    {"Scale_MinusZeroSelectsDefault", MUT(a.softmax_scale = -0.0f), kOk, kNone, {}},
    {"Scale_1e_50_FloatZeroSelectsDefault", MUT(a.softmax_scale = static_cast<float>(1e-50)), kOk, kNone, {}},
    {"Scale_FltMinAccepted", MUT(a.softmax_scale = std::numeric_limits<float>::min()), kOk, kNone, {}},
    {"Scale_1e4Accepted", MUT(a.softmax_scale = 1e4f), kOk, kNone, {}},
    {"Scale_Inf", MUT(a.softmax_scale = std::numeric_limits<float>::infinity()), kInvalid, kValue,
     {kScaleExpected + "inf"}},
    {"Scale_NegInf", MUT(a.softmax_scale = -std::numeric_limits<float>::infinity()), kInvalid, kValue,
     {kScaleExpected + "-inf"}},
    {"Scale_NaN", MUT(a.softmax_scale = std::numeric_limits<float>::quiet_NaN()), kInvalid, kValue,
     {kScaleExpected, "nan"}},
    {"Scale_Negative", MUT(a.softmax_scale = -1.0f), kInvalid, kValue, {kScaleExpected + "-1"}},
    {"Scale_Subnormal", MUT(a.softmax_scale = std::numeric_limits<float>::denorm_min()), kInvalid, kValue,
     {kScaleExpected + "1.4013e-45"}},
    {"Scale_1e37Rejected", MUT(a.softmax_scale = 1e37f), kInvalid, kValue, {kScaleExpected + "1e+37"}},
    {"Scale_2e4Rejected", MUT(a.softmax_scale = 2e4f), kInvalid, kValue, {kScaleExpected + "20000"}},
    {"Scale_JustAbove1e4Rejected",
     MUT(a.softmax_scale = std::nextafter(1e4f, std::numeric_limits<float>::infinity())), kInvalid, kValue,
     {kScaleExpected}},

    // ---- values (CPU tensors: read on the host) ----
    {"Val_NegativeSeqlen", MUT(c.seqlens[1] = -5), kInvalid, kValue, {"cache_seqlens[1]: expected >= 0, got -5"}},
    {"Val_SeqlenInt32Min", MUT(c.seqlens[0] = std::numeric_limits<int32_t>::min()), kInvalid, kValue,
     {"cache_seqlens[0]: expected >= 0, got -2147483648"}},
    {"Val_BlockTableTooShort", MUT(c.seqlens[1] = 3 * 64 + 1), kInvalid, kValue,  // 4 pages, 3 columns
     {"block_table.shape[1]: expected >= 4 (pages of 64 tokens needed by cache_seqlens[1] = 193), got 3"}},
    {"Val_PageIdOutOfRange", MUT(c.block_table[1] = 4), kInvalid, kValue,  // request 0, page 1; num_blocks = 4
     {"block_table[0][1]: expected a page id in [0, 4) (k_cache.shape[0]", "got 4"}},
    {"Val_PageIdNegative", MUT(c.block_table[3] = -1), kInvalid, kValue,  // request 1, page 0
     {"block_table[1][0]: expected a page id in [0, 4)", "cache_seqlens[1] = 5", "got -1"}},
    {"Val_PageIdCheckHonoursBlockTableStride",  // a [2, 2] view of the 3-column storage: {2, 0}, {3, 99}
     MUT(a.block_table.shape[1] = 2; c.seqlens[1] = 65), kInvalid, kValue,
     {"block_table[1][1]: expected a page id in [0, 4)", "got 99"}},
    {"Overflow_Seqlen2147483585EmptyTable",
     MUT(c.seqlens[0] = 2147483585; a.block_table = make_view(nullptr, DType::kInt32, {HostCase::b, 0})), kInvalid,
     kValue, {"block_table.shape[1]: expected >= 33554432 (pages of 64 tokens needed by cache_seqlens[0] = 2147483585), got 0"}},
    {"Overflow_SeqlenInt32Max",
     MUT(c.seqlens[0] = kInt32Max; a.block_table = make_view(nullptr, DType::kInt32, {HostCase::b, 0})), kInvalid,
     kValue, {"block_table.shape[1]: expected >= 33554432 (pages of 64 tokens needed by cache_seqlens[0] = 2147483647), got 0"}},
    {"Overflow_SeqlenInt32MaxFullTable", MUT(c.seqlens[1] = kInt32Max), kInvalid, kValue,
     {"block_table.shape[1]: expected >= 33554432", "cache_seqlens[1] = 2147483647), got 3"}},
    {"Overflow_SeqlenInt32MaxPageSize1",
     MUT(c.seqlens[0] = kInt32Max; a.k_cache = make_view(c.k.data(), DType::kBF16, {4, 1, 2, 576})), kInvalid, kValue,
     {"block_table.shape[1]: expected >= 2147483647 (pages of 1 tokens needed by cache_seqlens[0] = 2147483647), got 3"}},
    {"Overflow_PageSizeInt32MaxSeqlenInt32Max",  // one page per request; page 0 of request 0 is out of range
     // (token stride 0 keeps the huge view inside the buffer, so that only the page id is wrong)
     MUT(c.seqlens[0] = kInt32Max; a.k_cache.shape[1] = kInt32Max; a.k_cache.stride[1] = 0; c.block_table[0] = 4),
     kInvalid, kValue,
     {"block_table[0][0]: expected a page id in [0, 4)", "got 4"}},

    // ---- CUDA-typed views, failing in validation (every build) ----
    {"Cuda_DeviceIndexMismatch", MUT(a = cuda_args(c); a.lse.device_index = 1), kInvalid, kDevice,
     {"lse.device: expected cuda:0 (same as q), got cuda:1"}},
    {"Cuda_NegativeDeviceIndex", MUT(a = cuda_args(c, -1)), kInvalid, kDevice, {"q.device_index: expected >= 0, got -1"}},
    {"Cuda_CpuTensorMixed", MUT(a = cuda_args(c); a.cache_seqlens = c.args().cache_seqlens), kInvalid, kDevice,
     {"cache_seqlens.device: expected cuda:0 (same as q), got cpu"}},
    {"Cuda_MissingMetadata", MUT(a = cuda_args(c); a.tile_scheduler_metadata = TensorView{}), kInvalid, kShape,
     {"tile_scheduler_metadata: expected rank 2 [num_sm_parts, 8] (required for CUDA tensors",
      "got rank 0 [] (undefined tensor)"}},
    {"Cuda_MissingNumSplits", MUT(a = cuda_args(c); a.num_splits = TensorView{}), kInvalid, kShape,
     {"num_splits: expected rank 1 [b + 1] (required for CUDA tensors", "got rank 0 []"}},
    {"Cuda_MetadataNotContiguous", MUT(a = cuda_args(c); a.tile_scheduler_metadata.stride[0] = 16), kInvalid, kStride,
     {"tile_scheduler_metadata.stride[0]: expected 8 (contiguous), got 16"}},
    {"Cuda_MetadataMisaligned",
     MUT(a = cuda_args(c); a.tile_scheduler_metadata.data = shift(a.tile_scheduler_metadata.data, 4)), kInvalid,
     kPointer, {"tile_scheduler_metadata.data: expected a 16-byte aligned address", "got 0x"}},
    {"Cuda_QBaseMisaligned", MUT(a = cuda_args(c); a.q.data = shift(a.q.data, 8)), kInvalid, kPointer,
     {"q.data: expected a 16-byte aligned address (TMA), got 0x"}},
    {"Cuda_KCacheBaseMisaligned", MUT(a = cuda_args(c); a.k_cache.data = shift(a.k_cache.data, 2)), kInvalid, kPointer,
     {"k_cache.data: expected a 16-byte aligned address (TMA), got 0x"}},
    {"Cuda_OutBaseMisaligned", MUT(a = cuda_args(c); a.out.data = shift(a.out.data, 2)), kInvalid, kPointer,
     {"out.data: expected a 16-byte aligned address (16-byte vector stores), got 0x"}},
    {"Cuda_QHeadStrideNotTmaAligned",  // padded rows of 1160 bytes
     MUT(a = cuda_args(c); a.q.stride[2] = 580; a.q.stride[1] = 4 * 580; a.q.stride[0] = 2 * 4 * 580), kInvalid,
     kStride,
     {"q.stride[2]: expected a positive multiple of 16 bytes below 2^40 (TMA needs 16-byte aligned strides), i.e. a "
      "multiple of 8 elements, got 580 elements = 1160 bytes"}},
    {"Cuda_QBatchStrideNotTmaAligned", MUT(a = cuda_args(c); a.q.stride[0] = 2 * 4 * 576 + 4), kInvalid, kStride,
     {"q.stride[0]: expected a positive multiple of 16 bytes below 2^40 (TMA", "got 4612 elements = 9224 bytes"}},
    {"Cuda_KCacheStrideNotTmaAligned", MUT(a = cuda_args(c); a.k_cache.stride[0] = 64 * 2 * 576 + 4), kInvalid, kStride,
     {"k_cache.stride[0]: expected a positive multiple of 16 bytes below 2^40 (TMA", "got 73732 elements = 147464 bytes"}},
    {"Cuda_KCacheStrideTooLargeForTma", MUT(a = cuda_args(c); a.k_cache.stride[0] = int64_t{1} << 40), kInvalid, kStride,
     {"k_cache.stride[0]: expected a positive multiple of 16 bytes below 2^40", "got 1099511627776 elements"}},
    {"Cuda_QBroadcastStride", MUT(a = cuda_args(c); a.q.stride[0] = 0), kInvalid, kStride,
     {"q.stride[0]: expected a positive multiple of 16 bytes", "got 0 elements = 0 bytes"}},
    {"Cuda_OutStrideNotAligned",
     MUT(a = cuda_args(c); a.out.stride[2] = 516; a.out.stride[1] = 4 * 520; a.out.stride[0] = 2 * 4 * 520), kInvalid,
     kStride,
     {"out.stride[2]: expected a positive multiple of 16 bytes below 2^40 (16-byte vector stores)",
      "got 516 elements = 1032 bytes"}},
    {"Cuda_OutStride2Is1", MUT(a = cuda_args(c); a.out.stride[2] = 1), kInvalid, kStride,  // TMA check comes first
     {"out.stride[2]: expected a positive multiple of 16 bytes", "got 1 elements = 2 bytes"}},
    {"Cuda_OutAliasesQ", MUT(a = cuda_args(c); a.out.data = a.q.data), kInvalid, kAlias,
     {"out: expected memory disjoint from q"}},

    // ---- CUDA-typed views, rejected by the sm90 variant before the device check ----
    {"Cuda_PageSize32NotSupported", MUT(a = cuda_args(c); a.k_cache.shape[0] = 8; a.k_cache.shape[1] = 32),
     kUnsupported, kShape, {"k_cache.shape[1] (page size): expected 64", "got 32"}, kNeedsCudaBuild},
    {"Cuda_PageSize53NotSupported", MUT(a = cuda_args(c); a.k_cache.shape[1] = 53), kUnsupported, kShape,
     {"k_cache.shape[1] (page size): expected 64", "got 53"}, kNeedsCudaBuild},

    // ---- CUDA-typed views, reachable only on an sm_90 GPU (after the device check) ----
    {"Cuda_ValidCall", MUT(a = cuda_args(c)), kOk, kNone, {}, kNeedsGpu},
    {"Cuda_NumSmPartsAbove65535",
     MUT(a = cuda_args(c); a.tile_scheduler_metadata.shape[0] = 65536;
         a.workspace_bytes = flashmla::decode_workspace_size(2, 2, 4, 512, 65536)),
     kUnsupported, kShape, {"tile_scheduler_metadata.shape[0] (num_sm_parts): expected <= 65535, got 65536"}, kNeedsGpu},
    {"Cuda_SqTimesHqAbove65535",
     MUT(a = cuda_args(c); a.out = make_view(a.out.data, DType::kBF16, {2, 16384, 4, 512}, DeviceType::kCUDA);
         a.lse = make_view(a.lse.data, DType::kFP32, {2, 4, 16384}, DeviceType::kCUDA);
         a.q = make_view(a.q.data, DType::kBF16, {2, 16384, 4, 576}, DeviceType::kCUDA)),
     kUnsupported, kShape, {"s_q * h_q: expected <= 65535, got 65536"}, kNeedsGpu},
    {"Cuda_WorkspaceNull", MUT(a = cuda_args(c); a.workspace = nullptr), kInvalid, kWorkspace,
     {"workspace: expected a non-null pointer to", "got null"}, kNeedsGpu},
    {"Cuda_WorkspaceTooSmall", MUT(a = cuda_args(c); a.workspace_bytes -= 1), kInvalid, kWorkspace,
     {"workspace_bytes: expected >= ", " (decode_workspace_size), got "}, kNeedsGpu},
    {"Cuda_WorkspaceMisaligned", MUT(a = cuda_args(c); a.workspace = shift(a.workspace, 4)), kInvalid, kWorkspace,
     {"workspace: expected a 16-byte aligned address, got 0x"}, kNeedsGpu},
    {"Cuda_WorkspaceOverlapsOut", MUT(a = cuda_args(c); a.workspace = shift(a.out.data, 4096)), kInvalid, kAlias,
     {"workspace: expected memory disjoint from out, got overlapping byte ranges"}, kNeedsGpu},
};

#undef MUT

class DecodeRows : public ::testing::TestWithParam<DecodeRow> {};

TEST_P(DecodeRows, Outcome) {
  const DecodeRow& row = GetParam();
  const Reached r = reached({row.code, row.kind, row.fragments}, row.reach, "decode");
  if (!r.skip.empty()) GTEST_SKIP() << r.skip;
  HostCase c;
  DecodeArgs a = c.args();
  row.mutate(c, a);
  const Inputs before(c);
  const bool cuda = a.q.is_cuda();

  const Status ci = flashmla::can_implement(a);
  expect_status(ci, r.expect, "can_implement");
  // decode() shares can_implement's preparation: on a fake CUDA pointer it may only run when that fails.
  if (!cuda || !ci.ok()) expect_same(flashmla::decode(a), ci, "decode vs can_implement");
  if (row.reach == kEveryBuild && !ci.ok()) expect_same(flashmla::detail::validate_decode(a, nullptr), ci, "validate_decode");

  if (ci.ok() && !cuda)
    EXPECT_TRUE(c.outputs_all_written()) << "a valid call left an output element unwritten";
  else
    EXPECT_TRUE(c.outputs_untouched()) << "an output was written although the call was rejected";
  before.expect_unchanged(c);
}

INSTANTIATE_TEST_SUITE_P(Validation, DecodeRows, ::testing::ValuesIn(kDecodeRows),
                         [](const ::testing::TestParamInfo<DecodeRow>& i) { return std::string(i.param.name); });

// ======================================= compute_schedule() ==========================================

struct ScheduleRow {
  const char* name;
  void (*mutate)(HostCase& c, ScheduleArgs& s);
  StatusCode code;
  ErrorKind kind;
  std::vector<std::string> fragments;
  Reach reach = kEveryBuild;
};
void PrintTo(const ScheduleRow& r, std::ostream* os) { *os << r.name; }

#define MUT(...) [](HostCase & c, ScheduleArgs & s) { (void)c; (void)s; __VA_ARGS__; }

const std::vector<ScheduleRow> kScheduleRows = {
    {"Sched_GoodCase", MUT(), kOk, kNone, {}},
    {"Sched_NegativeSeqlensAccepted", MUT(c.seqlens[1] = -5), kOk, kNone, {}},  // flagged in record 0, not rejected
    {"Sched_Int32MaxSeqlens", MUT(c.seqlens = {kInt32Max, kInt32Max}; s.cache_seqlens.data = c.seqlens.data()), kOk,
     kNone, {}},
    {"Sched_RowsPerHeadKInt32Max", MUT(s.num_q_rows_per_head_k = kInt32Max), kOk, kNone, {}},
    {"Sched_SeqlensRank", MUT(s.cache_seqlens = make_view(c.seqlens.data(), DType::kInt32, {1, 2})), kInvalid, kShape,
     {"cache_seqlens: expected rank 1 [b], got rank 2 [1, 2]"}},
    {"Sched_SeqlensRankTooLarge", MUT(s.cache_seqlens.rank = 6), kInvalid, kShape,
     {"cache_seqlens: expected rank 1 [b], got rank 6"}},
    {"Sched_SeqlensDtype", MUT(s.cache_seqlens.dtype = DType::kFP32), kInvalid, kType,
     {"cache_seqlens.dtype: expected int32, got float32"}},
    {"Sched_SeqlensUnknownDtype", MUT(s.cache_seqlens.dtype = static_cast<DType>(99)), kInvalid, kType,
     {"cache_seqlens.dtype: expected int32, got unknown dtype (99)"}},
    {"Sched_SeqlensUnknownDevice", MUT(s.cache_seqlens.device = static_cast<DeviceType>(99)), kInvalid, kDevice,
     {"cache_seqlens.device: expected cpu or cuda, got unknown device type (99)"}},
    {"Sched_EmptyBatch", MUT(s.cache_seqlens.shape[0] = 0), kInvalid, kShape,
     {"cache_seqlens.shape[0] (batch): expected 1..1048576, got 0"}},
    {"Sched_BatchTooLarge", MUT(s.cache_seqlens.shape[0] = (int64_t{1} << 20) + 1), kInvalid, kShape,
     {"cache_seqlens.shape[0] (batch): expected 1..1048576, got 1048577"}},
    {"Sched_SeqlensNotContiguous",
     MUT(c.seqlens = {1, 2, 3, 4}; s.cache_seqlens.data = c.seqlens.data(); s.cache_seqlens.stride[0] = 2), kInvalid,
     kStride, {"cache_seqlens.stride[0]: expected 1 (contiguous), got 2"}},
    {"Sched_SeqlensNull", MUT(s.cache_seqlens.data = nullptr), kInvalid, kPointer,
     {"cache_seqlens.data: expected a non-null pointer (tensor of 2 elements), got null"}},
    {"Sched_RowsPerHeadKZero", MUT(s.num_q_rows_per_head_k = 0), kInvalid, kValue,
     {"num_q_rows_per_head_k: expected >= 1 (s_q * h_q / h_kv), got 0"}},
    {"Sched_HeadsKZero", MUT(s.num_heads_k = 0), kInvalid, kValue, {"num_heads_k: expected 1..8, got 0"}},
    {"Sched_HeadsKTooMany", MUT(s.num_heads_k = 9), kUnsupported, kValue, {"num_heads_k: expected 1..8, got 9"}},
    {"Sched_NegativeSeqQ", MUT(s.s_q = -1), kInvalid, kValue, {"s_q: expected >= 0 (0 = unknown), got -1"}},
    {"Sched_NumSmPartsMismatch", MUT(s.num_sm_parts = 132), kInvalid, kValue,
     {"num_sm_parts: expected 3 (tile_scheduler_metadata.shape[0]), got 132"}},
    {"Sched_MetadataUndefined", MUT(s.tile_scheduler_metadata = TensorView{}), kInvalid, kShape,
     {"tile_scheduler_metadata: expected rank 2 [num_sm_parts, 8], got rank 0 []"}},
    {"Sched_MetadataRecordSize", MUT(s.tile_scheduler_metadata = make_view(c.metadata.data(), DType::kInt32, {3, 4})),
     kInvalid, kShape, {"tile_scheduler_metadata.shape[1] (record size): expected 8, got 4"}},
    {"Sched_MetadataNoPartitions",
     MUT(s.tile_scheduler_metadata = make_view(c.metadata.data(), DType::kInt32, {0, 8}); s.num_sm_parts = 0), kInvalid,
     kShape, {"tile_scheduler_metadata.shape[0] (num_sm_parts): expected 1..1048576, got 0"}},
    {"Sched_MetadataNotContiguous",
     MUT(c.metadata.resize(16, kIntSentinel); s.tile_scheduler_metadata.data = c.metadata.data();
         s.tile_scheduler_metadata.shape[0] = 1; s.num_sm_parts = 1; s.tile_scheduler_metadata.stride[1] = 2),
     kInvalid, kStride, {"tile_scheduler_metadata.stride[1]: expected 1 (contiguous), got 2"}},
    {"Sched_MetadataDtype", MUT(s.tile_scheduler_metadata.dtype = DType::kFP32), kInvalid, kType,
     {"tile_scheduler_metadata.dtype: expected int32, got float32"}},
    {"Sched_NumSplitsShape", MUT(s.num_splits.shape[0] = 2), kInvalid, kShape,
     {"num_splits.shape[0]: expected 3 (b + 1, b = 2), got 2"}},
    {"Sched_NumSplitsNull", MUT(s.num_splits.data = nullptr), kInvalid, kPointer,
     {"num_splits.data: expected a non-null pointer (tensor of 3 elements), got null"}},
    {"Sched_DeviceMismatch", MUT(s.num_splits.device = DeviceType::kCUDA; s.num_splits.data = fake_ptr(2)), kInvalid,
     kDevice, {"num_splits.device: expected cpu (same as cache_seqlens), got cuda:0"}},
    {"Sched_OutputsOverlap", MUT(s.num_splits.data = c.metadata.data() + 8), kInvalid, kAlias,
     {"num_splits: expected memory disjoint from tile_scheduler_metadata, got overlapping byte ranges"}},
    {"Sched_OutputOverlapsSeqlens", MUT(s.cache_seqlens.data = c.metadata.data() + 4), kInvalid, kAlias,
     {"tile_scheduler_metadata: expected memory disjoint from cache_seqlens"}},
    {"Sched_CudaMetadataMisaligned",
     MUT(make_schedule_cuda(s); s.tile_scheduler_metadata.data = shift(s.tile_scheduler_metadata.data, 4)), kInvalid,
     kPointer, {"tile_scheduler_metadata.data: expected a 16-byte aligned address", "got 0x"}},
    {"Sched_CudaNegativeDeviceIndex", MUT(make_schedule_cuda(s, -1)), kInvalid, kDevice,
     {"cache_seqlens.device_index: expected >= 0, got -1"}},
    {"Sched_CudaValidCall", MUT(make_schedule_cuda(s)), kOk, kNone, {}, kNeedsGpu},
};

#undef MUT

class ScheduleRows : public ::testing::TestWithParam<ScheduleRow> {};

TEST_P(ScheduleRows, Outcome) {
  const ScheduleRow& row = GetParam();
  const Reached r = reached({row.code, row.kind, row.fragments}, row.reach, "compute_schedule");
  if (!r.skip.empty()) GTEST_SKIP() << r.skip;
  HostCase c;
  ScheduleArgs s = c.schedule_args();
  row.mutate(c, s);
  const Inputs before(c);
  const bool cuda = s.cache_seqlens.is_cuda();

  int32_t batch = kIntSentinel;
  const Status v = flashmla::detail::validate_schedule(s, &batch);
  if (!v.ok()) EXPECT_EQ(batch, kIntSentinel) << "validate_schedule wrote *batch although it failed";
  // compute_schedule() launches on a CUDA build: never on fake pointers that passed validation.
  const bool may_run = !cuda || !v.ok() || !flashmla::built_with_cuda();
  const Status st = may_run ? flashmla::compute_schedule(s) : v;
  expect_status(st, r.expect, "compute_schedule");
  if (row.reach == kEveryBuild) expect_same(v, st, "validate_schedule vs compute_schedule");

  if (st.ok() && !cuda) {
    EXPECT_EQ(batch, HostCase::b);
    EXPECT_EQ(c.num_splits[0], 0);
    for (int32_t x : c.metadata) EXPECT_NE(x, kIntSentinel) << "a metadata field was left unwritten";
    for (int32_t x : c.num_splits) EXPECT_NE(x, kIntSentinel) << "a num_splits entry was left unwritten";
  } else {
    EXPECT_TRUE(c.schedule_untouched()) << "the schedule was written although the call was rejected";
  }
  before.expect_unchanged(c);
}

INSTANTIATE_TEST_SUITE_P(Validation, ScheduleRows, ::testing::ValuesIn(kScheduleRows),
                         [](const ::testing::TestParamInfo<ScheduleRow>& i) { return std::string(i.param.name); });

// ======================================= query_num_sm_parts() ========================================

struct QueryRow {
  const char* name;
  DeviceType device;
  int32_t device_index, rows, heads, s_q;
  bool null_out;
  StatusCode code;
  ErrorKind kind;
  std::vector<std::string> fragments;
  int32_t parts = 0;  // expected result when > 0
  Reach reach = kEveryBuild;
};
void PrintTo(const QueryRow& r, std::ostream* os) { *os << r.name; }

constexpr DeviceType kCpu = DeviceType::kCPU;
constexpr DeviceType kCuda = DeviceType::kCUDA;

const std::vector<QueryRow> kQueryRows = {
    // CPU plans as for a 132-SM H100: 132 / (m_tiles * h_kv), at least 1.
    {"Query_CpuGoodCase", kCpu, 0, 4, 2, 2, false, kOk, kNone, {}, 66},
    {"Query_CpuMla128Heads", kCpu, 0, 128, 1, 1, false, kOk, kNone, {}, 66},
    {"Query_CpuSqUnknown", kCpu, 0, 64, 1, 0, false, kOk, kNone, {}, 132},
    {"Query_NullOutput", kCpu, 0, 4, 2, 2, true, kInvalid, kPointer, {"num_sm_parts: expected a non-null pointer, got null"}},
    {"Query_RowsZero", kCpu, 0, 0, 1, 1, false, kInvalid, kValue,
     {"num_q_rows_per_head_k: expected >= 1 (s_q * h_q / h_kv), got 0"}},
    {"Query_RowsNegative", kCpu, 0, -64, 1, 1, false, kInvalid, kValue, {"num_q_rows_per_head_k", "got -64"}},
    {"Query_HeadsZero", kCpu, 0, 4, 0, 2, false, kInvalid, kValue, {"num_heads_k: expected 1..8, got 0"}},
    {"Query_HeadsNine", kCpu, 0, 4, 9, 2, false, kUnsupported, kValue, {"num_heads_k: expected 1..8, got 9"}},
    {"Query_NegativeSq", kCpu, 0, 4, 2, -1, false, kInvalid, kValue, {"s_q: expected >= 0 (0 = unknown), got -1"}},
    {"Query_UnknownDevice", static_cast<DeviceType>(99), 0, 4, 2, 2, false, kInvalid, kDevice,
     {"device: expected cpu or cuda, got unknown device type (99)"}},
    // Overflow: 64-bit tile counts; INT32_MAX rows need ~2^25 tiles, so one partition.
    {"Overflow_RowsInt32MaxSqUnknown", kCpu, 0, kInt32Max, 1, 0, false, kOk, kNone, {}, 1},
    {"Overflow_RowsInt32MaxSq1", kCpu, 0, kInt32Max, 1, 1, false, kOk, kNone, {}, 1},
    {"Overflow_RowsInt32MaxSqInt32Max", kCpu, 0, kInt32Max, 8, kInt32Max, false, kOk, kNone, {}, 1},
    {"Overflow_SqInt32MaxRows1", kCpu, 0, 1, 1, kInt32Max, false, kOk, kNone, {}, 132},
    // CUDA: without CUDA kernels the device is rejected (not the registry: no variant is selected here).
    {"Query_CudaNegativeIndex", kCuda, -1, 4, 2, 2, false, kInvalid, kDevice, {"device_index: expected >= 0, got -1"}, 0,
     kNeedsCudaBuild},
    {"Query_CudaDevice0", kCuda, 0, 4, 2, 2, false, kOk, kNone, {}, 0, kNeedsGpu},
};

class QueryRows : public ::testing::TestWithParam<QueryRow> {};

TEST_P(QueryRows, Outcome) {
  const QueryRow& row = GetParam();
  Expect e{row.code, row.kind, row.fragments};
  if (row.reach != kEveryBuild && !flashmla::built_with_cuda()) {
    e = {kUnsupported,
         kDevice,
         {"device: expected cpu (flashmla was built without CUDA kernels: FLASHMLA_ENABLE_CUDA=OFF)", "got cuda:"}};
  } else if (row.reach == kNeedsGpu) {
    const Status dev = flashmla::device_supported(row.device_index);
    if (!dev.ok()) GTEST_SKIP() << "reachable only on an sm_90 GPU: " << dev.message();
  }
  int32_t parts = kIntSentinel;
  const Status st = flashmla::query_num_sm_parts(row.device, row.device_index, row.rows, row.heads, row.s_q,
                                                 row.null_out ? nullptr : &parts);
  expect_status(st, e, "query_num_sm_parts");
  if (!st.ok()) {
    EXPECT_EQ(parts, kIntSentinel) << "num_sm_parts written although the query failed";
    return;
  }
  if (!row.null_out) {
    EXPECT_GE(parts, 1);
    if (row.parts > 0) EXPECT_EQ(parts, row.parts);
  }
  // The schedule validation accepts exactly what the query accepts.
  EXPECT_TRUE(flashmla::detail::validate_sm_parts_query(row.rows, row.heads, row.s_q).ok());
}

INSTANTIATE_TEST_SUITE_P(Validation, QueryRows, ::testing::ValuesIn(kQueryRows),
                         [](const ::testing::TestParamInfo<QueryRow>& i) { return std::string(i.param.name); });

// ======================================= single checks ===============================================

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

  DecodeArgs a = c.args();  // schedule tensors are optional on the CPU, and their size is taken when given
  a.tile_scheduler_metadata = c.schedule_args().tile_scheduler_metadata;
  a.num_splits = c.schedule_args().num_splits;
  ASSERT_TRUE(flashmla::detail::validate_decode(a, &shape).ok());
  EXPECT_EQ(shape.num_sm_parts, HostCase::num_sm_parts);
}

TEST(Validation, SoftmaxScaleResolution) {
  const float def = static_cast<float>(1.0 / std::sqrt(576.0));
  const struct {
    float given, resolved;
  } cases[] = {{0.0f, def},
               {-0.0f, def},
               {static_cast<float>(1e-50), def},  // a double that rounds to 0.0f: the C++ API sees 0
               {0.125f, 0.125f},
               {std::numeric_limits<float>::min(), std::numeric_limits<float>::min()},
               {1e4f, 1e4f}};
  for (const auto& k : cases) {
    HostCase c;
    DecodeArgs a = c.args();
    a.softmax_scale = k.given;
    flashmla::DecodeShape shape;
    const Status st = flashmla::detail::validate_decode(a, &shape);
    ASSERT_TRUE(st.ok()) << "softmax_scale " << k.given << ": " << st.message();
    EXPECT_EQ(shape.softmax_scale, k.resolved) << "for softmax_scale " << k.given;
  }
}

TEST(Validation, CudaValidViewsPassValidationInEveryBuild) {
  // Every check of a valid CUDA call runs without touching the (fake) memory: reaching the end proves it.
  HostCase c;
  flashmla::DecodeShape shape;
  const Status st = flashmla::detail::validate_decode(cuda_args(c), &shape);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(shape.num_sm_parts, HostCase::num_sm_parts);
}

TEST(Validation, CheckedWorkspaceBytes) {
  size_t bytes = 0;
  ASSERT_TRUE(flashmla::detail::checked_workspace_bytes(2, 2, 4, 512, 3, &bytes));
  EXPECT_EQ(bytes, flashmla::decode_workspace_size(2, 2, 4, 512, 3));
  EXPECT_GE(bytes, size_t{(2 + 3) * 2 * 4} * 513 * 4);  // fp32 partial outputs and LSEs of every slot
  ASSERT_TRUE(flashmla::detail::checked_workspace_bytes(0, 0, 0, 0, 0, &bytes));
  const int32_t negative[][5] = {{-1, 2, 4, 512, 3}, {2, -1, 4, 512, 3}, {2, 2, -1, 512, 3}, {2, 2, 4, -1, 3},
                                 {2, 2, 4, 512, -1}};
  for (const auto& n : negative) {
    bytes = 7;
    EXPECT_FALSE(flashmla::detail::checked_workspace_bytes(n[0], n[1], n[2], n[3], n[4], &bytes));
    EXPECT_EQ(bytes, 7u) << "written although the size was rejected";
    EXPECT_EQ(flashmla::decode_workspace_size(n[0], n[1], n[2], n[3], n[4]), 0u);
  }
  EXPECT_FALSE(flashmla::detail::checked_workspace_bytes(kInt32Max, kInt32Max, kInt32Max, kInt32Max, kInt32Max, &bytes));
  EXPECT_EQ(flashmla::decode_workspace_size(kInt32Max, kInt32Max, kInt32Max, kInt32Max, kInt32Max),
            std::numeric_limits<size_t>::max());
  // The largest call validation admits (b * s_q * h_q < 2^31, 2^20 partitions) has a representable size.
  EXPECT_TRUE(flashmla::detail::checked_workspace_bytes(1 << 20, 1, 2047, 512, 1 << 20, nullptr));
}

TEST(ValidationSchedule, Int32MaxLengthsGiveNonNegativeFields) {
  for (const int32_t batch : {1, 2, 1024})
    for (const int32_t parts : {1, 3, 132}) {
      std::vector<int32_t> lens(batch, kInt32Max), md(parts * 8, kIntSentinel), ns(batch + 1, kIntSentinel);
      ScheduleArgs s;
      s.cache_seqlens = make_view(lens.data(), DType::kInt32, {batch});
      s.num_q_rows_per_head_k = 128;
      s.num_heads_k = 1;
      s.s_q = 1;
      s.num_sm_parts = parts;
      s.tile_scheduler_metadata = make_view(md.data(), DType::kInt32, {parts, 8});
      s.num_splits = make_view(ns.data(), DType::kInt32, {batch + 1});
      const Status st = flashmla::compute_schedule(s);
      ASSERT_TRUE(st.ok()) << st.message();
      const std::string where = "b = " + std::to_string(batch) + ", num_sm_parts = " + std::to_string(parts);
      for (int32_t p = 0; p < parts; ++p) {
        const int32_t* rec = md.data() + p * 8;
        EXPECT_GT(rec[5], 0) << where << ": payload of partition " << p;
        for (int f : {0, 1, 3, 4, 6, 7}) EXPECT_GE(rec[f], 0) << where << ": field " << f << " of partition " << p;
        EXPECT_GE(rec[2], -1) << where << ": end_req of partition " << p;
        EXPECT_LT(rec[2], batch) << where;
        EXPECT_EQ(rec[7], 0) << where << ": no negative length was given";
      }
      EXPECT_EQ(ns[0], 0);
      for (int32_t i = 0; i < batch; ++i) EXPECT_GE(ns[i + 1], ns[i] + 1) << where << ": every request has a split";
    }
}

}  // namespace
