// Sparse top-k decode op of the torch op library (flash_mla_with_kvcache with `indices`):
//
//   flash_mla::sparse_decode(Tensor q, Tensor k_cache, Tensor indices, float softmax_scale,
//                            Tensor? attn_sink, Tensor? extra_k_cache, Tensor? extra_indices,
//                            Tensor? topk_length, Tensor? extra_topk_length)
//       -> (Tensor out [b, s_q, h_q, 512] bf16, Tensor lse [b, h_q, s_q] f32)
//
// softmax_scale 0 selects d_qk^-0.5. lse is returned as upstream does: a transposed view of a
// contiguous [b, s_q, h_q] buffer. The fake (meta) implementation lives in python/flash_mla/sparse_decode.py.
//
// Built on PyTorch's stable C ABI; shared helpers in binding.h.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>

#include "flashmla/quantize.h"
#include "flashmla/sparse_decode.h"
#include "binding.h"

namespace {

using namespace flashmla_py;  // NOLINT

constexpr const char* kOp = "flash_mla.sparse_decode";
constexpr const char* kCacheTypes = "float8_e4m3fn, uint8 or int8";

std::tuple<Tensor, Tensor> sparse_decode(const Tensor& q, const Tensor& k_cache,
                                                 const Tensor& indices, double softmax_scale,
                                                 const OptTensor& attn_sink,
                                                 const OptTensor& extra_k_cache,
                                                 const OptTensor& extra_indices,
                                                 const OptTensor& topk_length,
                                                 const OptTensor& extra_topk_length) {
  const char* op = kOp;
  flashmla::SparseDecodeArgs args;
  args.q = to_view(q, op, "q", "bfloat16");
  args.k_cache = to_view(k_cache, op, "k_cache", kCacheTypes);
  args.indices = to_view(indices, op, "indices", "int32");
  args.attn_sink = to_view_opt(attn_sink, op, "attn_sink", "float32");
  args.extra_k_cache = to_view_opt(extra_k_cache, op, "extra_k_cache", kCacheTypes);
  args.extra_indices = to_view_opt(extra_indices, op, "extra_indices", "int32");
  args.topk_length = to_view_opt(topk_length, op, "topk_length", "int32");
  args.extra_topk_length = to_view_opt(extra_topk_length, op, "extra_topk_length", "int32");
  FLASHMLA_CHECK_VALUE(dim(q) == 4, op, ": q: expected rank 4 [b, s_q, h_q, d_qk], got rank ", dim(q), " ", sizes(q));
  const Dev dev = device(q);
  check_same_device(k_cache, dev, op, "k_cache", "q");
  check_same_device(indices, dev, op, "indices", "q");
  for (const auto& [t, name] : {std::pair{&attn_sink, "attn_sink"}, std::pair{&extra_k_cache, "extra_k_cache"},
                                std::pair{&extra_indices, "extra_indices"}, std::pair{&topk_length, "topk_length"},
                                std::pair{&extra_topk_length, "extra_topk_length"}})
    if (defined(*t)) check_same_device(**t, dev, op, name, "q");
  // Outputs are sized from q before the library checks everything: an absurd q is an error, not a
  // huge allocation.
  FLASHMLA_CHECK_VALUE(size(q, 3) == 576 || size(q, 3) == 512, op,
                    ": q.shape[3] (d_qk): expected 576 (V32 cache) or 512 (MODEL1 cache), got ", size(q, 3));
  FLASHMLA_CHECK_VALUE(size(q, 2) >= 1, op, ": q.shape[2] (h_q): expected >= 1, got ", size(q, 2));
  const bool huge = std::fabs(softmax_scale) > std::numeric_limits<float>::max();
  const float f = std::isnan(softmax_scale) ? NAN
                  : huge                    ? static_cast<float>(softmax_scale > 0 ? INFINITY : -INFINITY)
                                            : static_cast<float>(softmax_scale);
  FLASHMLA_CHECK_VALUE(std::isnan(f) || huge || softmax_scale == 0.0 || std::fabs(f) >= std::numeric_limits<float>::min(),
                    op, ": softmax_scale: expected a normal float32 in (0, 1e4], got ", softmax_scale,
                    " (rounds to a float32 zero or subnormal)");
  args.softmax_scale = f;
  args.debug_checks = debug_mode();

  DeviceContext ctx(dev);
  const int64_t b = size(q, 0), s_q = size(q, 1), h_q = size(q, 2);
  Tensor out = new_empty({b, s_q, h_q, 512}, dt::kBF16, dev);
  Tensor lse = new_empty_strided({b, h_q, s_q}, {s_q * h_q, 1, h_q}, dt::kFP32, dev);  // [b, h_q, s_q] of a [b, s_q, h_q] buffer, as upstream returns it
  args.out = output_view(out);
  args.lse = output_view(lse);
  args.stream = ctx.stream;
  // Small batches split each top-k list across CTAs (docs/sparse_decode.md): the partials need a
  // workspace, from the caching allocator (stream-ordered, graph-pool aware), freed when this returns.
  // Shapes the library will reject size nothing: it reports them.
  std::optional<Workspace> workspace;
  if (dev.is_cuda() && dim(indices) == 3 && size(q, 0) <= std::numeric_limits<int32_t>::max() &&
      size(q, 1) <= std::numeric_limits<int32_t>::max() && size(q, 2) <= std::numeric_limits<int32_t>::max() &&
      size(indices, 2) <= std::numeric_limits<int32_t>::max()) {
    const bool extra = defined(extra_indices) && dim(*extra_indices) == 3 &&
                       size(*extra_indices, 2) <= std::numeric_limits<int32_t>::max();
    const size_t bytes = flashmla::sparse_decode_workspace_size(
        static_cast<int32_t>(b), static_cast<int32_t>(s_q), static_cast<int32_t>(h_q),
        static_cast<int32_t>(size(indices, 2)), extra ? static_cast<int32_t>(size(*extra_indices, 2)) : 0);
    FLASHMLA_CHECK_VALUE(bytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()), op,
                      ": workspace_bytes: expected a size that fits in int64, got an overflowing size for q ",
                      sizes(q));
    if (bytes > 0) {
      workspace.emplace(bytes);
      args.workspace = workspace->get();
      args.workspace_bytes = bytes;
    }
  }
  check(flashmla::sparse_decode(args), op);
  return {std::move(out), std::move(lse)};
}

