// Per-tensor check primitives shared by every operation's validation (src/api/<op>.cpp).
//
// Each returns Status::Ok() or a kInvalidArgument / kNotSupported status whose message reads
// "<argument>: expected <what>, got <actual>" and whose ErrorKind names the property. Names and layouts
// are string literals (const char*): these run on every call, and messages are formatted only on failure.
// Nothing here dereferences a tensor's data except check_page_table (host memory only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla::checks {

#define FLASHMLA_RETURN_IF_ERROR(expr) \
  do {                                 \
    ::flashmla::Status _st = (expr);   \
    if (!_st.ok()) return _st;         \
  } while (0)

// Limits that keep every derived index and size far from overflow.
constexpr int64_t kMaxBatch = int64_t{1} << 20;            // requests per call
constexpr int64_t kMaxQueryRows = (int64_t{1} << 31) - 1;  // b * s_q * h_q
constexpr int64_t kMaxSmParts = int64_t{1} << 20;          // tile_scheduler_metadata.shape[0]
constexpr int64_t kTmaMaxStrideBytes = int64_t{1} << 40;   // cuTensorMapEncodeTiled's stride limit
constexpr int64_t kTmaStrideAlignBytes = 16;
constexpr int64_t kBaseAlignBytes = 16;
constexpr float kMaxSoftmaxScale = 1e4f;  // larger scales overflow fp32 scores for ordinary inputs

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

Status invalid(const std::string& arg, const std::string& expected, const std::string& got,
               ErrorKind kind = ErrorKind::kValue);
Status unsupported(const std::string& arg, const std::string& expected, const std::string& got,
                   ErrorKind kind = ErrorKind::kValue);

std::string device_string(DeviceType device, int32_t index);
std::string dims_string(const TensorView& v);
std::string dtype_string(DType t);
std::string ptr_string(const void* p);
// "q.shape[1] (s_q)" or "q.shape[1]".
std::string dim_name(const char* tensor, int dim, const char* what);

// rank == `rank`; the message shows `layout`, e.g. "[b, s_q, h_q, 576]", and an optional note.
Status check_rank(const TensorView& v, const char* name, int32_t rank, const char* layout,
                  const char* note = nullptr);
Status check_dtype(const TensorView& v, const char* name, DType want, const char* note = nullptr);
// The device is cpu or cuda (with index >= 0).
Status check_device_known(const TensorView& v, const char* name);
// v's device equals ref's (type, and index for CUDA); `ref_name` appears in the message.
Status check_same_device(const TensorView& v, const char* name, const TensorView& ref, const char* ref_name = "q");

// Sizes >= 0; the element count and the offset range reachable through the strides fit in int64 bytes.
// On success *lo / *hi receive the smallest / largest element offset (0 / -1 for an empty tensor).
Status check_sizes(const TensorView& v, const char* name, int64_t* lo = nullptr, int64_t* hi = nullptr);
// Non-null for a non-empty tensor, aligned to the element size (and to `base_align` bytes if > 0).
Status check_pointer(const TensorView& v, const char* name, int64_t base_align = 0, const char* why = nullptr);
// Stride of `dim` is 1 unless the dimension holds at most one element.
Status check_unit_stride(const TensorView& v, const char* name, int dim, const char* what);
// Row-major contiguity (dimensions of size <= 1 may have any stride).
Status check_contiguous(const TensorView& v, const char* name);
// Non-last strides >= 0; for `tma`, multiples of 16 bytes below 2^40 (`why` in the message).
Status check_row_strides(const TensorView& v, const char* name, bool tma, const char* why);
// An output writes each element once: the dimensions of size > 1, sorted by stride, must each step
// past the whole extent of the smaller ones (rejects zero strides and interleaved overlaps).
Status check_no_self_overlap(const TensorView& v, const char* name);

// [begin, end) byte range of a tensor, for aliasing checks.
struct ByteRange {
  const char* name = "";
  __int128 begin = 0, end = 0;  // empty when begin == end
};
ByteRange range_of(const TensorView& v, const char* name);  // v must have passed check_sizes
ByteRange range_of_bytes(const void* p, size_t bytes, const char* name);
// a and b share no byte (`a` is the argument the message names).
Status check_disjoint(const ByteRange& a, const ByteRange& b);

// softmax_scale: 0 selects `default_scale`; otherwise a normal float in (0, kMaxSoftmaxScale].
Status resolve_softmax_scale(float scale, float default_scale, const char* name, float* resolved);
float default_softmax_scale(int64_t head_dim);

// A paged cache's lengths and block table, read on the host (CPU tensors, or copies in debug mode):
// lengths >= 0, ceil(L / page_size) <= max_blocks (computed in 64 bits), every used page id in
// [0, num_blocks). `table` is indexed table[i * stride_b + p * stride_p].
Status check_page_table(const int32_t* seqlens, int64_t stride_seqlens, const int32_t* table, int64_t stride_b,
                        int64_t stride_p, int64_t batch, int64_t max_blocks, int64_t num_blocks,
                        int64_t page_size);

// Debug mode (the sparse operations' debug_checks): the elements of an int32 view as host memory — the
// view itself (CPU) or a copy of its byte range into *buf (CUDA, synchronizing `stream`). *base then
// points at element offset 0 of the view.
Status host_ints(const TensorView& v, const char* name, Stream stream, std::vector<int32_t>* buf,
                 const int32_t** base);

}  // namespace flashmla::checks
