// merge kernels reading bf16 parts (out: bf16 or fp32; vector and scalar paths).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kBF16>(const MergeParams&, Fmt, bool, cudaStream_t);
}  // namespace flashmla::kernels::merge
