// merge kernels reading fp16 parts (out: fp16 or fp32; vector path with 1, 2, 4 rows per group, scalar path).
#include "kernels/common/merge/instantiate.cuh"

namespace flashmla::kernels::merge {
template cudaError_t launch<Fmt::kFP16>(const MergeParams&, Fmt, bool, int, int, cudaStream_t);
}  // namespace flashmla::kernels::merge
