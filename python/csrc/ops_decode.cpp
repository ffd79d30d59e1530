// Dense decode ops of the torch op library: flash_mla::get_mla_metadata and flash_mla::decode.
//
//   flash_mla::get_mla_metadata(Tensor cache_seqlens, int num_q_rows_per_head_k, int num_heads_k,
//                               int s_q) -> (Tensor tile_scheduler_metadata, Tensor num_splits)
//   flash_mla::decode(Tensor q, Tensor k_cache, Tensor block_table, Tensor cache_seqlens,
//                     int head_dim_v, Tensor? tile_scheduler_metadata, Tensor? num_splits,
//                     float? softmax_scale, bool causal) -> (Tensor out, Tensor lse)
//   flash_mla::decode_fp8(... same ..., Tensor? descale_q, Tensor? descale_k) -> (Tensor out, Tensor lse)
//     (dense float8_e4m3fn cache, q bf16 or e4m3; out bf16 for an e4m3 q)
//
// Plus C functions for Python's ctypes: flash_mla_py_num_sm_parts() (the fake of get_mla_metadata gets
// the number of SM partitions from the same formula without the dispatcher) and flash_mla_py_built_with_cuda().
// The fake (meta) implementations that torch.compile traces live in python/flash_mla/_ops.py.
//
// Built on PyTorch's stable C ABI; shared helpers in binding.h.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>

#include "binding.h"

namespace {

using namespace flashmla_py;  // NOLINT
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::Status;
using flashmla::TensorView;

constexpr const char* kMetaOp = "flash_mla.get_mla_metadata";
constexpr const char* kDecodeOp = "flash_mla.decode";

std::tuple<Tensor, Tensor> get_mla_metadata(const Tensor& cache_seqlens, int64_t num_q_rows_per_head_k,
                                                    int64_t num_heads_k, int64_t s_q) {
  const char* op = kMetaOp;
  TensorView seqlens = to_view(cache_seqlens, op, "cache_seqlens", "int32");
  FLASHMLA_CHECK_VALUE(dim(cache_seqlens) == 1, op, ": cache_seqlens: expected rank 1 [b], got rank ",
                    dim(cache_seqlens), " ", sizes(cache_seqlens));
  const int32_t rows = to_int32(num_q_rows_per_head_k, op, "num_q_rows_per_head_k");
  const int32_t h_kv = to_int32(num_heads_k, op, "num_heads_k");
  const int32_t sq = to_int32(s_q, op, "s_q");
  const Dev dev = device(cache_seqlens);
  DeviceContext ctx(dev);

  int32_t parts = 0;
  check(flashmla::query_num_sm_parts(seqlens.device, seqlens.device_index, rows, h_kv, sq, &parts), op);
  Tensor metadata = new_empty({parts, flashmla::kScheduleRecordInts}, dt::kInt32, dev);
  Tensor num_splits = new_empty({size(cache_seqlens, 0) + 1}, dt::kInt32, dev);

  flashmla::ScheduleArgs args;
  args.cache_seqlens = seqlens;
  args.num_q_rows_per_head_k = rows;
  args.num_heads_k = h_kv;
  args.s_q = sq;
  args.num_sm_parts = parts;
  args.tile_scheduler_metadata = output_view(metadata);
  args.num_splits = output_view(num_splits);
  args.stream = ctx.stream;
  check(flashmla::compute_schedule(args), op);
  return {std::move(metadata), std::move(num_splits)};
}

// The body of both decode ops; descale_q / descale_k only for decode_fp8 (a dense e4m3 cache, §8).
std::tuple<Tensor, Tensor> decode_impl(const char* op, const Tensor& q, const Tensor& k_cache,
                                               const Tensor& block_table, const Tensor& cache_seqlens,
                                               int64_t head_dim_v,
                                               const OptTensor& tile_scheduler_metadata,
                                               const OptTensor& num_splits,
                                               std::optional<double> softmax_scale, bool causal,
                                               const OptTensor& descale_q,
                                               const OptTensor& descale_k) {
  flashmla::DecodeArgs args;
  args.q = to_view(q, op, "q", "bfloat16, float16 or float8_e4m3fn");
  args.k_cache = to_view(k_cache, op, "k_cache", "bfloat16 or float16 (the dtype of q) or float8_e4m3fn");
  args.block_table = to_view(block_table, op, "block_table", "int32");
  args.cache_seqlens = to_view(cache_seqlens, op, "cache_seqlens", "int32");
  FLASHMLA_CHECK_VALUE(dim(q) == 4, op, ": q: expected rank 4 [b, s_q, h_q, ", flashmla::kHeadDimQK, "], got rank ",
                    dim(q), " ", sizes(q));
  // Sizes the outputs: checked before they are allocated (the library checks the exact values), so that
  // an expanded q of absurd size is an error, not an attempt to allocate terabytes.
  {
    const __int128 rows = static_cast<__int128>(size(q, 0)) * size(q, 1) * size(q, 2);
    FLASHMLA_CHECK_VALUE(rows <= std::numeric_limits<int32_t>::max(), op, ": q: expected at most 2^31 - 1 "
                      "query rows (b * s_q * h_q), got shape ", sizes(q));
  }
  FLASHMLA_CHECK_VALUE(head_dim_v > 0 && head_dim_v <= size(q, 3), op, ": head_dim_v: expected ", flashmla::kHeadDimV,
                    ", got ", head_dim_v);

  // Every tensor on q's device: the library launches on that device's current stream.
  const Dev dev = device(q);
  check_same_device(k_cache, dev, op, "k_cache", "q");
  check_same_device(block_table, dev, op, "block_table", "q");
  check_same_device(cache_seqlens, dev, op, "cache_seqlens", "q");
  if (defined(descale_q)) {
    check_same_device(*descale_q, dev, op, "descale_q", "q");
    args.descale_q = to_view(*descale_q, op, "descale_q", "float32");
  }
  if (defined(descale_k)) {
    check_same_device(*descale_k, dev, op, "descale_k", "q");
    args.descale_k = to_view(*descale_k, op, "descale_k", "float32");
  }
  const bool have_meta = defined(tile_scheduler_metadata);
  const bool have_splits = defined(num_splits);
  if (have_meta) {
    check_same_device(*tile_scheduler_metadata, dev, op, "tile_scheduler_metadata", "q");
    args.tile_scheduler_metadata = to_view(*tile_scheduler_metadata, op, "tile_scheduler_metadata", "int32");
  }
  if (have_splits) {
    check_same_device(*num_splits, dev, op, "num_splits", "q");
    args.num_splits = to_view(*num_splits, op, "num_splits", "int32");
  }

  DeviceContext ctx(dev);
  std::optional<Workspace> workspace;  // CUDA only; freed (stream-ordered) when this function returns
  if (dev.is_cuda()) {
    FLASHMLA_CHECK_VALUE(have_meta, op, ": tile_scheduler_metadata: expected a tensor (required for CUDA tensors: "
                      "flash_mla.get_mla_metadata, once per decoding step), got None");
    FLASHMLA_CHECK_VALUE(have_splits, op, ": num_splits: expected a tensor (required for CUDA tensors: "
                      "flash_mla.get_mla_metadata, once per decoding step), got None");
    // Sizes the workspace: checked before it is allocated.
    const Tensor& m = *tile_scheduler_metadata;
    FLASHMLA_CHECK_VALUE(dim(m) == 2 && size(m, 1) == flashmla::kScheduleRecordInts, op,
                      ": tile_scheduler_metadata: expected rank 2 [num_sm_parts, ", flashmla::kScheduleRecordInts,
                      "], got rank ", dim(m), " ", sizes(m));
    const size_t bytes = flashmla::decode_workspace_size(
        to_int32(size(q, 0), op, "q.shape[0]"), to_int32(size(q, 1), op, "q.shape[1]"),
        to_int32(size(q, 2), op, "q.shape[2]"), static_cast<int32_t>(head_dim_v),
        to_int32(size(m, 0), op, "tile_scheduler_metadata.shape[0]"));
    FLASHMLA_CHECK_VALUE(bytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()), op,
                      ": workspace_bytes: expected a size that fits in int64, got an overflowing size for q ",
                      sizes(q), " and ", size(m, 0), " SM partitions");
    workspace.emplace(bytes);
    args.workspace = workspace->get();
    args.workspace_bytes = bytes;
  }

