// The device-side split-KV scheduler as a registry variant (src/kernels/common/sched_meta.cu).
#pragma once

#include "common/decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::gpu {

Status supports_schedule(const ScheduleProblem& p);  // an sm_90 device
Status run_schedule(const ScheduleProblem& p);       // one CTA on args.stream; no host sync

}  // namespace flashmla::gpu
