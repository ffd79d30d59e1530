#!/usr/bin/env bash
# One device call for a kernel change: build (gpu_check build + kernels), the given GPU test
# executables in one process each, compute-sanitizer memcheck + racecheck on a filter, then the
# same-run A/B of flashmla_bench against an old tree (scripts/bench_ab.sh). Logs packed into
# $OUT/logs.tgz (a device call returns at most 8 files); the A/B JSON stays beside it.
#
#   AB_TESTS="flashmla_gpu_dense_fp8_tests flashmla_gpu_tests" AB_SAN_EXE=flashmla_gpu_dense_fp8_tests \
#   AB_SAN_FILTER='GpuDenseFp8Decode.*' AB_BENCH_ARGS=--fp8-cache scripts/device_ab.sh .ab_old compute,memory 2
#   (AB_COMMIT_A=<rev of .ab_old> makes side A's JSON name the old tree's commit)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
old="${1:?usage: device_ab.sh OLD_TREE [SETS] [ROUNDS]}" sets="${2:-compute,memory}" rounds="${3:-2}"
out="${OUT:?run on the device machine}" logs="$OUT/logs"
mkdir -p "$logs"
b=build/gpu/tests/cpp
OUT="$logs" timeout "${AB_BUILD_TIMEOUT:-240}" bash scripts/gpu_check.sh build kernels >"$logs/gpu_check.log" 2>&1
grep -E '^\[gpu_check\]|\[gpu_check\] (build|kernels)' "$logs/gpu_check.log" | tail -3
for exe in ${AB_TESTS:-}; do
  echo "== $exe"
  timeout "${AB_TEST_TIMEOUT:-150}" "$b/$exe" >"$logs/$exe.log" 2>&1
  echo "rc $?: $(grep -cE '^\[       OK \]' "$logs/$exe.log") OK, $(grep -cE '^\[  FAILED  \]' "$logs/$exe.log") FAILED lines"
  grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$logs/$exe.log" | head -12
done
if [ -n "${AB_SAN_EXE:-}" ]; then
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer $tool $AB_SAN_EXE"
    timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 9 "$b/$AB_SAN_EXE" --gtest_filter="${AB_SAN_FILTER:-*}" \
      >"$logs/san-$tool.log" 2>&1
    echo "rc $?"; grep -E 'SUMMARY|PASSED|FAILED' "$logs/san-$tool.log" | head -4
  done
fi
echo "== A/B $old vs this tree: $sets x $rounds ${AB_BENCH_ARGS:-}"
OUT="$out" timeout "${AB_BENCH_TIMEOUT:-330}" bash scripts/bench_ab.sh "$old" "$sets" "$rounds" 2>&1 | tail -40
(cd "$out" && mv ./*.log "$logs/" 2>/dev/null; tar czf logs.tgz logs && rm -rf logs)
