// Shared helpers of the torch op library (_flash_mla_ops.so): at::Tensor <-> flashmla::TensorView,
// Status -> Python exception, allocation through torch's caching allocator, device guard + stream.
// Each operation family registers its ops in its own ops_<family>.cpp with TORCH_LIBRARY_FRAGMENT.
//
// Exceptions: a failed flashmla::Status becomes
//   ErrorKind::kType (a dtype)          -> TypeError
//   other kInvalidArgument              -> ValueError
//   kNotSupported                       -> NotImplementedError
//   anything else                       -> RuntimeError,
// decided from Status::kind() and code(), never from the message text.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

#include "flashmla/flashmla.h"

#ifdef FLASHMLA_PY_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#endif

namespace flashmla_py {

[[noreturn]] void throw_status(const flashmla::Status& s, const char* op);
inline void check(const flashmla::Status& s, const char* op) {
  if (!s.ok()) throw_status(s, op);
}

// A python int that must fit in int32 (ValueError naming the argument otherwise).
int32_t to_int32(int64_t v, const char* op, const char* name);

// A view of an input tensor. Unknown dtypes are a TypeError naming `name` and `expected`; tensors on
// devices other than cpu/cuda (meta included) a ValueError.
flashmla::TensorView to_view(const at::Tensor& t, const char* op, const char* name, const char* expected);
// An undefined view for None.
flashmla::TensorView to_view_opt(const std::optional<at::Tensor>& t, const char* op, const char* name,
                                 const char* expected);
// A view of an output this library allocated.
flashmla::TensorView output_view(at::Tensor& t);

// ValueError unless t is on `dev` ("<name>.device: expected <dev> (same as <ref>), got ...").
void check_same_device(const at::Tensor& t, const c10::Device& dev, const char* op, const char* name, const char* ref);

// A contiguous tensor from the caching allocator of `dev`, without a trip through the dispatcher.
at::Tensor new_empty(at::IntArrayRef sizes, at::ScalarType dtype, const c10::Device& dev);
// Raw device memory from the CUDA caching allocator of the current device (stream-ordered reuse).
at::DataPtr new_workspace(size_t bytes);

// FLASH_MLA_DEBUG=1 turns on the entry points' debug checks (read once per process).
bool debug_mode();

// The device guard and current stream of `dev` for the duration of an op (cpu: no guard, null stream).
#ifdef FLASHMLA_PY_WITH_CUDA
struct DeviceContext {
  explicit DeviceContext(const c10::Device& dev);
  c10::cuda::OptionalCUDAGuard guard;
  flashmla::Stream stream;
};
#else
struct DeviceContext {
  explicit DeviceContext(const c10::Device& dev);
  flashmla::Stream stream = nullptr;
};
#endif

}  // namespace flashmla_py
