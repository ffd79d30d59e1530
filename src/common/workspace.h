// Layout of the decode workspace: the fp32 partial results of split requests.
// A batch of b requests over num_sm_parts partitions has at most b + num_sm_parts - 1 split slots
// (each partition cut adds one), so b + num_sm_parts slots always suffice, without reading seqlens.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashmla {

struct WorkspaceLayout {
  size_t partial_o_offset = 0;    // float32 [slots, s_q, h_q, dv]
  size_t partial_lse_offset = 0;  // float32 [slots, s_q, h_q]
  size_t status_offset = 0;       // int32: set by the split kernel, 1 = invalid lengths (nothing written)
  size_t total_bytes = 0;
  int64_t slots = 0;
};

inline WorkspaceLayout workspace_layout(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                                        int32_t num_sm_parts) {
  constexpr size_t kAlign = 256;
  auto align = [](size_t x) { return (x + kAlign - 1) / kAlign * kAlign; };
  WorkspaceLayout w;
  w.slots = static_cast<int64_t>(batch) + num_sm_parts;
  const size_t rows = static_cast<size_t>(w.slots) * s_q * h_q;
  w.partial_o_offset = 0;
  w.partial_lse_offset = align(rows * head_dim_v * sizeof(float));
  w.status_offset = align(w.partial_lse_offset + rows * sizeof(float));
  w.total_bytes = w.status_offset + kAlign;
  return w;
}

}  // namespace flashmla
