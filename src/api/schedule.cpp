// query_num_sm_parts(), compute_schedule(): the split-KV plan of one decoding step, through the registry.
#include <cstdint>
#include <string>

#include "api/checks.h"
#include "api/decode_validation.h"
#include "api/guard.h"
#include "common/decode_problem.h"
#include "common/split_plan.h"
#include "common/tile_map.h"
#include "flashmla/flashmla.h"
#include "kernels/registry.h"

#if defined(FLASHMLA_WITH_CUDA) && FLASHMLA_WITH_CUDA
#include "kernels/gpu_backend.h"
#define FLASHMLA_SCHEDULE_CUDA 1
#else
#define FLASHMLA_SCHEDULE_CUDA 0
#endif

namespace flashmla {
namespace detail {

using namespace checks;  // NOLINT

// The SM count the CPU backend plans for: an H100/H200 (132 SMs), so CPU and GPU plans are comparable.
constexpr int32_t kCpuPlanNumSms = 132;

Status validate_sm_parts_query(int32_t num_q_rows_per_head_k, int32_t num_heads_k, int32_t s_q) {
  if (num_q_rows_per_head_k < 1)
    return invalid("num_q_rows_per_head_k", ">= 1 (s_q * h_q / h_kv)", cat(num_q_rows_per_head_k));
  if (num_heads_k < 1) return invalid("num_heads_k", cat("1..", kMaxHeadsK), cat(num_heads_k));
  if (num_heads_k > kMaxHeadsK) return unsupported("num_heads_k", cat("1..", kMaxHeadsK), cat(num_heads_k));
  if (s_q < 0) return invalid("s_q", ">= 0 (0 = unknown)", cat(s_q));
  return Status::Ok();
}

Status validate_schedule(const ScheduleArgs& a, int32_t* batch) {
  const TensorView& sl = a.cache_seqlens;
  // The device of cache_seqlens is the reference for the outputs.
  FLASHMLA_RETURN_IF_ERROR(check_rank(sl, "cache_seqlens", 1, "[b]"));
  FLASHMLA_RETURN_IF_ERROR(check_device_known(sl, "cache_seqlens"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(sl, "cache_seqlens", DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(sl, "cache_seqlens"));
  const int64_t b = sl.shape[0];
  if (b < 1 || b > kMaxBatch)
    return invalid(dim_name("cache_seqlens", 0, "batch"), cat("1..", kMaxBatch), cat(b), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(sl, "cache_seqlens"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(sl, "cache_seqlens"));
  FLASHMLA_RETURN_IF_ERROR(validate_sm_parts_query(a.num_q_rows_per_head_k, a.num_heads_k, a.s_q));

  const bool cuda = sl.is_cuda();
  const TensorView& md = a.tile_scheduler_metadata;
  const TensorView& ns = a.num_splits;
  const char* md_name = "tile_scheduler_metadata";
  FLASHMLA_RETURN_IF_ERROR(check_rank(md, md_name, 2, "[num_sm_parts, 8]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(md, md_name, sl, "cache_seqlens"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(md, md_name, DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(md, md_name));
  if (md.shape[0] < 1 || md.shape[0] > kMaxSmParts)
    return invalid(dim_name(md_name, 0, "num_sm_parts"), cat("1..", kMaxSmParts), cat(md.shape[0]), ErrorKind::kShape);
  if (md.shape[1] != kScheduleRecordInts)
    return invalid(dim_name(md_name, 1, "record size"), cat(kScheduleRecordInts), cat(md.shape[1]), ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(md, md_name));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(md, md_name, cuda ? kBaseAlignBytes : 0, "vector loads and stores of records"));
  if (a.num_sm_parts != md.shape[0])
    return invalid("num_sm_parts", cat(md.shape[0], " (tile_scheduler_metadata.shape[0])"), cat(a.num_sm_parts));
  FLASHMLA_RETURN_IF_ERROR(check_rank(ns, "num_splits", 1, "[b + 1]"));
  FLASHMLA_RETURN_IF_ERROR(check_same_device(ns, "num_splits", sl, "cache_seqlens"));
  FLASHMLA_RETURN_IF_ERROR(check_dtype(ns, "num_splits", DType::kInt32));
  FLASHMLA_RETURN_IF_ERROR(check_sizes(ns, "num_splits"));
  if (ns.shape[0] != b + 1)
    return invalid(dim_name("num_splits", 0, nullptr), cat(b + 1, " (b + 1, b = ", b, ")"), cat(ns.shape[0]),
                   ErrorKind::kShape);
  FLASHMLA_RETURN_IF_ERROR(check_contiguous(ns, "num_splits"));
  FLASHMLA_RETURN_IF_ERROR(check_pointer(ns, "num_splits"));

  // The outputs must overlap neither the input nor each other.
  const ByteRange r_sl = range_of(sl, "cache_seqlens"), r_md = range_of(md, md_name), r_ns = range_of(ns, "num_splits");
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_md, r_sl));
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ns, r_sl));
  FLASHMLA_RETURN_IF_ERROR(check_disjoint(r_ns, r_md));
  if (batch) *batch = static_cast<int32_t>(b);
  return Status::Ok();
}

}  // namespace detail

Status query_num_sm_parts(DeviceType device, int32_t device_index, int32_t num_q_rows_per_head_k,
                          int32_t num_heads_k, int32_t s_q, int32_t* num_sm_parts) noexcept {
  return detail::guarded("query_num_sm_parts", [&]() -> Status {
    if (num_sm_parts == nullptr)
      return Status(StatusCode::kInvalidArgument, "num_sm_parts: expected a non-null pointer, got null",
                    ErrorKind::kPointer);
    FLASHMLA_RETURN_IF_ERROR(detail::validate_sm_parts_query(num_q_rows_per_head_k, num_heads_k, s_q));
    int32_t num_sms = 0;
    if (device == DeviceType::kCPU) {
      num_sms = detail::kCpuPlanNumSms;
    } else if (device == DeviceType::kCUDA) {
#if FLASHMLA_SCHEDULE_CUDA
      if (device_index < 0)
        return checks::invalid("device_index", ">= 0", checks::cat(device_index), ErrorKind::kDevice);
      gpu::DeviceInfo info;
      FLASHMLA_RETURN_IF_ERROR(gpu::check_sm90_device(device_index, &info));
      num_sms = info.num_sms;
#else
      return checks::unsupported("device", "cpu (flashmla was built without CUDA kernels: FLASHMLA_ENABLE_CUDA=OFF)",
                                 checks::device_string(device, device_index), ErrorKind::kDevice);
#endif
    } else {
      return checks::invalid("device", "cpu or cuda", checks::device_string(device, device_index), ErrorKind::kDevice);
    }
    *num_sm_parts = plan::num_sm_parts_for(num_sms, plan::num_m_tiles(num_q_rows_per_head_k, s_q), num_heads_k);
    return Status::Ok();
  });
}

Status compute_schedule(const ScheduleArgs& args) noexcept {
  return detail::guarded("compute_schedule", [&]() -> Status {
    ScheduleProblem pr;
    pr.args = &args;
    FLASHMLA_RETURN_IF_ERROR(detail::validate_schedule(args, &pr.batch));
    registry::VariantKey key;
    key.op = registry::Op::kSchedule;
    key.backend = args.cache_seqlens.is_cuda() ? registry::Backend::kSm90 : registry::Backend::kCpu;
    key.q_dtype = DType::kInt32;
    key.kv_format = KvFormat::kDenseBF16;
    const registry::Variant<ScheduleProblem>* v = nullptr;
    FLASHMLA_RETURN_IF_ERROR(registry::select(registry::schedule_variants(), key, registry::kFeatureNone, pr, &v));
    return v->run(pr);
  });
}

}  // namespace flashmla
