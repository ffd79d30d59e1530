// The torch custom-op library of the flash_mla Python package (_flash_mla_ops.so).
//
// A plain shared library: loading it (torch.ops.load_library) registers the ops below with the
// dispatcher, for the CPU and CUDA dispatch keys. Every op converts at::Tensor to flashmla::TensorView,
// allocates its outputs and workspace through torch's (caching) allocator, runs on the current CUDA
// stream of the input's device, and turns a failed flashmla::Status into a Python exception:
//   kInvalidArgument -> ValueError (TypeError when the message is about an argument's ".dtype"),
//   kNotSupported    -> NotImplementedError,
//   anything else    -> RuntimeError.
// The fake (meta) implementations that torch.compile traces live in python/flash_mla/_ops.py.
//
//   flash_mla::get_mla_metadata(Tensor cache_seqlens, int num_q_rows_per_head_k, int num_heads_k,
//                               int s_q) -> (Tensor tile_scheduler_metadata, Tensor num_splits)
//   flash_mla::decode(Tensor q, Tensor k_cache, Tensor block_table, Tensor cache_seqlens,
//                     int head_dim_v, Tensor? tile_scheduler_metadata, Tensor? num_splits,
//                     float softmax_scale, bool causal) -> (Tensor out, Tensor lse)
//
// Plus one C function for Python's ctypes, flash_mla_py_num_sm_parts(), so that the fake of
// get_mla_metadata gets the number of SM partitions from the same formula without going through the
// dispatcher.

#include <ATen/EmptyTensor.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

#include "flashmla/flashmla.h"

#ifdef FLASHMLA_PY_WITH_CUDA
#include <ATen/cuda/EmptyTensor.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

using flashmla::DeviceType;
using flashmla::DType;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

// ---- errors ----------------------------------------------------------------------------------------

// True when the argument a message is about (its first word, after an optional "op:" prefix) ends with
// ".dtype", e.g. "q.dtype: expected bfloat16 or float16, got float32".
bool is_dtype_message(const std::string& msg) {
  size_t pos = 0;
  for (int word = 0; word < 3 && pos < msg.size(); ++word) {
    while (pos < msg.size() && msg[pos] == ' ') ++pos;
    size_t end = pos;
    while (end < msg.size() && msg[end] != ' ') ++end;
    std::string w = msg.substr(pos, end - pos);
    while (!w.empty() && (w.back() == ':' || w.back() == ',')) w.pop_back();
    if (w.size() >= 6 && w.compare(w.size() - 6, 6, ".dtype") == 0) return true;
    // A leading "flashmla:"-style prefix ends with ':'; anything else is the argument itself.
    if (end == pos || msg[end - 1] != ':') return false;
    pos = end;
  }
  return false;
}

[[noreturn]] void throw_status(const Status& s, const char* op) {
  const std::string& m = s.message();
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      if (is_dtype_message(m)) TORCH_CHECK_TYPE(false, op, ": ", m);
      TORCH_CHECK_VALUE(false, op, ": ", m);
    case StatusCode::kNotSupported:
      TORCH_CHECK_NOT_IMPLEMENTED(false, op, ": ", m);
    default:
      TORCH_CHECK(false, op, ": ", flashmla::status_code_name(s.code()), ": ", m);
  }
}

inline void check(const Status& s, const char* op) {
  if (!s.ok()) throw_status(s, op);
}

int32_t to_int32(int64_t v, const char* op, const char* name) {
  TORCH_CHECK_VALUE(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
                    op, ": ", name, ": expected a value that fits in int32, got ", v);
  return static_cast<int32_t>(v);
}

// torch's name of a dtype ("float64"), for messages.
std::string dtype_name(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return std::string(c10::toString(t.scalar_type()));
  }
}

// ---- at::Tensor -> flashmla::TensorView ----------------------------------------------------------

