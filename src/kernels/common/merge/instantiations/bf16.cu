// merge kernels reading bf16 parts (out: bf16 or fp32; vector path with 1, 2, 4 rows per group, scalar path).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kBF16>(const MergeParams&, Fmt, bool, int, int, cudaStream_t);
}  // namespace flashmla::kernels::merge
