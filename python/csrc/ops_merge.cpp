// Merge op of the torch op library (include/flashmla/merge.h, docs/merge.md):
//
//   flash_mla::merge_partial_attention(Tensor outs, Tensor lses) -> (Tensor out, Tensor lse)
//     outs [n, b, s_q, h_q, dv] bf16|fp16|fp32 (last dim contiguous), lses fp32 [n, b, h_q, s_q]
//     -> out [b, s_q, h_q, dv] outs.dtype, lse fp32 [b, h_q, s_q]
//
// The fake (meta) implementation that torch.compile traces lives in python/flash_mla/merge.py.
//
// Built on PyTorch's stable C ABI; shared helpers in binding.h.

#include <cstdint>
#include <tuple>

#include "binding.h"

namespace {

using namespace flashmla_py;  // NOLINT

constexpr const char* kMergeOp = "flash_mla.merge_partial_attention";

std::tuple<Tensor, Tensor> merge_partial_attention(const Tensor& outs, const Tensor& lses) {
  const char* op = kMergeOp;
  flashmla::MergeArgs args;
  args.outs = to_view(outs, op, "outs", "bfloat16, float16 or float32");
  args.lses = to_view(lses, op, "lses", "float32");
  // Sizes the outputs: checked before they are allocated (the library checks everything else).
  FLASHMLA_CHECK_VALUE(dim(outs) == 5, op, ": outs: expected rank 5 [n, b, s_q, h_q, dv], got rank ", dim(outs), " ",
                    sizes(outs));
  const Dev dev = device(outs);
  check_same_device(lses, dev, op, "lses", "outs");
  DeviceContext ctx(dev);
  Tensor out = new_empty({size(outs, 1), size(outs, 2), size(outs, 3), size(outs, 4)}, dtype(outs), dev);
  Tensor lse = new_empty({size(outs, 1), size(outs, 3), size(outs, 2)}, dt::kFP32, dev);
  args.out = output_view(out);
  args.lse = output_view(lse);
  args.stream = ctx.stream;
  check(flashmla::merge_partial_attention(args), op);
  return {std::move(out), std::move(lse)};
}

}  // namespace

STABLE_TORCH_LIBRARY_FRAGMENT(flash_mla, m) {
  m.def("merge_partial_attention(Tensor outs, Tensor lses) -> (Tensor, Tensor)");
}

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CPU, m) { m.impl("merge_partial_attention", TORCH_BOX(&merge_partial_attention)); }

// Registered in every build: without CUDA support the op raises NotImplementedError for CUDA tensors.
STABLE_TORCH_LIBRARY_IMPL(flash_mla, CUDA, m) { m.impl("merge_partial_attention", TORCH_BOX(&merge_partial_attention)); }