// `expected` names the accepted dtypes for the message; the library checks which of them it takes.
TensorView view_of(const at::Tensor& t, const char* op, const char* name, const char* expected) {
  TensorView v;
  switch (t.scalar_type()) {
    case at::kBFloat16: v.dtype = DType::kBF16; break;
    case at::kHalf: v.dtype = DType::kFP16; break;
    case at::kFloat: v.dtype = DType::kFP32; break;
    case at::kInt: v.dtype = DType::kInt32; break;
    default: TORCH_CHECK_TYPE(false, op, ": ", name, ".dtype: expected ", expected, ", got ", dtype_name(t));
  }
  const int64_t rank = t.dim();
  TORCH_CHECK_VALUE(rank <= flashmla::kMaxRank, op, ": ", name, ": expected at most ", flashmla::kMaxRank,
                    " dimensions, got rank ", rank, " ", t.sizes());
  v.rank = static_cast<int32_t>(rank);
  const auto sizes = t.sizes();
  const auto strides = t.strides();
  for (int64_t i = 0; i < rank; ++i) {
    v.shape[i] = sizes[i];
    v.stride[i] = strides[i];
  }
  v.data = const_cast<void*>(t.const_data_ptr());
  if (t.is_cuda()) {
    v.device = DeviceType::kCUDA;
    v.device_index = t.get_device();
  } else {
    v.device = DeviceType::kCPU;
    v.device_index = 0;
  }
  return v;
}

TensorView output_view(at::Tensor& t, DType dtype) {
  TensorView v;
  v.dtype = dtype;
  v.rank = static_cast<int32_t>(t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) {
    v.shape[i] = t.size(i);
    v.stride[i] = t.stride(i);
  }
  v.data = t.mutable_data_ptr();
  v.device = t.is_cuda() ? DeviceType::kCUDA : DeviceType::kCPU;
  v.device_index = t.is_cuda() ? t.get_device() : 0;
  return v;
}

inline void check_same_device(const at::Tensor& t, const at::Device& dev, const char* op, const char* name,
                              const char* ref) {
  TORCH_CHECK_VALUE(t.device() == dev, op, ": ", name, ".device: expected ", dev, " (same as ", ref, "), got ",
                    t.device());
}

// FLASH_MLA_DEBUG=1 turns on DecodeArgs::debug_checks (read once per process).
bool debug_mode() {
  static const bool on = [] {
    const char* e = std::getenv("FLASH_MLA_DEBUG");
    return e != nullptr && e[0] != '\0' && std::strcmp(e, "0") != 0;
  }();
  return on;
}

// A new contiguous tensor from the caching allocator of `dev`, without a trip through the dispatcher
// (at::empty would redispatch to these same functions; this is the per-call hot path).
at::Tensor new_empty(at::IntArrayRef sizes, at::ScalarType dtype, [[maybe_unused]] const at::Device& dev) {
#ifdef FLASHMLA_PY_WITH_CUDA
  if (dev.is_cuda()) return at::Tensor(at::detail::empty_cuda(sizes, dtype, dev, std::nullopt));
#endif
  return at::Tensor(at::detail::empty_cpu(sizes, dtype));
}

// Device memory for decode()'s split partials. They live only until the combine kernel has read them,
// and the caching allocator hands a freed block out again only in stream order, so a raw block is
// enough: the same allocator at::empty uses (graph-capture pools included), without building a
// TensorImpl and storage around it on every call. Uses the current device (set by DeviceContext).
at::DataPtr new_workspace(size_t bytes) {
#ifdef FLASHMLA_PY_WITH_CUDA
  return c10::cuda::CUDACachingAllocator::get()->allocate(bytes);
#else
  (void)bytes;
  return at::DataPtr();  // unreachable: DeviceContext refuses CUDA tensors in this build
#endif
}

// ---- device context: the device guard and the current stream ----------------------------------------

#ifdef FLASHMLA_PY_WITH_CUDA
struct DeviceContext {
  explicit DeviceContext(const at::Device& dev)
      : guard(dev.is_cuda() ? std::optional<c10::Device>(dev) : std::nullopt),
        stream(dev.is_cuda() ? c10::cuda::getCurrentCUDAStream(dev.index()).stream() : nullptr) {}
  c10::cuda::OptionalCUDAGuard guard;
  flashmla::Stream stream;
};
#else
struct DeviceContext {
  explicit DeviceContext(const at::Device& dev) {
    TORCH_CHECK_NOT_IMPLEMENTED(!dev.is_cuda(), "flash_mla: this build has no CUDA support "
                                "(built with FLASHMLA_ENABLE_CUDA=OFF or without nvcc); got tensors on ", dev);
  }
  flashmla::Stream stream = nullptr;
};
#endif

