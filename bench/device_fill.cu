#include "device_fill.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace flashmla::bench {
namespace {

__device__ __forceinline__ uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ uint16_t to_bits(float v, bool fp16) {
  if (fp16) return __half_as_ushort(__float2half_rn(v));
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

// One hash gives two normals (Box-Muller), written as one 32-bit word: element pair p = (2p, 2p + 1).
__global__ void fill_randn_kernel(uint32_t* dst, int64_t pairs, bool fp16, uint64_t seed) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t p = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const uint64_t h = splitmix64(seed ^ (static_cast<uint64_t>(p) * 0xd1342543de82ef95ull));
    const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1.0p-24f;  // (0, 1]
    const float u2 = static_cast<float>((h >> 16) & 0xffffffu) * 0x1.0p-24f;
    const float r = sqrtf(-2.0f * __logf(u1));
    float s, c;
    __sincosf(6.283185307f * u2, &s, &c);
    const float a = fminf(fmaxf(r * c * 0.1f, -1.0f), 1.0f);
    const float b = fminf(fmaxf(r * s * 0.1f, -1.0f), 1.0f);
    dst[p] = static_cast<uint32_t>(to_bits(a, fp16)) | (static_cast<uint32_t>(to_bits(b, fp16)) << 16);
  }
}

__global__ void fill_tail_kernel(uint16_t* dst, bool fp16, uint64_t seed) {
  const uint64_t h = splitmix64(seed ^ 0x7a11ull);
  const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1.0p-24f;
  const float u2 = static_cast<float>((h >> 16) & 0xffffffu) * 0x1.0p-24f;
  const float v = sqrtf(-2.0f * __logf(u1)) * __cosf(6.283185307f * u2) * 0.1f;
  *dst = to_bits(fminf(fmaxf(v, -1.0f), 1.0f), fp16);
}

// e4m3 codes of clamp(N(0,1) / 10, -1, 1) * scale, one byte per element: element e is the cos (even) or sin
// (odd) normal of pair e / 2, as in the 16-bit fill.
__global__ void fill_e4m3_kernel(uint8_t* dst, int64_t n, float scale, uint64_t seed) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < n; e += stride) {
    const uint64_t h = splitmix64(seed ^ (static_cast<uint64_t>(e / 2) * 0xd1342543de82ef95ull));
    const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1.0p-24f;
    const float u2 = static_cast<float>((h >> 16) & 0xffffffu) * 0x1.0p-24f;
    const float r = sqrtf(-2.0f * __logf(u1));
    const float t = 6.283185307f * u2;
    const float v = fminf(fmaxf(r * ((e & 1) ? __sinf(t) : __cosf(t)) * 0.1f, -1.0f), 1.0f);
    dst[e] = static_cast<uint8_t>(__nv_cvt_float_to_fp8(v * scale, __NV_SATFINITE, __NV_E4M3));
  }
}

int fill_blocks(int64_t work, int threads) {
  int dev = 0, sms = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t want = (work + threads - 1) / threads;
  return static_cast<int>(want < int64_t{sms} * 8 ? want : int64_t{sms} * 8);
}

}  // namespace

cudaError_t fill_randn_e4m3(void* dst, int64_t n, float scale, uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  fill_e4m3_kernel<<<fill_blocks(n, 256), 256, 0, stream>>>(static_cast<uint8_t*>(dst), n, scale, seed);
  return cudaGetLastError();
}

cudaError_t fill_randn_16bit(void* dst, int64_t n, bool fp16, uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (reinterpret_cast<uintptr_t>(dst) % 4 != 0) return cudaErrorMisalignedAddress;
  const int64_t pairs = n / 2;
  if (pairs > 0) {
    fill_randn_kernel<<<fill_blocks(pairs, 256), 256, 0, stream>>>(static_cast<uint32_t*>(dst), pairs, fp16, seed);
  }
  if (n % 2 != 0) fill_tail_kernel<<<1, 1, 0, stream>>>(static_cast<uint16_t*>(dst) + (n - 1), fp16, seed);
  return cudaGetLastError();
}

}  // namespace flashmla::bench