// The C++ cache writer / reader (CPU tensors), so that tests can compare them with quant.py byte for byte.
// format: 576 -> V32, 512 -> MODEL1 (the d_qk that selects it).
flashmla::KvFormat format_of(int64_t d_qk, const char* op) {
  FLASHMLA_CHECK_VALUE(d_qk == 576 || d_qk == 512, op, ": d_qk: expected 576 (V32) or 512 (MODEL1), got ", d_qk);
  return d_qk == 576 ? flashmla::KvFormat::kSparseV32 : flashmla::KvFormat::kSparseModel1;
}

Tensor quantize_kv_cache(const Tensor& input) {
  const char* op = "flash_mla.quantize_kv_cache";
  FLASHMLA_CHECK_VALUE(dim(input) == 4, op, ": input: expected rank 4 [num_blocks, page_block_size, 1, d_qk], got ",
                    sizes(input));
  const flashmla::KvFormat f = format_of(size(input, 3), op);
  const int64_t bpt = f == flashmla::KvFormat::kSparseV32 ? 656 : 584;
  Tensor cache = new_empty({size(input, 0), size(input, 1), 1, bpt}, dt::kUInt8, device(input));
  check(flashmla::quantize_kv_cache(f, to_view(input, op, "input", "bfloat16"), output_view(cache)), op);
  return cache;
}

Tensor dequantize_kv_cache(const Tensor& cache, int64_t d_qk) {
  const char* op = "flash_mla.dequantize_kv_cache";
  const flashmla::KvFormat f = format_of(d_qk, op);
  FLASHMLA_CHECK_VALUE(dim(cache) == 4, op, ": cache: expected rank 4, got ", sizes(cache));
  Tensor out = new_empty({size(cache, 0), size(cache, 1), 1, d_qk}, dt::kBF16, device(cache));
  check(flashmla::dequantize_kv_cache(f, to_view(cache, op, "cache", kCacheTypes), output_view(out)), op);
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_FRAGMENT(flash_mla, m) {
  m.def("sparse_decode(Tensor q, Tensor k_cache, Tensor indices, float softmax_scale, Tensor? attn_sink, "
        "Tensor? extra_k_cache, Tensor? extra_indices, Tensor? topk_length, Tensor? extra_topk_length) "
        "-> (Tensor, Tensor)");
  m.def("quantize_kv_cache(Tensor input) -> Tensor");
  m.def("dequantize_kv_cache(Tensor cache, int d_qk) -> Tensor");
}

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CPU, m) {
  m.impl("sparse_decode", TORCH_BOX(&sparse_decode));
  m.impl("quantize_kv_cache", TORCH_BOX(&quantize_kv_cache));
  m.impl("dequantize_kv_cache", TORCH_BOX(&dequantize_kv_cache));
}

STABLE_TORCH_LIBRARY_IMPL(flash_mla, CUDA, m) { m.impl("sparse_decode", TORCH_BOX(&sparse_decode)); }