// ---- ops ---------------------------------------------------------------------------------------------

constexpr const char* kMetaOp = "flash_mla.get_mla_metadata";
constexpr const char* kDecodeOp = "flash_mla.decode";

std::tuple<at::Tensor, at::Tensor> get_mla_metadata(const at::Tensor& cache_seqlens, int64_t num_q_rows_per_head_k,
                                                    int64_t num_heads_k, int64_t s_q) {
  const char* op = kMetaOp;
  TensorView seqlens = view_of(cache_seqlens, op, "cache_seqlens", "int32");
  TORCH_CHECK_VALUE(cache_seqlens.dim() == 1, op, ": cache_seqlens: expected rank 1 [b], got rank ",
                    cache_seqlens.dim(), " ", cache_seqlens.sizes());
  const int32_t rows = to_int32(num_q_rows_per_head_k, op, "num_q_rows_per_head_k");
  const int32_t h_kv = to_int32(num_heads_k, op, "num_heads_k");
  const int32_t sq = to_int32(s_q, op, "s_q");
  const at::Device dev = cache_seqlens.device();
  DeviceContext ctx(dev);

  int32_t parts = 0;
  check(flashmla::query_num_sm_parts(seqlens.device, seqlens.device_index, rows, h_kv, sq, &parts), op);
  at::Tensor metadata = new_empty({parts, flashmla::kScheduleRecordInts}, at::kInt, dev);
  at::Tensor num_splits = new_empty({cache_seqlens.size(0) + 1}, at::kInt, dev);

  flashmla::ScheduleArgs args;
  args.cache_seqlens = seqlens;
  args.num_q_rows_per_head_k = rows;
  args.num_heads_k = h_kv;
  args.s_q = sq;
  args.num_sm_parts = parts;
  args.tile_scheduler_metadata = output_view(metadata, DType::kInt32);
  args.num_splits = output_view(num_splits, DType::kInt32);
  args.stream = ctx.stream;
  check(flashmla::compute_schedule(args), op);
  return {std::move(metadata), std::move(num_splits)};
}

