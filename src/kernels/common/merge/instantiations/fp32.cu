// merge kernels reading fp32 parts (out: fp32 or fp32; vector and scalar paths).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kFP32>(const MergeParams&, Fmt, bool, cudaStream_t);
}  // namespace flashmla::kernels::merge
