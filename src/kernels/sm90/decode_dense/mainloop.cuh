// The consumer warpgroups' main-loop pieces of the bf16/fp16 kernel. Everything is shared with the
// FP8-cache kernel (whose converter publishes the same bf16 page layout and the same group barriers):
// Q*K^T is decode_dense_common/issue_qk.cuh; masking + online softmax, the P exchange through shared
// memory, P*V and zeroing the V rows past a request's length are decode_dense_common/consumer.cuh, all
// visible here through config.h's using-directive.
//
// The other consumer's page (P*V over boxes its Q*K^T waited for) needs no second mbarrier wait in
// this kernel: the owner waited for the group's full barrier before arriving on the ready mbarrier this
// warpgroup waits on, and the TMA bytes are in shared memory by then. (Re-waiting cost 8 try_wait loops
// per pair; dropping it measured neutral to +1 % on the H200, docs/perf-log.md §14.)
#pragma once

#include "kernels/sm90/decode_dense/config.h"
#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_common/issue_qk.cuh"
