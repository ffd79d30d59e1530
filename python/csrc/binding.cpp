// Shared helpers of the stable-ABI op library (see binding.h).
#include "binding.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <limits>

namespace flashmla_py {

using flashmla::DeviceType;
using flashmla::DType;
using flashmla::ErrorKind;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

namespace {

// CPython's stable ABI, looked up in the running interpreter (the library is loaded by
// torch.ops.load_library, so the interpreter's symbols are global).
using SetString = void (*)(void*, const char*);
void* py_symbol(const char* name) { return dlsym(RTLD_DEFAULT, name); }

void check_error(AOTITorchError e, const char* what) {
  if (e != AOTI_TORCH_SUCCESS) raise(PyErrorType::kRuntimeError, cat("flash_mla: torch's ", what, " failed"));
}

}  // namespace

void PyError::set_error() const {
  static const auto set_string = reinterpret_cast<SetString>(py_symbol("PyErr_SetString"));
  static void* const* const types[] = {
      static_cast<void* const*>(py_symbol("PyExc_TypeError")),
      static_cast<void* const*>(py_symbol("PyExc_ValueError")),
      static_cast<void* const*>(py_symbol("PyExc_NotImplementedError")),
      static_cast<void* const*>(py_symbol("PyExc_RuntimeError")),
  };
  void* const* type = types[static_cast<int>(type_)];
  if (set_string == nullptr || type == nullptr) std::abort();  // only reached from pybind11, inside Python
  set_string(*type, what());
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << '[';
  for (int64_t i = 0; i < s.n; ++i) os << (i ? ", " : "") << s.d[i];
  return os << ']';
}

std::ostream& operator<<(std::ostream& os, const Dev& d) {
  using torch::headeronly::DeviceType;
  switch (static_cast<DeviceType>(d.type)) {
    case DeviceType::CPU: os << "cpu"; break;
    case DeviceType::CUDA: os << "cuda"; break;
    case DeviceType::Meta: os << "meta"; break;
    case DeviceType::XPU: os << "xpu"; break;
    case DeviceType::MPS: os << "mps"; break;
    default: os << "device type " << d.type; break;
  }
  if (d.index >= 0 && static_cast<DeviceType>(d.type) != DeviceType::CPU) os << ':' << d.index;
  return os;
}

void throw_status(const Status& s, const char* op) {
  const std::string& m = s.message();
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      raise(s.kind() == ErrorKind::kType ? PyErrorType::kTypeError : PyErrorType::kValueError, cat(op, ": ", m));
    case StatusCode::kNotSupported:
      raise(PyErrorType::kNotImplementedError, cat(op, ": ", m));
    default:
      raise(PyErrorType::kRuntimeError, cat(op, ": ", flashmla::status_code_name(s.code()), ": ", m));
  }
}

int32_t to_int32(int64_t v, const char* op, const char* name) {
  FLASHMLA_CHECK_VALUE(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), op,
                       ": ", name, ": expected a value that fits in int32, got ", v);
  return static_cast<int32_t>(v);
}

Shape sizes(const Tensor& t) {
  int64_t* d = nullptr;
  check_error(aoti_torch_get_sizes(t.get(), &d), "get_sizes");
  return Shape{d, t.dim()};
}

Dev device(const Tensor& t) {
  Dev d;
  check_error(aoti_torch_get_device_type(t.get(), &d.type), "get_device_type");
  check_error(aoti_torch_get_device_index(t.get(), &d.index), "get_device_index");
  return d;
}

int32_t dtype(const Tensor& t) {
  int32_t d = 0;
  check_error(aoti_torch_get_dtype(t.get(), &d), "get_dtype");
  return d;
}

namespace {

// torch's Python name of a dtype ("float64"), for messages.
const char* torch_dtype_name(int32_t d) {
  using S = torch::headeronly::ScalarType;
  switch (static_cast<S>(d)) {
    case S::Double: return "float64";
    case S::Float: return "float32";
    case S::Half: return "float16";
    case S::BFloat16: return "bfloat16";
    case S::Long: return "int64";
    case S::Int: return "int32";
    case S::Short: return "int16";
    case S::Char: return "int8";
    case S::Byte: return "uint8";
    case S::Bool: return "bool";
    case S::ComplexFloat: return "complex64";
    case S::ComplexDouble: return "complex128";
    case S::ComplexHalf: return "complex32";
    case S::Float8_e4m3fn: return "float8_e4m3fn";
    case S::Float8_e5m2: return "float8_e5m2";
    case S::Float8_e4m3fnuz: return "float8_e4m3fnuz";
    case S::Float8_e5m2fnuz: return "float8_e5m2fnuz";
    case S::Float8_e8m0fnu: return "float8_e8m0fnu";
    default: return "an unsupported dtype";
  }
}

}  // namespace

