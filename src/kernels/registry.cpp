// The variant tables (see registry.h). One section per operation; within a section the CPU reference
// comes first, then the sm90 kernels. Entries are constant data: selecting costs a few comparisons.
#include "kernels/registry.h"

#include "common/decode_problem.h"
#include "cpu/cpu_backend.h"
#include "common/merge_problem.h"
#include "cpu/merge.h"
#include "common/sparse_prefill_problem.h"
#include "cpu/sparse_prefill.h"
#include "common/sparse_decode_problem.h"
#include "cpu/sparse_decode.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include "kernels/common/sched_meta.h"
#include "kernels/sm90/decode_dense/variant.h"
#include "kernels/sm90/decode_dense_fp8/variant.h"
#include "kernels/common/merge/variant.h"
#include "kernels/sm90/sparse_prefill/variant.h"
#include "kernels/sm90/sparse_decode/variant.h"
#define FLASHMLA_REGISTRY_CUDA 1
#else
#define FLASHMLA_REGISTRY_CUDA 0
#endif

namespace flashmla::registry {
namespace {

template <class Problem>
size_t no_workspace(const Problem&) {
  return 0;
}
template <class Problem>
Status always(const Problem&) {
  return Status::Ok();
}
template <class Problem, size_t N>
Table<Problem> table_of(const Variant<Problem> (&v)[N]) {
  return Table<Problem>{v, N};
}

// ---- schedule (split-KV plan of one decoding step) ----------------------------------------------------
const Variant<ScheduleProblem> kScheduleVariants[] = {
    {"cpu/schedule", {Op::kSchedule, Backend::kCpu, DType::kInt32, KvFormat::kDenseBF16}, kFeatureNone,
     always<ScheduleProblem>, no_workspace<ScheduleProblem>, cpu::run_schedule},
#if FLASHMLA_REGISTRY_CUDA
    {"sm90/schedule", {Op::kSchedule, Backend::kSm90, DType::kInt32, KvFormat::kDenseBF16}, kFeatureNone,
     gpu::supports_schedule, no_workspace<ScheduleProblem>, gpu::run_schedule},
#endif
};

// ---- dense decode -------------------------------------------------------------------------------------
const Variant<DecodeProblem> kDecodeVariants[] = {
    {"cpu/decode/bf16", {Op::kDecode, Backend::kCpu, DType::kBF16, KvFormat::kDenseBF16}, kFeatureCausal,
     always<DecodeProblem>, no_workspace<DecodeProblem>, cpu::run_decode},
    {"cpu/decode/fp16", {Op::kDecode, Backend::kCpu, DType::kFP16, KvFormat::kDenseFP16}, kFeatureCausal,
     always<DecodeProblem>, no_workspace<DecodeProblem>, cpu::run_decode},
    // Dense FP8 (e4m3) cache with per-tensor descales (§8); the sm90 bf16-q kernel is below.
    {"cpu/decode/fp8kv_bf16q", {Op::kDecode, Backend::kCpu, DType::kBF16, KvFormat::kDenseFP8}, kFeatureCausal,
     always<DecodeProblem>, no_workspace<DecodeProblem>, cpu::run_decode},
    {"cpu/decode/fp8kv_fp8q", {Op::kDecode, Backend::kCpu, DType::kFP8E4M3, KvFormat::kDenseFP8}, kFeatureCausal,
     always<DecodeProblem>, no_workspace<DecodeProblem>, cpu::run_decode},
#if FLASHMLA_REGISTRY_CUDA
    {"sm90/decode_dense/bf16", {Op::kDecode, Backend::kSm90, DType::kBF16, KvFormat::kDenseBF16}, kFeatureCausal,
     sm90::dense::supports, sm90::dense::workspace_bytes, sm90::dense::run<false>},
#if defined(FLASHMLA_ENABLE_FP16)
    {"sm90/decode_dense/fp16", {Op::kDecode, Backend::kSm90, DType::kFP16, KvFormat::kDenseFP16}, kFeatureCausal,
     sm90::dense::supports, sm90::dense::workspace_bytes, sm90::dense::run<true>},
#endif
    // Dense FP8 cache, descales read on the device (docs/dense_fp8.md). bf16 q: the page converted to
    // bf16 in shared memory (exact), bf16 WGMMA; fp8 q: QGMMA on the e4m3 bytes, V transposed, P in e4m3.
    {"sm90/decode_dense_fp8/bf16q", {Op::kDecode, Backend::kSm90, DType::kBF16, KvFormat::kDenseFP8}, kFeatureCausal,
     sm90::dense_fp8::supports, sm90::dense_fp8::workspace_bytes, sm90::dense_fp8::run<false>},
    {"sm90/decode_dense_fp8/fp8q", {Op::kDecode, Backend::kSm90, DType::kFP8E4M3, KvFormat::kDenseFP8}, kFeatureCausal,
     sm90::dense_fp8::supports, sm90::dense_fp8::workspace_bytes, sm90::dense_fp8::run<true>},
#endif
};

// ---- merge_partial_attention (context-parallel merge; key q_dtype = outs dtype, kv_format unused) -------
// kv_format is a don't-care for this op: src/api/merge.cpp always asks for kDenseBF16.
const Variant<MergeProblem> kMergeVariants[] = {
    {"cpu/merge/bf16", {Op::kMerge, Backend::kCpu, DType::kBF16, KvFormat::kDenseBF16}, kFeatureNone,
     always<MergeProblem>, no_workspace<MergeProblem>, cpu::run_merge},
    {"cpu/merge/fp16", {Op::kMerge, Backend::kCpu, DType::kFP16, KvFormat::kDenseBF16}, kFeatureNone,
     always<MergeProblem>, no_workspace<MergeProblem>, cpu::run_merge},
    {"cpu/merge/fp32", {Op::kMerge, Backend::kCpu, DType::kFP32, KvFormat::kDenseBF16}, kFeatureNone,
     always<MergeProblem>, no_workspace<MergeProblem>, cpu::run_merge},
#if FLASHMLA_REGISTRY_CUDA
    {"sm90/merge/bf16", {Op::kMerge, Backend::kSm90, DType::kBF16, KvFormat::kDenseBF16}, kFeatureNone,
     kernels::merge::supports, no_workspace<MergeProblem>, kernels::merge::run},
    {"sm90/merge/fp16", {Op::kMerge, Backend::kSm90, DType::kFP16, KvFormat::kDenseBF16}, kFeatureNone,
     kernels::merge::supports, no_workspace<MergeProblem>, kernels::merge::run},
    {"sm90/merge/fp32", {Op::kMerge, Backend::kSm90, DType::kFP32, KvFormat::kDenseBF16}, kFeatureNone,
     kernels::merge::supports, no_workspace<MergeProblem>, kernels::merge::run},
#endif
};

// ---- sparse decode (top-k over an FP8 V32 / MODEL1 cache) ---------------------------------------------
constexpr uint32_t kSparseDecodeFeatures = kFeatureAttnSink | kFeatureTopkLength | kFeatureExtraCache;
const Variant<SparseDecodeProblem> kSparseDecodeVariants[] = {
    {"cpu/sparse_decode/v32", {Op::kSparseDecode, Backend::kCpu, DType::kBF16, KvFormat::kSparseV32},
     kSparseDecodeFeatures, always<SparseDecodeProblem>, no_workspace<SparseDecodeProblem>, cpu::run_sparse_decode},
    {"cpu/sparse_decode/model1", {Op::kSparseDecode, Backend::kCpu, DType::kBF16, KvFormat::kSparseModel1},
     kSparseDecodeFeatures, always<SparseDecodeProblem>, no_workspace<SparseDecodeProblem>, cpu::run_sparse_decode},
#if FLASHMLA_REGISTRY_CUDA
    {"sm90/sparse_decode/v32", {Op::kSparseDecode, Backend::kSm90, DType::kBF16, KvFormat::kSparseV32},
     kSparseDecodeFeatures, sm90::sparse_decode::supports, sm90::sparse_decode::workspace_bytes,
     sm90::sparse_decode::run_v32},
    {"sm90/sparse_decode/model1", {Op::kSparseDecode, Backend::kSm90, DType::kBF16, KvFormat::kSparseModel1},
     kSparseDecodeFeatures, sm90::sparse_decode::supports, sm90::sparse_decode::workspace_bytes,
     sm90::sparse_decode::run_model1},
#endif
};

// ---- sparse prefill (top-k gather attention, bf16 kv; d_qk 512 / 576) ---------------------------------
constexpr uint32_t kSparsePrefillFeatures = kFeatureAttnSink | kFeatureTopkLength;
const Variant<SparsePrefillProblem> kSparsePrefillVariants[] = {
    {"cpu/sparse_prefill/bf16", {Op::kSparsePrefill, Backend::kCpu, DType::kBF16, KvFormat::kDenseBF16},
     kSparsePrefillFeatures, always<SparsePrefillProblem>, no_workspace<SparsePrefillProblem>, cpu::run_sparse_prefill},
#if FLASHMLA_REGISTRY_CUDA
    {"sm90/sparse_prefill/d576", {Op::kSparsePrefill, Backend::kSm90, DType::kBF16, KvFormat::kDenseBF16},
     kSparsePrefillFeatures, sm90::sparse_prefill::supports<576>, no_workspace<SparsePrefillProblem>,
     sm90::sparse_prefill::run<576>},
    {"sm90/sparse_prefill/d512", {Op::kSparsePrefill, Backend::kSm90, DType::kBF16, KvFormat::kDenseBF16},
     kSparsePrefillFeatures, sm90::sparse_prefill::supports<512>, no_workspace<SparsePrefillProblem>,
     sm90::sparse_prefill::run<512>},
#endif
};

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kSchedule: return "compute_schedule";
    case Op::kDecode: return "decode";
    case Op::kSparseDecode: return "sparse_decode";
    case Op::kSparsePrefill: return "sparse_prefill";
    case Op::kMerge: return "merge_partial_attention";
  }
  return "unknown operation";
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::kCpu: return "cpu";
    case Backend::kSm90: return "sm90";
  }
  return "unknown backend";
}

