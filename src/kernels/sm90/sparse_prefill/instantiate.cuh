// run<kDQK>() of one variant; each instantiations/*.cu includes this once (one kernel per TU).
#pragma once

#include "kernels/sm90/sparse_prefill/kernel.cuh"
#include "kernels/sm90/sparse_prefill/launch.h"
#include "kernels/sm90/sparse_prefill/variant.h"

namespace flashmla::sm90::sparse_prefill {

template <int kDQK>
Status run(const SparsePrefillProblem& pb) {
  return launch(pb, sparse_prefill_kernel<kDQK>, Config<kDQK>::kSmemBytes, kDQK == 576 ? 1 : 0);
}

}  // namespace flashmla::sm90::sparse_prefill
