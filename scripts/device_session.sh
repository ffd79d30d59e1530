#!/usr/bin/env bash
# The H200 verification of a session in one device call: gpu_check (build, ptxas/SASS, GPU + CPU tests,
# compute-sanitizer over every kernel family, the dense benchmark, the Python package and its tests),
# then the kernel families' benchmarks (merge bandwidth, sparse decode, sparse prefill). Logs to $OUT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
export FLASHMLA_SANITIZER_TIMEOUT="${FLASHMLA_SANITIZER_TIMEOUT:-90}" FLASHMLA_GPU_TEST_JOBS="${FLASHMLA_GPU_TEST_JOBS:-4}"
bash scripts/gpu_check.sh ${FLASHMLA_DEVICE_STEPS:-build kernels tests sanitizer bench python} >"$OUT/gpu_check.log" 2>&1
b=build/gpu/tests/cpp
{
  echo "== merge bandwidth"; timeout 60 "$b/flashmla_merge_gpu_tests" --gtest_filter='GpuMergePerf.*' 2>&1 | grep -E 'MERGE BW|OK|FAIL'
  echo "== sparse decode benchmark"
  FLASHMLA_SD_BENCH=1 timeout 120 "$b/flashmla_gpu_sparse_decode_tests" --gtest_filter='*Bench*' 2>&1 | grep -E 'BENCH|OK|FAIL'
  echo "== sparse prefill benchmark"
  FLASHMLA_SP_BENCH=1 timeout 120 "$b/flashmla_sparse_prefill_gpu_tests" --gtest_filter='*Bench*' 2>&1 | grep -E 'BENCH|OK|FAIL'
} >"$OUT/family_bench.log" 2>&1
cp build/gpu/Testing/Temporary/LastTest.log "$OUT/ctest_last.log" 2>/dev/null
cat "$OUT/summary.txt" "$OUT/family_bench.log"
grep -E 'host overhead|flash_mla_with_kvcache \(gen|torch.ops.flash_mla.decode ' "$OUT/python.log" | head -5
