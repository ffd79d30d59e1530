// Registry entry points of the sm90 sparse prefill kernels (src/kernels/registry.cpp). Plain C++: no
// CUDA header, so that registry.cpp compiles with the host compiler.
#pragma once

#include "common/sparse_prefill_problem.h"
#include "flashmla/status.h"

namespace flashmla::sm90::sparse_prefill {

// Limits beyond validation: d_qk equal to the variant's, an sm_90 device with enough shared memory.
Status supports_dim(const SparsePrefillProblem& pb, int d_qk);
template <int kDQK>
Status supports(const SparsePrefillProblem& pb) {
  return supports_dim(pb, kDQK);
}

// Enqueues the kernel on args.stream (instantiations/d512.cu, d576.cu). No allocation, no host sync.
template <int kDQK>
Status run(const SparsePrefillProblem& pb);
extern template Status run<512>(const SparsePrefillProblem&);
extern template Status run<576>(const SparsePrefillProblem&);

}  // namespace flashmla::sm90::sparse_prefill