  const int32_t q_dtype = dtype(q);
  const int32_t out_dtype = q_dtype == dt::kFP8E4M3 ? dt::kBF16 : q_dtype;
  Tensor out = new_empty({size(q, 0), size(q, 1), size(q, 2), head_dim_v}, out_dtype, dev);
  Tensor lse = new_empty({size(q, 0), size(q, 2), size(q, 1)}, dt::kFP32, dev);
  args.out = output_view(out);
  args.lse = output_view(lse);
  args.head_dim_v = static_cast<int32_t>(head_dim_v);
  // None selects the default. A given value must survive the cast to float32 as a normal number: a
  // value that rounds to 0 (1e-50) would otherwise silently select the default; the library checks
  // the rest of the range (NaN, negative, inf, > 1e4).
  args.softmax_scale = 0.0f;  // None: the library's default
  if (softmax_scale.has_value()) {
    const double v = *softmax_scale;
    const bool huge = std::fabs(v) > std::numeric_limits<float>::max();  // inf included
    const float f = std::isnan(v) ? NAN : huge ? static_cast<float>(v > 0 ? INFINITY : -INFINITY) : static_cast<float>(v);
    FLASHMLA_CHECK_VALUE(std::isnan(f) || huge || std::fabs(f) >= std::numeric_limits<float>::min(), op,
                      ": softmax_scale: expected None (the default 1/sqrt(576)) or a normal float32 in (0, 1e4], got ", v,
                      v == 0.0 ? "" : " (rounds to a float32 zero or subnormal)");
    args.softmax_scale = f;  // the library rejects NaN, negative, inf and > 1e4 with its own message
  }
  args.causal = causal;
  args.stream = ctx.stream;
  args.debug_checks = debug_mode();
  check(flashmla::decode(args), op);
  return {std::move(out), std::move(lse)};
}

