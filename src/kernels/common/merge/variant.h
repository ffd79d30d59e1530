// Registry hooks of the merge kernel (src/kernels/registry.cpp). Host-only header: no CUDA types.
//
// Why src/kernels/common/ and not sm90/: the kernel uses no sm_90a feature (no TMA, WGMMA, clusters or
// setmaxnreg) -- it is a streaming reduction (one warp per group of rows) that any CUDA GPU could run. It is compiled
// for sm_90a like the rest of the library (the target's -gencode), and registered under Backend::kSm90,
// the one GPU backend the registry knows.
#pragma once

#include "common/merge_problem.h"
#include "flashmla/status.h"

namespace flashmla::kernels::merge {

// The device of the tensors is an sm_90 GPU this build can run on.
Status supports(const MergeProblem& p);
// Enqueues the merge on args.stream (no host sync, no allocation; capturable in a CUDA graph).
Status run(const MergeProblem& p);

}  // namespace flashmla::kernels::merge
