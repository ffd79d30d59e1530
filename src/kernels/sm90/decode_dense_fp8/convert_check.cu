// convert_check.h: the kernel's own conversion function applied to every e4m3 code.
#include "kernels/sm90/decode_dense_fp8/convert.cuh"
#include "kernels/sm90/decode_dense_fp8/convert_check.h"

namespace flashmla::sm90::dense_fp8 {
namespace {

// 64 threads; thread t converts the word holding codes 4t .. 4t + 3 (lowest byte first), as the
// converter converts a 32-bit word of a staged fp8 row.
__global__ void convert_codes_kernel(uint16_t* out) {
  const uint32_t c = 4 * threadIdx.x;
  const uint32_t w = c | (c + 1) << 8 | (c + 2) << 16 | (c + 3) << 24;
  uint32_t lo, hi;
  e4m3x4_to_bf16x4(w, lo, hi);
  out[c] = static_cast<uint16_t>(lo & 0xFFFFu);
  out[c + 1] = static_cast<uint16_t>(lo >> 16);
  out[c + 2] = static_cast<uint16_t>(hi & 0xFFFFu);
  out[c + 3] = static_cast<uint16_t>(hi >> 16);
}

}  // namespace

cudaError_t convert_all_e4m3_codes(uint16_t* out, cudaStream_t stream) {
  convert_codes_kernel<<<1, 64, 0, stream>>>(out);
  return cudaGetLastError();
}

}  // namespace flashmla::sm90::dense_fp8