std::tuple<Tensor, Tensor> decode(const Tensor& q, const Tensor& k_cache, const Tensor& block_table,
                                          const Tensor& cache_seqlens, int64_t head_dim_v,
                                          const OptTensor& tile_scheduler_metadata,
                                          const OptTensor& num_splits, std::optional<double> softmax_scale,
                                          bool causal) {
  return decode_impl(kDecodeOp, q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                     num_splits, softmax_scale, causal, std::nullopt, std::nullopt);
}

std::tuple<Tensor, Tensor> decode_fp8(const Tensor& q, const Tensor& k_cache,
                                              const Tensor& block_table, const Tensor& cache_seqlens,
                                              int64_t head_dim_v,
                                              const OptTensor& tile_scheduler_metadata,
                                              const OptTensor& num_splits,
                                              std::optional<double> softmax_scale, bool causal,
                                              const OptTensor& descale_q,
                                              const OptTensor& descale_k) {
  return decode_impl("flash_mla.decode_fp8", q, k_cache, block_table, cache_seqlens, head_dim_v,
                     tile_scheduler_metadata, num_splits, softmax_scale, causal, descale_q, descale_k);
}

}  // namespace

// For the fake implementation of get_mla_metadata (python/flash_mla/_ops.py, through ctypes): the number
// of SM partitions query_num_sm_parts() gives. device_type: 0 = CPU (and meta), 1 = CUDA. Returns the
// StatusCode; on failure the message is copied into msg (NUL-terminated, truncated to msg_capacity).
extern "C" __attribute__((visibility("default"))) int32_t flash_mla_py_num_sm_parts(
    int32_t device_type, int32_t device_index, int32_t num_q_rows_per_head_k, int32_t num_heads_k, int32_t s_q,
    int32_t* num_sm_parts, char* msg, int32_t msg_capacity) noexcept {
  const Status s = flashmla::query_num_sm_parts(device_type == 1 ? DeviceType::kCUDA : DeviceType::kCPU,
                                                device_index, num_q_rows_per_head_k, num_heads_k, s_q,
                                                num_sm_parts);
  if (!s.ok() && msg != nullptr && msg_capacity > 0) {
    const size_t n = std::min(s.message().size(), static_cast<size_t>(msg_capacity - 1));
    std::memcpy(msg, s.message().data(), n);
    msg[n] = '\0';
  }
  return static_cast<int32_t>(s.code());
}

// Whether this build can run CUDA tensors (flashmla built with its sm_90a kernels and this library with
// torch's CUDA support). For tests and diagnostics, through ctypes.
extern "C" __attribute__((visibility("default"))) int32_t flash_mla_py_built_with_cuda() noexcept {
#ifdef FLASHMLA_PY_WITH_CUDA
  return flashmla::built_with_cuda() ? 1 : 0;
#else
  return 0;
#endif
}

STABLE_TORCH_LIBRARY_FRAGMENT(flash_mla, m) {
  m.def("get_mla_metadata(Tensor cache_seqlens, int num_q_rows_per_head_k, int num_heads_k, int s_q) "
        "-> (Tensor, Tensor)");
  m.def("decode(Tensor q, Tensor k_cache, Tensor block_table, Tensor cache_seqlens, int head_dim_v, "
        "Tensor? tile_scheduler_metadata, Tensor? num_splits, float? softmax_scale, bool causal) "
        "-> (Tensor, Tensor)");
  // Dense FP8 (e4m3) cache with per-tensor descales (§8): a separate op so that the hot bf16 schema and
  // its positional callers stay unchanged.
  m.def("decode_fp8(Tensor q, Tensor k_cache, Tensor block_table, Tensor cache_seqlens, int head_dim_v, "
        "Tensor? tile_scheduler_metadata, Tensor? num_splits, float? softmax_scale, bool causal, "
        "Tensor? descale_q, Tensor? descale_k) -> (Tensor, Tensor)");
}

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CPU, m) {
  m.impl("get_mla_metadata", TORCH_BOX(&get_mla_metadata));
  m.impl("decode", TORCH_BOX(&decode));
  m.impl("decode_fp8", TORCH_BOX(&decode_fp8));
}

// Registered in every build: without CUDA support the ops raise NotImplementedError for CUDA tensors
// instead of the dispatcher's "could not run ... with arguments from the 'CUDA' backend".
STABLE_TORCH_LIBRARY_IMPL(flash_mla, CUDA, m) {
  m.impl("get_mla_metadata", TORCH_BOX(&get_mla_metadata));
  m.impl("decode", TORCH_BOX(&decode));
  m.impl("decode_fp8", TORCH_BOX(&decode_fp8));
}
