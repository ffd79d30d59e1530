// merge kernels reading fp32 parts (out: fp32; vector path with 1 or 2 rows per group, scalar path).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kFP32>(const MergeParams&, Fmt, bool, int, int, cudaStream_t);
}  // namespace flashmla::kernels::merge