std::tuple<at::Tensor, at::Tensor> decode(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& block_table,
                                          const at::Tensor& cache_seqlens, int64_t head_dim_v,
                                          const std::optional<at::Tensor>& tile_scheduler_metadata,
                                          const std::optional<at::Tensor>& num_splits, double softmax_scale,
                                          bool causal) {
  const char* op = kDecodeOp;
  flashmla::DecodeArgs args;
  args.q = view_of(q, op, "q", "bfloat16 or float16");
  args.k_cache = view_of(k_cache, op, "k_cache", "bfloat16 or float16 (the dtype of q)");
  args.block_table = view_of(block_table, op, "block_table", "int32");
  args.cache_seqlens = view_of(cache_seqlens, op, "cache_seqlens", "int32");
  TORCH_CHECK_VALUE(q.dim() == 4, op, ": q: expected rank 4 [b, s_q, h_q, ", flashmla::kHeadDimQK, "], got rank ",
                    q.dim(), " ", q.sizes());
  // Sizes the outputs: checked before they are allocated (the library checks the exact value).
  TORCH_CHECK_VALUE(head_dim_v > 0 && head_dim_v <= q.size(3), op, ": head_dim_v: expected ", flashmla::kHeadDimV,
                    ", got ", head_dim_v);

  // Every tensor on q's device: the library launches on that device's current stream.
  const at::Device dev = q.device();
  check_same_device(k_cache, dev, op, "k_cache", "q");
  check_same_device(block_table, dev, op, "block_table", "q");
  check_same_device(cache_seqlens, dev, op, "cache_seqlens", "q");
  const bool have_meta = tile_scheduler_metadata.has_value() && tile_scheduler_metadata->defined();
  const bool have_splits = num_splits.has_value() && num_splits->defined();
  if (have_meta) {
    check_same_device(*tile_scheduler_metadata, dev, op, "tile_scheduler_metadata", "q");
    args.tile_scheduler_metadata = view_of(*tile_scheduler_metadata, op, "tile_scheduler_metadata", "int32");
  }
  if (have_splits) {
    check_same_device(*num_splits, dev, op, "num_splits", "q");
    args.num_splits = view_of(*num_splits, op, "num_splits", "int32");
  }

  DeviceContext ctx(dev);
  at::DataPtr workspace;  // CUDA only; freed (stream-ordered) when this function returns
  if (q.is_cuda()) {
    TORCH_CHECK_VALUE(have_meta, op, ": tile_scheduler_metadata: expected a tensor (required for CUDA tensors: "
                      "flash_mla.get_mla_metadata, once per decoding step), got None");
    TORCH_CHECK_VALUE(have_splits, op, ": num_splits: expected a tensor (required for CUDA tensors: "
                      "flash_mla.get_mla_metadata, once per decoding step), got None");
    // Sizes the workspace: checked before it is allocated.
    const at::Tensor& m = *tile_scheduler_metadata;
    TORCH_CHECK_VALUE(m.dim() == 2 && m.size(1) == flashmla::kScheduleRecordInts, op,
                      ": tile_scheduler_metadata: expected rank 2 [num_sm_parts, ", flashmla::kScheduleRecordInts,
                      "], got rank ", m.dim(), " ", m.sizes());
    const size_t bytes = flashmla::decode_workspace_size(
        to_int32(q.size(0), op, "q.shape[0]"), to_int32(q.size(1), op, "q.shape[1]"),
        to_int32(q.size(2), op, "q.shape[2]"), static_cast<int32_t>(head_dim_v),
        to_int32(m.size(0), op, "tile_scheduler_metadata.shape[0]"));
    TORCH_CHECK_VALUE(bytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()), op,
                      ": workspace_bytes: expected a size that fits in int64, got an overflowing size for q ",
                      q.sizes(), " and ", m.size(0), " SM partitions");
    workspace = new_workspace(bytes);
    args.workspace = workspace.get();
    args.workspace_bytes = bytes;
  }

  at::Tensor out = new_empty({q.size(0), q.size(1), q.size(2), head_dim_v}, q.scalar_type(), dev);
  at::Tensor lse = new_empty({q.size(0), q.size(2), q.size(1)}, at::kFloat, dev);
  args.out = output_view(out, args.q.dtype);
  args.lse = output_view(lse, DType::kFP32);
  args.head_dim_v = static_cast<int32_t>(head_dim_v);
  args.softmax_scale = softmax_scale > 0.0 ? static_cast<float>(softmax_scale) : 0.0f;
  args.causal = causal;
  args.stream = ctx.stream;
  args.debug_checks = debug_mode();
  check(flashmla::decode(args), op);
  return {std::move(out), std::move(lse)};
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

TORCH_LIBRARY(flash_mla, m) {
  m.def("get_mla_metadata(Tensor cache_seqlens, int num_q_rows_per_head_k, int num_heads_k, int s_q) "
        "-> (Tensor, Tensor)");
  m.def("decode(Tensor q, Tensor k_cache, Tensor block_table, Tensor cache_seqlens, int head_dim_v, "
        "Tensor? tile_scheduler_metadata, Tensor? num_splits, float softmax_scale, bool causal) "
        "-> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(flash_mla, CPU, m) {
  m.impl("get_mla_metadata", &get_mla_metadata);
  m.impl("decode", &decode);
}

// Registered in every build: without CUDA support the ops raise NotImplementedError for CUDA tensors
// instead of the dispatcher's "could not run ... with arguments from the 'CUDA' backend".
TORCH_LIBRARY_IMPL(flash_mla, CUDA, m) {
  m.impl("get_mla_metadata", &get_mla_metadata);
  m.impl("decode", &decode);
}