TensorView to_view(const Tensor& t, const char* op, const char* name, const char* expected) {
  FLASHMLA_CHECK_TYPE(t.defined(), op, ": ", name, ": expected a tensor, got None");
  using S = torch::headeronly::ScalarType;
  const int32_t code = dtype(t);
  DType d;
  switch (static_cast<S>(code)) {
    case S::BFloat16: d = DType::kBF16; break;
    case S::Half: d = DType::kFP16; break;
    case S::Float: d = DType::kFP32; break;
    case S::Int: d = DType::kInt32; break;
    case S::Float8_e4m3fn: d = DType::kFP8E4M3; break;
    case S::Float8_e8m0fnu: d = DType::kFP8E8M0; break;
    case S::Byte: d = DType::kUInt8; break;
    case S::Char: d = DType::kInt8; break;
    default: raise(PyErrorType::kTypeError, cat(op, ": ", name, ".dtype: expected ", expected, ", got ",
                                                torch_dtype_name(code)));
  }
  TensorView v;
  v.dtype = d;
  const Shape sz = sizes(t);
  FLASHMLA_CHECK_VALUE(sz.n <= flashmla::kMaxRank, op, ": ", name, ": expected at most ", flashmla::kMaxRank,
                       " dimensions, got rank ", sz.n, " ", sz);
  const Dev dev = device(t);
  FLASHMLA_CHECK_VALUE(dev.type == static_cast<int32_t>(torch::headeronly::DeviceType::CPU) || dev.is_cuda(), op,
                       ": ", name, ".device: expected cpu or cuda, got ", dev);
  int64_t* strides = nullptr;
  check_error(aoti_torch_get_strides(t.get(), &strides), "get_strides");
  v.rank = static_cast<int32_t>(sz.n);
  for (int64_t i = 0; i < sz.n; ++i) {
    v.shape[i] = sz.d[i];
    v.stride[i] = strides[i];
  }
  void* data = nullptr;
  check_error(aoti_torch_get_data_ptr(t.get(), &data), "get_data_ptr");
  v.data = data;
  v.device = dev.is_cuda() ? DeviceType::kCUDA : DeviceType::kCPU;
  v.device_index = dev.is_cuda() ? dev.index : 0;
  return v;
}

TensorView to_view_opt(const OptTensor& t, const char* op, const char* name, const char* expected) {
  if (!defined(t)) return TensorView{};
  return to_view(*t, op, name, expected);
}

TensorView output_view(const Tensor& t) { return to_view(t, "flash_mla", "output", "a supported dtype"); }

void check_same_device(const Tensor& t, const Dev& dev, const char* op, const char* name, const char* ref) {
  const Dev d = device(t);
  FLASHMLA_CHECK_VALUE(d == dev, op, ": ", name, ".device: expected ", dev, " (same as ", ref, "), got ", d);
}

Tensor new_empty_strided(std::initializer_list<int64_t> sizes, std::initializer_list<int64_t> strides,
                         int32_t dtype, const Dev& dev) {
  AtenTensorHandle h = nullptr;
  check_error(aoti_torch_empty_strided(static_cast<int64_t>(sizes.size()), sizes.begin(), strides.begin(), dtype,
                                       dev.type, dev.index < 0 ? 0 : dev.index, &h),
              "empty_strided");
  return Tensor(h);
}

Tensor new_empty(std::initializer_list<int64_t> sizes, int32_t dtype, const Dev& dev) {
  int64_t strides[flashmla::kMaxRank];
  const int64_t n = static_cast<int64_t>(sizes.size());
  FLASHMLA_CHECK_VALUE(n <= flashmla::kMaxRank, "flash_mla: internal: output rank ", n);
  int64_t s = 1;
  for (int64_t i = n - 1; i >= 0; --i) {
    strides[i] = s;
    const int64_t e = sizes.begin()[i];
    s *= e > 1 ? e : 1;
  }
  AtenTensorHandle h = nullptr;
  check_error(aoti_torch_empty_strided(n, sizes.begin(), strides, dtype, dev.type, dev.index < 0 ? 0 : dev.index, &h),
              "empty_strided");
  return Tensor(h);
}

#ifdef FLASHMLA_PY_WITH_CUDA
Workspace::Workspace(size_t bytes) {
  if (bytes == 0) return;
  check_error(aoti_torch_cuda_caching_allocator_raw_alloc(bytes, &ptr_), "cuda_caching_allocator_raw_alloc");
}
Workspace::~Workspace() {
  if (ptr_ != nullptr) (void)aoti_torch_cuda_caching_allocator_raw_delete(ptr_);
}

DeviceContext::DeviceContext(const Dev& dev) {
  if (!dev.is_cuda()) return;
  CUDAGuardHandle g = nullptr;
  check_error(aoti_torch_create_cuda_guard(dev.index, &g), "create_cuda_guard");
  guard_ = g;
  void* s = nullptr;
  check_error(aoti_torch_get_current_cuda_stream(dev.index, &s), "get_current_cuda_stream");
  stream = static_cast<flashmla::Stream>(s);
}
DeviceContext::~DeviceContext() {
  if (guard_ != nullptr) (void)aoti_torch_delete_cuda_guard(static_cast<CUDAGuardHandle>(guard_));
}
#else
Workspace::Workspace(size_t) {}  // unreachable: DeviceContext refuses CUDA tensors in this build
Workspace::~Workspace() = default;

DeviceContext::DeviceContext(const Dev& dev) {
  FLASHMLA_CHECK_NOT_IMPLEMENTED(!dev.is_cuda(), "flash_mla: this build has no CUDA support "
                                 "(built with FLASHMLA_ENABLE_CUDA=OFF or without nvcc); got tensors on ", dev);
}
DeviceContext::~DeviceContext() = default;
#endif

bool debug_mode() {
  static const bool on = [] {
    const char* e = std::getenv("FLASH_MLA_DEBUG");
    return e != nullptr && e[0] != '\0' && std::strcmp(e, "0") != 0;
  }();
  return on;
}

}  // namespace flashmla_py
