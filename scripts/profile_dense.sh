#!/usr/bin/env bash
# ncu profile of the dense decode split kernel on a Hopper machine, reduced to text small enough to read
# back: per case, the headline metrics (--set full, details page) and the SASS lines that carry the most
# warp stalls and every line with shared-memory bank conflicts (source page, one row per instruction).
#
#   scripts/profile_dense.sh [BUILD_DIR] [CASE ...]    (default: build/gpu; b128 s_q 2 16k and b32 8k)
#
# Output: $OUT (or BUILD_DIR/profile)/ncu_<case>_{details,stalls,conflicts}.txt and _source.csv.gz. Builds flashmla_bench if
# needed. Clocks are left alone (--clock-control none), as the device notes require.
#   PROFILE_KERNEL=regex (default dense_decode_kernel; the FP8-cache kernel: dense_fp8_decode_kernel)
#   PROFILE_BENCH_ARGS="--fp8-cache" (extra flashmla_bench arguments)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-$ROOT/build/gpu}"
shift || true
CASES=("$@")
[ "${#CASES[@]}" -eq 0 ] && CASES=(b128_sq2_h128_hkv1_Lvar16384_nocausal b32_sq1_h128_hkv1_L8192_causal)
OUT_DIR="${OUT:-$BUILD_DIR/profile}"
mkdir -p "$OUT_DIR"
BENCH="$BUILD_DIR/bench/flashmla_bench"
if [ ! -x "$BENCH" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_BUILD_BENCH=ON \
    -DFLASHMLA_BUILD_TESTS=ON -DFLASHMLA_ENABLE_CUDA=ON >/dev/null && cmake --build "$BUILD_DIR" --target flashmla_bench -j"$(nproc)" >/dev/null || exit 1
fi
for c in "${CASES[@]}"; do
  rep="$BUILD_DIR/profile_$c"
  rm -f "$rep.ncu-rep"
  timeout 240 ncu --clock-control none --kernel-name "regex:${PROFILE_KERNEL:-dense_decode_kernel}" --launch-skip 2 --launch-count 1 \
    --set full --import-source yes -o "$rep" "$BENCH" --case "$c" ${PROFILE_BENCH_ARGS:-} --no-ceilings --warmup 1 --iters 3 --repeats 1 \
    >"$OUT_DIR/ncu_${c}_run.txt" 2>&1 || { echo "ncu failed for $c"; tail -5 "$OUT_DIR/ncu_${c}_run.txt"; continue; }
  ncu --import "$rep.ncu-rep" --page details >"$OUT_DIR/ncu_${c}_details.txt" 2>&1
  if ncu --import "$rep.ncu-rep" --page source --csv --print-source sass >"$BUILD_DIR/src_$c.csv" 2>"$OUT_DIR/ncu_${c}_srcerr.txt"; then
    # The whole per-instruction table too (every column, gzipped): stall samples summed over a code
    # region (e.g. the converter warpgroup's) need every line, not the top 80.
    gzip -c "$BUILD_DIR/src_$c.csv" >"$OUT_DIR/ncu_${c}_source.csv.gz"
    python3 - "$BUILD_DIR/src_$c.csv" "$OUT_DIR/ncu_${c}" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
hdr_i = next(i for i, r in enumerate(rows) if any('Source' == c.strip() for c in r))
hdr = [c.strip() for c in rows[hdr_i]]
data = [r for r in rows[hdr_i + 1:] if len(r) == len(hdr)]
def col(name):
    for i, h in enumerate(hdr):
        if h == name: return i
    for i, h in enumerate(hdr):
        if name.lower() in h.lower(): return i
    return None
def num(x):
    try: return float(x.replace(',', ''))
    except ValueError: return 0.0
with open(sys.argv[2] + '_columns.txt', 'w') as f: f.write('\n'.join(hdr))
src, addr = col('Source'), col('Address')
stall = col('Warp Stall Sampling (All Samples)')
conf = [i for i, h in enumerate(hdr) if 'Bank Conflicts' in h or 'Shared Store' in h or 'Conflict' in h]
ex = col('Instructions Executed')
with open(sys.argv[2] + '_stalls.txt', 'w') as f:
    tot = sum(num(r[stall]) for r in data) if stall is not None else 0
    f.write(f'total stall samples {tot:.0f}, {len(data)} SASS lines\n')
    if stall is not None:
        for r in sorted(data, key=lambda r: -num(r[stall]))[:80]:
            f.write(f'{num(r[stall]):8.0f} {100*num(r[stall])/max(tot,1):5.1f}%  {r[addr] if addr is not None else ""}  {r[src]}\n')
with open(sys.argv[2] + '_conflicts.txt', 'w') as f:
    f.write('columns: ' + ', '.join(hdr[i] for i in conf) + '\n')
    for r in data:
        vals = [num(r[i]) for i in conf]
        if any(v > 0 for v in vals):
            f.write(' '.join(f'{v:10.0f}' for v in vals) + f'  ex {num(r[ex]) if ex is not None else 0:.0f}  {r[addr] if addr is not None else ""}  {r[src]}\n')
EOF
  fi
done
ls -la "$OUT_DIR"
