// The consumer warpgroups' main-loop pieces of the FP8-cache kernel. Q*K^T is the bf16 kernel's
// (decode_dense_common/issue_qk.cuh): the converter publishes the same bf16 page layout with one full
// barrier per box group (k_full[stage][group], 128 converter arrivals), in the order the consumers read
// them (RoPE first). Masking + online softmax, the P exchange, P*V (kFp16 = false) and the V-tail
// zeroing are decode_dense_common/consumer.cuh, visible here through config.h's using-directive.
#pragma once

#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_common/issue_qk.cuh"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_fp8 {

// Waits for the box group a P*V reads on the page whose Q*K^T the other consumer ran (group_bar: that
// page's k_full of the group): the data is there (the P exchange orders it), but the mbarrier wait is
// what makes the converter's writes (generic proxy, fenced for the async proxy) visible to this
// warpgroup's WGMMA reads under the memory model. One try_wait (the phase completed long ago).
__device__ __forceinline__ void wait_group(uint32_t group_bar, uint32_t parity) { ptx::mbar_wait(group_bar, parity); }

}  // namespace flashmla::sm90::dense_fp8