Status no_variant(const VariantKey& key, uint32_t missing_features, const std::string& available) {
  std::string what = std::string(op_name(key.op)) + ": no " + backend_name(key.backend) + " variant for q.dtype " +
                     dtype_name(key.q_dtype) + " with a " + kv_format_name(key.kv_format) + " cache";
  if (missing_features != 0) what += " and features 0x" + std::to_string(missing_features);
  if (key.backend == Backend::kSm90 && !FLASHMLA_REGISTRY_CUDA)
    what += " (flashmla was built without CUDA kernels: FLASHMLA_ENABLE_CUDA=OFF)";
  what += "; this build has: " + (available.empty() ? std::string("none") : available);
  return Status(StatusCode::kNotSupported, what, ErrorKind::kType);
}

const Table<ScheduleProblem>& schedule_variants() {
  static const Table<ScheduleProblem> t = table_of(kScheduleVariants);
  return t;
}
const Table<DecodeProblem>& decode_variants() {
  static const Table<DecodeProblem> t = table_of(kDecodeVariants);
  return t;
}
const Table<MergeProblem>& merge_variants() {
  static const Table<MergeProblem> t = table_of(kMergeVariants);
  return t;
}
const Table<SparsePrefillProblem>& sparse_prefill_variants() {
  static const Table<SparsePrefillProblem> t = table_of(kSparsePrefillVariants);
  return t;
}
const Table<SparseDecodeProblem>& sparse_decode_variants() {
  static const Table<SparseDecodeProblem> t = table_of(kSparseDecodeVariants);
  return t;
}

}  // namespace flashmla::registry
