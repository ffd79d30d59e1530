// Shared helpers of the op library built on PyTorch's stable C ABI (torch/csrc/stable, the aoti_torch_*
// shim): stable::Tensor -> flashmla::TensorView, Status -> Python exception, allocation through torch's
// caching allocators, CUDA device guard + current stream. No ATen/c10 header, no libc10 symbol: one
// build imports under every torch from TORCH_TARGET_VERSION (2.10) on.
//
// Exceptions: the stable ABI has no typed errors (a kernel's std::exception reaches Python as a
// RuntimeError, or, on some torch versions, as pybind11's std-exception mapping). To keep TypeError /
// ValueError / NotImplementedError, a failure throws PyError: a std::runtime_error that also follows
// pybind11's cross-module protocol for exceptions that set their own Python error (a class named
// pybind11::builtin_exception with a virtual set_error()). torch's op call from Python is a pybind11
// function; its translator calls set_error(), which sets the Python exception through CPython's stable
// ABI (PyErr_SetString, PyExc_*; found with dlsym, so the library links no libpython). Anywhere else
// (a C++ caller) it is a plain std::runtime_error with the same message.
//   ErrorKind::kType (a dtype) -> TypeError; other kInvalidArgument -> ValueError;
//   kNotSupported -> NotImplementedError; anything else -> RuntimeError.
#pragma once

#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/tensor.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "flashmla/flashmla.h"

namespace pybind11 {
// The layout pybind11 (2.2 to 3.x) catches by name: std::runtime_error + a virtual set_error().
class builtin_exception : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual void set_error() const = 0;
};
}  // namespace pybind11

namespace flashmla_py {

using Tensor = torch::stable::Tensor;
using OptTensor = std::optional<torch::stable::Tensor>;

enum class PyErrorType { kTypeError, kValueError, kNotImplementedError, kRuntimeError };

class PyError final : public pybind11::builtin_exception {
 public:
  PyError(PyErrorType type, const std::string& msg) : builtin_exception(msg), type_(type) {}
  void set_error() const override;

 private:
  PyErrorType type_;
};

// Message pieces: shapes print as "[2, 3]", devices as "cuda:0" (torch's spelling).
struct Shape {
  const int64_t* d;
  int64_t n;
};
struct Dev {
  int32_t type = 0;  // the shim's device type (torch::headeronly::DeviceType values)
  int32_t index = -1;
  bool operator==(const Dev& o) const { return type == o.type && index == o.index; }
  bool is_cuda() const { return type == static_cast<int32_t>(torch::headeronly::DeviceType::CUDA); }
};
std::ostream& operator<<(std::ostream& os, const Shape& s);
std::ostream& operator<<(std::ostream& os, const Dev& d);

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}

[[noreturn]] inline void raise(PyErrorType t, const std::string& msg) { throw PyError(t, msg); }

#define FLASHMLA_PY_CHECK(kind, cond, ...) \
  do {                                     \
    if (!(cond)) ::flashmla_py::raise(::flashmla_py::PyErrorType::kind, ::flashmla_py::cat(__VA_ARGS__)); \
  } while (0)
#define FLASHMLA_CHECK_VALUE(cond, ...) FLASHMLA_PY_CHECK(kValueError, cond, __VA_ARGS__)
#define FLASHMLA_CHECK_TYPE(cond, ...) FLASHMLA_PY_CHECK(kTypeError, cond, __VA_ARGS__)
#define FLASHMLA_CHECK_NOT_IMPLEMENTED(cond, ...) FLASHMLA_PY_CHECK(kNotImplementedError, cond, __VA_ARGS__)

[[noreturn]] void throw_status(const flashmla::Status& s, const char* op);
inline void check(const flashmla::Status& s, const char* op) {
  if (!s.ok()) throw_status(s, op);
}

// A python int that must fit in int32 (ValueError naming the argument otherwise).
int32_t to_int32(int64_t v, const char* op, const char* name);

// Metadata of a tensor (shim calls), read once.
inline int64_t dim(const Tensor& t) { return t.dim(); }
inline int64_t size(const Tensor& t, int64_t i) { return t.size(i); }
Shape sizes(const Tensor& t);
Dev device(const Tensor& t);
int32_t dtype(const Tensor& t);
inline bool defined(const OptTensor& t) { return t.has_value() && t->defined(); }

// A view of an input tensor. Unknown dtypes are a TypeError naming `name` and `expected`; tensors on
// devices other than cpu/cuda (meta included) a ValueError.
flashmla::TensorView to_view(const Tensor& t, const char* op, const char* name, const char* expected);
// An undefined view for None.
flashmla::TensorView to_view_opt(const OptTensor& t, const char* op, const char* name, const char* expected);
// A view of an output this library allocated.
flashmla::TensorView output_view(const Tensor& t);

// ValueError unless t is on `dev` ("<name>.device: expected <dev> (same as <ref>), got ...").
void check_same_device(const Tensor& t, const Dev& dev, const char* op, const char* name, const char* ref);

// dtype codes of the shim (c10::ScalarType values, fixed by torch/headeronly).
namespace dt {
constexpr int32_t of(torch::headeronly::ScalarType s) { return static_cast<int32_t>(s); }
constexpr int32_t kBF16 = of(torch::headeronly::ScalarType::BFloat16);
constexpr int32_t kFP16 = of(torch::headeronly::ScalarType::Half);
constexpr int32_t kFP32 = of(torch::headeronly::ScalarType::Float);
constexpr int32_t kInt32 = of(torch::headeronly::ScalarType::Int);
constexpr int32_t kUInt8 = of(torch::headeronly::ScalarType::Byte);
constexpr int32_t kFP8E4M3 = of(torch::headeronly::ScalarType::Float8_e4m3fn);
}  // namespace dt

// A tensor from the caching allocator of `dev` (aoti_torch_empty_strided); contiguous unless strides given.
Tensor new_empty(std::initializer_list<int64_t> sizes, int32_t dtype, const Dev& dev);
Tensor new_empty_strided(std::initializer_list<int64_t> sizes, std::initializer_list<int64_t> strides, int32_t dtype,
                         const Dev& dev);

// Raw device memory from the CUDA caching allocator of the current device and stream (stream-ordered
// reuse, graph-capture pools included); freed when the object dies.
class Workspace {
 public:
  Workspace() = default;
  explicit Workspace(size_t bytes);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

// FLASH_MLA_DEBUG=1 turns on the entry points' debug checks (read once per process).
bool debug_mode();

// The CUDA device guard and current stream of `dev` for the duration of an op (cpu: no guard, null
// stream). In a build without CUDA support, CUDA tensors are a NotImplementedError.
class DeviceContext {
 public:
  explicit DeviceContext(const Dev& dev);
  ~DeviceContext();
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;
  flashmla::Stream stream = nullptr;

 private:
  void* guard_ = nullptr;
};

}  // namespace flashmla_py
