// Host-side helpers shared by the sparse prefill instantiations (launch.cu).
#pragma once

#include <cstddef>

#include "common/sparse_prefill_problem.h"
#include "flashmla/status.h"
#include "kernels/sm90/sparse_prefill/params.h"

namespace flashmla::sm90::sparse_prefill {

// The kernel parameters of a validated problem (strides of size-1 dimensions become 0).
SparsePrefillParams make_params(const SparsePrefillProblem& pb);

// Makes `device` current for the call, raises the kernel's dynamic shared-memory limit once per device
// and launches s_q * ceil(h_q / 64) CTAs x 384 threads on the problem's stream.
using KernelFn = void (*)(SparsePrefillParams);
Status launch(const SparsePrefillProblem& pb, KernelFn kernel, int smem_bytes, int variant_slot);

}  // namespace flashmla::sm90::sparse_prefill
