// Shared helpers of the torch op library (see tensor_view.h).
#include "tensor_view.h"

#include <ATen/EmptyTensor.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#ifdef FLASHMLA_PY_WITH_CUDA
#include <ATen/cuda/EmptyTensor.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace flashmla_py {

using flashmla::DeviceType;
using flashmla::DType;
using flashmla::ErrorKind;
using flashmla::Status;
using flashmla::StatusCode;
using flashmla::TensorView;

void throw_status(const Status& s, const char* op) {
  const std::string& m = s.message();
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      if (s.kind() == ErrorKind::kType) TORCH_CHECK_TYPE(false, op, ": ", m);
      TORCH_CHECK_VALUE(false, op, ": ", m);
    case StatusCode::kNotSupported:
      TORCH_CHECK_NOT_IMPLEMENTED(false, op, ": ", m);
    default:
      TORCH_CHECK(false, op, ": ", flashmla::status_code_name(s.code()), ": ", m);
  }
}

int32_t to_int32(int64_t v, const char* op, const char* name) {
  TORCH_CHECK_VALUE(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), op, ": ",
                    name, ": expected a value that fits in int32, got ", v);
  return static_cast<int32_t>(v);
}

namespace {

// torch's name of a dtype ("float64"), for messages.
std::string torch_dtype_name(const at::Tensor& t) {
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

TensorView view_with_dtype(const at::Tensor& t, DType dtype, const char* op, const char* name) {
  TensorView v;
  v.dtype = dtype;
  const int64_t rank = t.dim();
  TORCH_CHECK_VALUE(rank <= flashmla::kMaxRank, op, ": ", name, ": expected at most ", flashmla::kMaxRank,
                    " dimensions, got rank ", rank, " ", t.sizes());
  TORCH_CHECK_VALUE(t.device().is_cpu() || t.device().is_cuda(), op, ": ", name,
                    ".device: expected cpu or cuda, got ", t.device());
  v.rank = static_cast<int32_t>(rank);
  const auto sizes = t.sizes();
  const auto strides = t.strides();
  for (int64_t i = 0; i < rank; ++i) {
    v.shape[i] = sizes[i];
    v.stride[i] = strides[i];
  }
  v.data = const_cast<void*>(t.const_data_ptr());
  v.device = t.is_cuda() ? DeviceType::kCUDA : DeviceType::kCPU;
  v.device_index = t.is_cuda() ? t.get_device() : 0;
  return v;
}

}  // namespace

TensorView to_view(const at::Tensor& t, const char* op, const char* name, const char* expected) {
  TORCH_CHECK_TYPE(t.defined(), op, ": ", name, ": expected a tensor, got None");
  DType dt;
  switch (t.scalar_type()) {
    case at::kBFloat16: dt = DType::kBF16; break;
    case at::kHalf: dt = DType::kFP16; break;
    case at::kFloat: dt = DType::kFP32; break;
    case at::kInt: dt = DType::kInt32; break;
    case at::kFloat8_e4m3fn: dt = DType::kFP8E4M3; break;
    case at::kFloat8_e8m0fnu: dt = DType::kFP8E8M0; break;
    case at::kByte: dt = DType::kUInt8; break;
    case at::kChar: dt = DType::kInt8; break;
    default: TORCH_CHECK_TYPE(false, op, ": ", name, ".dtype: expected ", expected, ", got ", torch_dtype_name(t));
  }
  return view_with_dtype(t, dt, op, name);
}

TensorView to_view_opt(const std::optional<at::Tensor>& t, const char* op, const char* name, const char* expected) {
  if (!t.has_value() || !t->defined()) return TensorView{};
  return to_view(*t, op, name, expected);
}

TensorView output_view(at::Tensor& t) { return to_view(t, "flash_mla", "output", "a supported dtype"); }

void check_same_device(const at::Tensor& t, const c10::Device& dev, const char* op, const char* name, const char* ref) {
  TORCH_CHECK_VALUE(t.device() == dev, op, ": ", name, ".device: expected ", dev, " (same as ", ref, "), got ",
                    t.device());
}

at::Tensor new_empty(at::IntArrayRef sizes, at::ScalarType dtype, [[maybe_unused]] const c10::Device& dev) {
#ifdef FLASHMLA_PY_WITH_CUDA
  if (dev.is_cuda()) return at::Tensor(at::detail::empty_cuda(sizes, dtype, dev, std::nullopt));
#endif
  return at::Tensor(at::detail::empty_cpu(sizes, dtype));
}

// Split partials live only until the combine kernel has read them, and the caching allocator hands a
// freed block out again only in stream order, so a raw block is enough: the same allocator at::empty
// uses (graph-capture pools included), without building a TensorImpl and storage on every call.
at::DataPtr new_workspace(size_t bytes) {
#ifdef FLASHMLA_PY_WITH_CUDA
  return c10::cuda::CUDACachingAllocator::get()->allocate(bytes);
#else
  (void)bytes;
  return at::DataPtr();  // unreachable: DeviceContext refuses CUDA tensors in this build
#endif
}

bool debug_mode() {
  static const bool on = [] {
    const char* e = std::getenv("FLASH_MLA_DEBUG");
    return e != nullptr && e[0] != '\0' && std::strcmp(e, "0") != 0;
  }();
  return on;
}

#ifdef FLASHMLA_PY_WITH_CUDA
DeviceContext::DeviceContext(const c10::Device& dev)
    : guard(dev.is_cuda() ? std::optional<c10::Device>(dev) : std::nullopt),
      stream(dev.is_cuda() ? c10::cuda::getCurrentCUDAStream(dev.index()).stream() : nullptr) {}
#else
DeviceContext::DeviceContext(const c10::Device& dev) {
  TORCH_CHECK_NOT_IMPLEMENTED(!dev.is_cuda(), "flash_mla: this build has no CUDA support "
                              "(built with FLASHMLA_ENABLE_CUDA=OFF or without nvcc); got tensors on ", dev);
}
#endif

}  // namespace flashmla_py
