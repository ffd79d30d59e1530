#!/usr/bin/env bash
# The H200 verification of a session in one device call: gpu_check (build, ptxas/SASS, GPU + CPU tests,
# compute-sanitizer over every kernel family, the dense benchmark, the Python package and its tests),
# then the kernel families' extra benchmarks (merge bandwidth, dense FP8 cache timing). Logs to $OUT, packed
# into logs.tgz (with summary.txt and the benchmark JSON beside it: a device call returns at most 8 files).
# The machine's copy of .git can be stale (2026-12-02: the JSON said d9236c9 for a tree at 8513993): pass
# the commit, e.g. FLASHMLA_GIT_COMMIT=<40-hex hash of HEAD> bash scripts/device_session.sh.
# Timings on the H200 machine (2026-12-02, session 6): build 25-36 s (the build folder survives between
# calls), kernels 13 s, GPU + CPU suites 187 s at -j12 (214 s at -j8; the FP8 accuracy cases' CPU
# reference dominates), sanitizer 53-80 s, pip install + pytest > 60 s.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
export FLASHMLA_SANITIZER_TIMEOUT="${FLASHMLA_SANITIZER_TIMEOUT:-90}" FLASHMLA_GPU_TEST_JOBS="${FLASHMLA_GPU_TEST_JOBS:-12}"
# Order: the checks first (a device call is capped at 10 minutes; on 2026-12-02 a bench placed before the
# sanitizer ran long and the sanitizer step was cut), the benchmark last. FLASHMLA_DEVICE_BUDGET caps the
# whole gpu_check run so that the family benchmarks and the log packing below still happen.
timeout "${FLASHMLA_DEVICE_BUDGET:-450}" bash scripts/gpu_check.sh ${FLASHMLA_DEVICE_STEPS:-build kernels tests sanitizer python bench} >"$OUT/gpu_check.log" 2>&1
b=build/gpu/tests/cpp
{
  echo "== merge bandwidth"; timeout 60 "$b/flashmla_merge_gpu_tests" --gtest_filter='GpuMergePerf.*' 2>&1 | grep -E 'MERGE BW|OK|FAIL'
  # (the sparse decode / prefill rows are in flashmla_bench's `sparse` and `sparse_prefill` sets)
  # (the gtest timing rows duplicate the --fp8-cache bench rows below: skipped when those run)
  if [ "${FLASHMLA_FP8_BENCH:-0}" != 1 ]; then
    echo "== dense FP8 cache timing (beside the bf16 kernel)"
    FLASHMLA_FP8_TIMING=1 timeout 60 "$b/flashmla_gpu_dense_fp8_tests" --gtest_filter='*Timing*' 2>&1 | grep -E 'fp8kv timing|OK|FAIL'
  fi
  # FLASHMLA_FP8_BENCH=1: the dense sets over the FP8 cache (bf16 q, then fp8 q) with flashmla_bench, each
  # row against vLLM's fork (the reference's dense_fp8 rows); JSON beside the logs. ~70 s each.
  if [ "${FLASHMLA_FP8_BENCH:-0}" = 1 ]; then
    for q in "" "--fp8-q"; do
      echo "== flashmla_bench --fp8-cache $q"
      timeout 90 build/gpu/bench/flashmla_bench --set compute,memory,latency --fp8-cache $q \
        --out "$OUT/bench-fp8kv${q:+-fp8q}.json" 2>&1 | tail -12
    done
  fi
} >"$OUT/family_bench.log" 2>&1
cp build/gpu/Testing/Temporary/LastTest.log "$OUT/ctest_last.log" 2>/dev/null
# At most 8 files come back from a device call: pack the logs (the JSON results stay separate).
cat "$OUT/summary.txt" "$OUT/family_bench.log"
grep -E 'host overhead|flash_mla_with_kvcache \(gen|torch.ops.flash_mla.decode ' "$OUT/python.log" | head -5
(cd "$OUT" && tar czf logs.tgz ./*.log ./*.txt 2>/dev/null && find . -maxdepth 1 \( -name '*.log' -o -name '*.txt' \) ! -name summary.txt -delete)
