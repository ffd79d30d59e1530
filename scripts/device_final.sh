#!/usr/bin/env bash
# The closing verification call of a session that changed the dense FP8 kernel (2026-12-02, session 6):
# gpu_check build + kernels + the whole GPU and CPU suites + compute-sanitizer (all four tools) on the
# dense and FP8 families; the same-run FP8-cache A/B against an old tree; the dense bf16 rows of this
# tree. Logs packed into $OUT/logs.tgz, the JSON beside it (a device call returns at most 8 files).
#   FLASHMLA_GIT_COMMIT=<hash> scripts/device_final.sh .ab_old
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
old="${1:?usage: device_final.sh OLD_TREE}" out="${OUT:?run on the device machine}"
mkdir -p "$out/logs"
export FLASHMLA_GPU_TEST_JOBS="${FLASHMLA_GPU_TEST_JOBS:-12}" FLASHMLA_TEST_TIMEOUT=120 FLASHMLA_SANITIZER_TIMEOUT=90
export FLASHMLA_SANITIZER_FAMILIES="flashmla_gpu_dense_fp8_tests=GpuDenseFp8Decode.EveryPartitionCountMatches:GpuDenseFp8Decode.DescaleRange:GpuDenseFp8Convert.*"
OUT="$out/logs" timeout "${FINAL_CHECK_BUDGET:-340}" bash scripts/gpu_check.sh build kernels tests sanitizer >"$out/logs/gpu_check.log" 2>&1
grep -E '^\[gpu_check\]|gpu_check\] (build|kernels|tests|sanitizer):' "$out/logs/gpu_check.log" | grep -v '===' | cut -c1-600
cp build/gpu/Testing/Temporary/LastTest.log "$out/logs/ctest_last.log" 2>/dev/null
echo "== FP8-cache A/B: $old vs this tree"
OUT="$out" AB_BENCH_ARGS=--fp8-cache timeout 170 bash scripts/bench_ab.sh "$old" compute,memory,latency 2 2>&1 | tail -25
echo "== dense bf16 rows of this tree"
timeout 60 build/ab-b/bench/flashmla_bench --set compute,memory,latency --out "$out/bench-bf16.json" >"$out/logs/bench-bf16.log" 2>&1
grep -E '^\[[0-9]+/[0-9]+\]|^target|host overhead' "$out/logs/bench-bf16.log" | sed 's/ (mean L.*);/;/' | cut -c1-200
(cd "$out" && mv ./*.log logs/ 2>/dev/null; tar czf logs.tgz logs && rm -rf logs)
