// FLASHMLA_HD marks the pure helpers that the CPU backend and the CUDA kernels share.
#pragma once

#if defined(__CUDACC__)
#define FLASHMLA_HD __host__ __device__ __forceinline__
#else
#define FLASHMLA_HD inline
#endif
