// The sm90 sparse prefill kernel for d_qk = 512.
#include "kernels/sm90/sparse_prefill/instantiate.cuh"

namespace flashmla::sm90::sparse_prefill {
template Status run<512>(const SparsePrefillProblem&);
}  // namespace flashmla::sm90::sparse_prefill
