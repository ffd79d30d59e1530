// Host-side pieces shared by the two dense decode launchers on sm_90 (decode_dense/launch.cu and
// decode_dense_fp8/launch.cu): the registry's support check and the kernel parameters both kernels
// read in the same way. Everything that depends on the cache format (TMA descriptors, descales) stays
// in each launcher.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/decode_problem.h"
#include "common/tile_map.h"
#include "flashmla/status.h"
#include "kernels/common/split_kv.h"
#include "kernels/gpu_backend.h"
#include "kernels/sm90/decode_dense_common/geometry.h"

namespace flashmla::sm90::dense_common {

// Page size 64 (the kernels' KV tile), an sm_90 device offering smem_bytes of shared memory per block,
// grid limits. page_who / smem_who name the kernel in the two device-dependent messages.
inline Status supports(const DecodeProblem& pr, int smem_bytes, const char* page_who, const char* smem_who) {
  const DecodeShape& sh = pr.shape;
  if (sh.page_size != kPageTokens)
    return Status(StatusCode::kNotSupported,
                  "k_cache.shape[1] (page size): expected " + std::to_string(kPageTokens) + " (the " + page_who +
                      " reads 64-token pages; the CPU backend takes any), got " + std::to_string(sh.page_size),
                  ErrorKind::kShape);
  gpu::DeviceInfo info;
  if (Status st = gpu::check_sm90_device(pr.args->q.device_index, &info); !st.ok()) return st;
  if (info.max_smem_per_block_optin < static_cast<size_t>(smem_bytes))
    return Status(StatusCode::kNotSupported, "device " + std::to_string(pr.args->q.device_index) + ": the " +
                                                 smem_who + " needs " + std::to_string(smem_bytes) +
                                                 " B of shared memory per block, the device offers " +
                                                 std::to_string(info.max_smem_per_block_optin),
                  ErrorKind::kDevice);
  // Grid limits: the split kernel's z dimension is the partition count, the combine's y dimension the
  // query rows of a request.
  if (sh.num_sm_parts > 65535)
    return Status(StatusCode::kNotSupported,
                  "tile_scheduler_metadata.shape[0] (num_sm_parts): expected <= 65535, got " +
                      std::to_string(sh.num_sm_parts),
                  ErrorKind::kShape);
  if (static_cast<int64_t>(sh.s_q) * sh.h_q > 65535)
    return Status(StatusCode::kNotSupported,
                  "s_q * h_q: expected <= 65535, got " + std::to_string(static_cast<int64_t>(sh.s_q) * sh.h_q),
                  ErrorKind::kShape);
  return Status::Ok();
}

// The parameter fields both kernels share (same names in DenseDecodeParams and DenseFp8DecodeParams):
// shapes, the softmax scale in the log2 domain, the tile map, q, the block table, lengths, schedule
// and outputs. The caller value-initializes p and sets its own fields.
template <class Params>
void set_common_params(Params& p, const DecodeArgs& args, const DecodeShape& sh, const plan::TileMap& tm) {
  p.batch = sh.batch;
  p.s_q = sh.s_q;
  p.h_q = sh.h_q;
  p.heads_per_kv = sh.heads_per_kv;
  p.max_blocks = sh.max_blocks_per_seq;
  p.causal = args.causal ? 1 : 0;
  p.scale_log2 = sh.softmax_scale * 1.4426950408889634f;
  p.tiles = tm;
  p.q = args.q.data;
  p.stride_q_b = args.q.stride[0];
  p.stride_q_s = args.q.stride[1];
  p.stride_q_h = args.q.stride[2];
  p.block_table = static_cast<const int32_t*>(args.block_table.data);
  p.stride_bt_b = args.block_table.stride[0];
  p.seqlens = static_cast<const int32_t*>(args.cache_seqlens.data);
  p.sched = static_cast<const int32_t*>(args.tile_scheduler_metadata.data);
  p.split = kernels::make_split_kv_outputs(args, sh);
}

}  // namespace flashmla::sm90::dense_common
