#!/usr/bin/env bash
# The run command: set up, build, then run the benchmark.
#   On a Hopper GPU (sm_90): flashmla_bench --set all (docs/performance.md's cases, ceilings, reference numbers);
#   results in bench/results/<card>-<date>.json and a table at the end.
#   Elsewhere: a small demo on the CPU backend (same CLI, host clock), saying so; its JSON stays in the
#   build directory.
# Arguments are passed to flashmla_bench (e.g. scripts/run.sh --set latency --verify); see
# `build/release/bench/flashmla_bench --help`. FLASHMLA_BUILD_DIR / FLASHMLA_CMAKE_ARGS as in test.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

t=$(now_s)
bash "$ROOT/scripts/setup.sh" --no-python  # the benchmark is C++: no torch needed
log "setup: $(elapsed "$t") s"

t=$(now_s)
mkdir -p "$(dirname "$BUILD_DIR")"
log "building into $BUILD_DIR (Release, -j$(num_jobs))"
# shellcheck disable=SC2119
configure_and_build >"$BUILD_DIR.log" 2>&1 || {
  tail -n 40 "$BUILD_DIR.log"
  die "build failed (full log: $BUILD_DIR.log)"
}
log "build: $(elapsed "$t") s (log: $BUILD_DIR.log)"

bench="$BUILD_DIR/bench/flashmla_bench"
[ -x "$bench" ] || die "$bench was not built (see $BUILD_DIR.log)"

args=("$@")
has_set=0
for a in "${args[@]}"; do
  case "$a" in --set | --set=*) has_set=1 ;; esac
done
[ "$has_set" = 1 ] || args=(--set all "${args[@]}")

if has_hopper_gpu; then
  log "Hopper GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1); running flashmla_bench ${args[*]}"
else
  cap="$(gpu_compute_cap)"
  log "no Hopper GPU found${cap:+ (GPU compute capability $cap)}: running the CPU demo (CPU backend, host clock)"
fi
exec "$bench" "${args[@]}"
