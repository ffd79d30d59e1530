// Debug-mode copies of small int32 device tensors to the host (see host_copy.h).
#include <cuda_runtime.h>

#include "kernels/common/host_copy.h"
#include "kernels/cuda_util.h"

namespace flashmla::gpu {

Status copy_int32_to_host(const TensorView& v, int64_t rows, int64_t cols, Stream s, std::vector<int32_t>* dst) noexcept {
  try {
    dst->resize(static_cast<size_t>(rows * cols));
  } catch (...) {
    return Status(StatusCode::kInternal, "debug_checks: out of host memory");
  }
  DeviceGuard guard(v.device_index);
  if (guard.error() != cudaSuccess) return cuda_status(guard.error(), "cudaSetDevice");
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(s);
  const int64_t row_stride = v.rank > 1 ? v.stride[0] : 1;
  const int64_t col_stride = v.rank > 1 ? v.stride[1] : v.stride[0];
  cudaError_t err = cudaSuccess;
  if (rows * cols == 0) {
    // nothing to copy
  } else if (rows == 1 && col_stride == 1) {
    err = cudaMemcpyAsync(dst->data(), v.data, cols * sizeof(int32_t), cudaMemcpyDeviceToHost, stream);
  } else if (col_stride == 1) {
    err = cudaMemcpy2DAsync(dst->data(), cols * sizeof(int32_t), v.data, row_stride * sizeof(int32_t),
                            cols * sizeof(int32_t), rows, cudaMemcpyDeviceToHost, stream);
  } else {  // rare: gather element by element
    for (int64_t r = 0; r < rows && err == cudaSuccess; ++r)
      for (int64_t c = 0; c < cols && err == cudaSuccess; ++c)
        err = cudaMemcpyAsync(dst->data() + r * cols + c,
                              static_cast<const int32_t*>(v.data) + r * row_stride + c * col_stride, sizeof(int32_t),
                              cudaMemcpyDeviceToHost, stream);
  }
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  return cuda_status(err, "debug_checks: copying to the host");
}

}  // namespace flashmla::gpu
