// Debug mode of decode(): the value checks a GPU cannot afford in the hot path (negative lengths,
// block tables too short, page ids outside the cache). Copies the two small int32 tensors to the host,
// which synchronizes the stream; engines enable it while bringing up a new integration.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "common/schedule_plan.h"
#include "kernels/cuda_util.h"
#include "kernels/gpu_backend.h"

namespace flashmla::gpu {
namespace {

Status copy_rows(std::vector<int32_t>* dst, const TensorView& v, int64_t rows, int64_t cols, cudaStream_t stream) {
  dst->resize(static_cast<size_t>(rows * cols));
  const int64_t row_stride = v.rank > 1 ? v.stride[0] : 1;
  const int64_t col_stride = v.rank > 1 ? v.stride[1] : v.stride[0];
  cudaError_t err;
  if (rows == 1 && col_stride == 1) {
    err = cudaMemcpyAsync(dst->data(), v.data, cols * sizeof(int32_t), cudaMemcpyDeviceToHost, stream);
  } else if (col_stride == 1) {
    err = cudaMemcpy2DAsync(dst->data(), cols * sizeof(int32_t), v.data, row_stride * sizeof(int32_t),
                            cols * sizeof(int32_t), rows, cudaMemcpyDeviceToHost, stream);
  } else {  // rare: gather element by element
    err = cudaSuccess;
    for (int64_t r = 0; r < rows && err == cudaSuccess; ++r)
      for (int64_t c = 0; c < cols && err == cudaSuccess; ++c)
        err = cudaMemcpyAsync(dst->data() + r * cols + c, static_cast<const int32_t*>(v.data) + r * row_stride + c * col_stride,
                              sizeof(int32_t), cudaMemcpyDeviceToHost, stream);
  }
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  return cuda_status(err, "debug_checks: copying to the host");
}

}  // namespace

Status debug_check_inputs(const DecodeArgs& args, const DecodeShape& sh) noexcept {
  DeviceGuard guard(args.q.device_index);
  const cudaStream_t stream = reinterpret_cast<cudaStream_t>(args.stream);
  std::vector<int32_t> lens, table;
  if (Status st = copy_rows(&lens, args.cache_seqlens, 1, sh.batch, stream); !st.ok()) return st;
  if (Status st = copy_rows(&table, args.block_table, sh.batch, sh.max_blocks_per_seq, stream); !st.ok()) return st;
  for (int32_t i = 0; i < sh.batch; ++i) {
    const int32_t L = lens[i];
    if (L < 0)
      return Status(StatusCode::kInvalidArgument, "cache_seqlens[" + std::to_string(i) + "]: expected >= 0, got " + std::to_string(L));
    const int32_t n = plan::num_blocks_of(L);
    if (n > sh.max_blocks_per_seq)
      return Status(StatusCode::kInvalidArgument, "block_table.shape[1]: expected >= " + std::to_string(n) +
                                                      " pages for cache_seqlens[" + std::to_string(i) + "] = " + std::to_string(L) +
                                                      ", got " + std::to_string(sh.max_blocks_per_seq));
    for (int32_t k = 0; k < n; ++k) {
      const int32_t id = table[static_cast<size_t>(i) * sh.max_blocks_per_seq + k];
      if (id < 0 || id >= sh.num_blocks)
        return Status(StatusCode::kInvalidArgument, "block_table[" + std::to_string(i) + "][" + std::to_string(k) +
                                                        "]: expected a page id in [0, " + std::to_string(sh.num_blocks) + "), got " +
                                                        std::to_string(id));
    }
  }
  return Status::Ok();
}

}  // namespace flashmla::gpu
