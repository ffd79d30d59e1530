#!/usr/bin/env bash
# Same-run A/B of the dense decode benchmark on a Hopper machine: the tree in $1 (e.g. `git archive
# <rev>` unpacked into an ignored folder) against this tree, alternating A, B, A, B so that clock and
# power drift hit both equally. Each run measures its own ceilings; compare ratios within one run.
#
#   scripts/bench_ab.sh OLD_TREE [SETS] [ROUNDS]     e.g. scripts/bench_ab.sh .ab_old compute,memory 2
#   AB_ENV_B="NAME=1" scripts/bench_ab.sh same [SETS] [ROUNDS]
#                                                    one build of this tree; side B runs with the environment
#                                                    assignment AB_ENV_B (a run-time switch of an experiment)
#   AB_BENCH_ARGS="--fp8-cache"                      extra flashmla_bench arguments for both sides
#   AB_COMMIT_A=<rev>                                the commit side A's JSON records (the old tree is a git
#                                                    archive without .git; without this, both sides record
#                                                    $FLASHMLA_GIT_COMMIT, i.e. side B's commit)
#
# Builds flashmla_bench of both trees (Release, CUDA on, tests off) into build/ab-a and build/ab-b and
# writes $OUT (or build/ab) / ab-{a,b}-<round>.json plus a summary table of per-case B/A time ratios.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1
old="${1:?usage: bench_ab.sh OLD_TREE [SETS] [ROUNDS]}"
sets="${2:-compute,memory}"
rounds="${3:-2}"
out="${OUT:-$ROOT/build/ab}"
mkdir -p "$out"
build() {  # build <src> <dir>
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_ENABLE_CUDA=ON -DFLASHMLA_BUILD_TESTS=OFF \
    -DFLASHMLA_BUILD_BENCH=ON >"$2.configure.log" 2>&1 && cmake --build "$2" -j"$(num_jobs)" --target flashmla_bench >"$2.build.log" 2>&1
}
mkdir -p build
if [ "$old" = same ]; then
  [ -n "${AB_ENV_B:-}" ] || { echo "bench_ab.sh same: set AB_ENV_B (e.g. AB_ENV_B=FLASHMLA_X=1)"; exit 1; }
  build "$ROOT" build/ab-b || { echo "build failed (build/ab-b.build.log)"; tail -20 build/ab-b.build.log; exit 1; }
  bin_a=build/ab-b/bench/flashmla_bench env_b=("$AB_ENV_B")
else
  build "$old" build/ab-a & pa=$!
  build "$ROOT" build/ab-b & pb=$!
  wait $pa || { echo "build of $old failed (build/ab-a.build.log)"; tail -20 build/ab-a.build.log; exit 1; }
  wait $pb || { echo "build of this tree failed (build/ab-b.build.log)"; tail -20 build/ab-b.build.log; exit 1; }
  bin_a=build/ab-a/bench/flashmla_bench env_b=()
fi
for r in $(seq 1 "$rounds"); do
  for side in a b; do
    echo "== round $r: $side"
    if [ "$side" = a ]; then
      env ${AB_COMMIT_A:+FLASHMLA_GIT_COMMIT=$AB_COMMIT_A} "$bin_a" --set "$sets" ${AB_BENCH_ARGS:-} \
        --out "$out/ab-a-$r.json" >"$out/ab-a-$r.log" 2>&1
    else
      env "${env_b[@]}" build/ab-b/bench/flashmla_bench --set "$sets" ${AB_BENCH_ARGS:-} --out "$out/ab-b-$r.json" >"$out/ab-b-$r.log" 2>&1
    fi || { echo "bench $side failed"; tail -20 "$out/ab-$side-$r.log"; }
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, sys, statistics
out, rounds = sys.argv[1], int(sys.argv[2])
def times(side):
    per = {}
    for r in range(1, rounds + 1):
        try:
            d = json.load(open(f"{out}/ab-{side}-{r}.json"))
        except Exception as e:
            print("missing", side, r, e); continue
        for c in d.get("cases", []):
            t = c.get("best_us") or min(x for x in (c.get("eager_us"), c.get("graph_us")) if x)
            per.setdefault(c["name"], []).append(t)
    return {k: min(v) for k, v in per.items()}
a, b = times("a"), times("b")
ratios = []
print(f"{'case':55s} {'A us':>9s} {'B us':>9s} {'B/A':>6s}")
for k in sorted(a):
    if k in b:
        ratios.append(b[k] / a[k])
        print(f"{k:55s} {a[k]:9.1f} {b[k]:9.1f} {b[k]/a[k]:6.3f}")
if ratios:
    print(f"B/A: min {min(ratios):.3f} median {statistics.median(ratios):.3f} max {max(ratios):.3f} over {len(ratios)} cases")
PY
