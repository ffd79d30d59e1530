// merge kernels reading fp16 parts (out: fp16 or fp32; vector and scalar paths).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kFP16>(const MergeParams&, Fmt, bool, cudaStream_t);
}  // namespace flashmla::kernels::merge
