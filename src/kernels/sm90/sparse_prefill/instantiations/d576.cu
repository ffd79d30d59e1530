// The sm90 sparse prefill kernel for d_qk = 576.
#include "kernels/sm90/sparse_prefill/instantiate.cuh"

namespace flashmla::sm90::sparse_prefill {
template Status run<576>(const SparsePrefillProblem&);
}  // namespace flashmla::sm90::sparse_prefill
