#!/usr/bin/env bash
# The dense bf16 split kernel's ablation study (docs/perf-log.md §25) in one device call: builds the
# benchmark once per variant of docs/experiments/s16-dense-ablations.patch (macro FLASHMLA_ABLATE in a
# generated header, so each rebuild recompiles only the dense TUs), times every variant on the same rows
# in alternated rounds, and prints each variant's best time over the unchanged kernel's. The variants
# compute wrong results on purpose (no loads, no softmax, ...): only their time means anything.
#
#   scripts/dense_ablations.sh [VARIANTS] [ROUNDS]     (default "1 2 3 4 5 7", 2 rounds)
#
#   1 no softmax math      2 consumer 1 skips the wait for m_A   3 no TMA after each stage's first fill
#   4 no P*V               5 Q*K^T over 8 of 36 k-steps         7 L2-resident pages (first 8 block ids)
#   8/9/10 L2 bulk prefetches (further ahead / next pair, tile 0 / next pair, every tile)
#   (6, consumers never waiting on K data, deadlocks: not offered.)
# Environment: ABL_CASES (gtest-style pattern of flashmla_bench cases; default: b128 s_q 1 8k and s_q 2
# 16k at h128, b128 h16 16k, b32 8k), ABL_SETS (default compute,memory,latency), ABL_RUN_TIMEOUT (s per
# benchmark run, default 90). The patch applies to the tree it was written on (ca6a743 and later, until
# the dense kernel changes); a failed apply is reported, not papered over.
# Output: $OUT (or build/ablations)/abl<V>_r<R>.json and .txt, and the table on stdout.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1
VARIANTS="${1:-1 2 3 4 5 7}"
ROUNDS="${2:-2}"
OUT_DIR="${OUT:-$ROOT/build/ablations}"
CASES="${ABL_CASES:-b128_sq2_h128_hkv1_Lvar16384_nocausal*:b128_sq1_h128_hkv1_Lvar8192_nocausal*:b128_sq1_h16_hkv1_Lvar16384_nocausal*:b32_sq1_h128_hkv1_L8192*}"
SETS="${ABL_SETS:-compute,memory,latency}"
TMO="${ABL_RUN_TIMEOUT:-90}"
PATCH="$ROOT/docs/experiments/s16-dense-ablations.patch"
TREE="$ROOT/build/ablate_src"
mkdir -p "$OUT_DIR"

# A copy of the working tree with the patch applied; one build directory for all variants.
rm -rf "$TREE" && mkdir -p "$TREE"
tar --exclude=./build --exclude=./.git --exclude=./.ab_old -cf - . | tar xf - -C "$TREE" || exit 1
if ! (cd "$TREE" && patch -p1 --forward <"$PATCH" >"$OUT_DIR/patch.log" 2>&1); then
  echo "dense_ablations: $PATCH does not apply to this tree (see $OUT_DIR/patch.log)"
  exit 1
fi
cmake -S "$TREE" -B "$TREE/b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_BUILD_TESTS=OFF -DFLASHMLA_BUILD_BENCH=ON \
  >"$OUT_DIR/configure.log" 2>&1 || { echo "dense_ablations: configure failed"; exit 1; }
for v in 0 $VARIANTS; do
  echo "#define FLASHMLA_ABLATE $v" >"$TREE/src/kernels/sm90/decode_dense_common/ablate.h"
  if cmake --build "$TREE/b" -j"$(num_jobs)" --target flashmla_bench >"$OUT_DIR/build_$v.log" 2>&1; then
    cp "$TREE/b/bench/flashmla_bench" "$OUT_DIR/bench_abl$v"
  else
    echo "dense_ablations: variant $v failed to build (build_$v.log)"
  fi
done

for r in $(seq 1 "$ROUNDS"); do
  for v in 0 $VARIANTS; do
    exe="$OUT_DIR/bench_abl$v"
    [ -x "$exe" ] || continue
    timeout "$TMO" "$exe" --set "$SETS" --case "$CASES" --no-ceilings --warmup 2 --iters 10 --repeats 3 \
      --out "$OUT_DIR/abl${v}_r$r.json" >"$OUT_DIR/abl${v}_r$r.txt" 2>&1 || echo "variant $v round $r: rc $? (timeout = $TMO s)"
  done
done

# shellcheck disable=SC2086  # VARIANTS is a list of variant numbers
python3 - "$OUT_DIR" 0 $VARIANTS <<'EOF'
import json, os, sys
out, variants = sys.argv[1], sys.argv[2:]
best = {}
for v in variants:
    for f in sorted(os.listdir(out)):
        if f.startswith(f"abl{v}_r") and f.endswith(".json"):
            for c in json.load(open(os.path.join(out, f))).get("cases", []):
                if "best_us" in c:
                    cur = best.setdefault(c["name"], {}).get(v)
                    best[c["name"]][v] = c["best_us"] if cur is None else min(cur, c["best_us"])
print("case".ljust(46) + "".join(f"{'v' + v:>9}" for v in variants))
for name, row in best.items():
    base = row.get("0")
    cells = [f"{row[v] / base:9.3f}" if base and v in row else f"{'-':>9}" for v in variants]
    print(name[:45].ljust(46) + "".join(cells) + (f"   (v0 {base:.1f} us)" if base else ""))
EOF
