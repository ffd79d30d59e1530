// flashmla — Multi-head Latent Attention decode for NVIDIA Hopper (sm_90a), torch-free C++ API.
//
// A decoding step, as an engine runs it:
//
//   int32_t parts = 0;
//   flashmla::query_num_sm_parts(DeviceType::kCUDA, dev, s_q * h_q / h_kv, h_kv, s_q, &parts);
//   // allocate metadata int32 [parts, 8], num_splits int32 [b + 1] once
//   flashmla::compute_schedule(sched_args);          // once per step (device-side, no host sync)
//   size_t ws = flashmla::decode_workspace_size(b, s_q, h_q, 512, parts);   // allocate once
//   for each layer: flashmla::decode(decode_args);   // split kernel + combine, on args.stream
//
// Every function is noexcept and returns a Status; none synchronizes the host (except debug_checks),
// none allocates device memory, and everything it launches can be captured in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmla/merge.h"
#include "flashmla/params.h"
#include "flashmla/sparse_decode.h"
#include "flashmla/sparse_prefill.h"
#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {

// Library version, "major.minor.patch".
const char* version() noexcept;

// Whether this build contains the sm_90a kernels, and whether device `device_index` can run them.
bool built_with_cuda() noexcept;
Status device_supported(int32_t device_index) noexcept;

// Number of SM partitions the split-KV schedule uses for this configuration on this device
// (CPU: as for a 132-SM H100, so plans are comparable). s_q = 0 when unknown.
Status query_num_sm_parts(DeviceType device, int32_t device_index, int32_t num_q_rows_per_head_k,
                          int32_t num_heads_k, int32_t s_q, int32_t* num_sm_parts) noexcept;

// Computes tile_scheduler_metadata and num_splits from cache_seqlens, on the tensors' device.
Status compute_schedule(const ScheduleArgs& args) noexcept;

// Bytes of workspace decode() needs: fp32 partial outputs and LSEs of split requests.
size_t decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                             int32_t num_sm_parts) noexcept;

// Checks every argument of decode() without launching anything or touching any memory.
Status can_implement(const DecodeArgs& args) noexcept;

// Runs the decode: on CUDA tensors the split kernel then the combine kernel on args.stream; on CPU
// tensors the multithreaded CPU backend. On an invalid argument nothing is written.
Status decode(const DecodeArgs& args) noexcept;

}  // namespace flashmla
