// A device check of the FP8-cache kernel's e4m3 -> bf16 conversion (convert.cuh's e4m3x4_to_bf16x4):
// converts all 256 codes on the GPU, for the GPU test that compares them bit for bit with the exact
// table (tests/cpp/test_gpu_dense_fp8.cpp, GpuDenseFp8Convert.AllCodesExact). Not part of the public API.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace flashmla::sm90::dense_fp8 {

// out: device memory for 256 bf16 bit patterns; out[c] = the conversion of code c (c = 0..255).
cudaError_t convert_all_e4m3_codes(uint16_t* out, cudaStream_t stream);

}  // namespace flashmla::sm90::dense_fp8
