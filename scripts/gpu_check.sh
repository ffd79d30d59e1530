#!/usr/bin/env bash
# shellcheck disable=SC2317  # the do_* step functions are called indirectly ("do_$s")
# One command for the Hopper machine: build with ptxas reports, kernel resource/SASS checks, GPU + CPU tests,
# compute-sanitizer, the benchmark, and the Python package. Nothing is installed (that machine has no
# network): it uses the python3 that has torch, and the system's CMake/Ninja/GoogleTest/CLI11/nlohmann.
#
#   scripts/gpu_check.sh                      all steps: build kernels tests sanitizer bench python
#   scripts/gpu_check.sh build kernels tests  some steps (one device call may last at most 10 minutes)
#
# Steps:
#   build      configure (Release, -DFLASHMLA_PTXAS_VERBOSE=ON) + build                       -> build.log
#   kernels    ptxas registers/spills per kernel; SASS of the decode kernels (cuobjdump -sass):
#              HGMMA / LDL / STL counts per function, then the SASS itself                   -> kernels.log
#   tests      ctest -L gpu (per-test timeout), then ctest -L cpu                             -> tests.log
#   sanitizer  compute-sanitizer memcheck + racecheck on a gtest filter of the GPU tests      -> sanitizer.log
#   bench      flashmla_bench --set $FLASHMLA_BENCH_SETS                                       -> bench.log + JSON
#   python     pip install --no-build-isolation . ; pytest tests/python ; tests/test_flash_mla.py -> python.log
# A failed step does not stop the others; every step is recorded in summary.txt, printed at the end.
# Logs go to $OUT (the device tool's folder) when set, else to $FLASHMLA_BUILD_DIR/gpu_check.
#
# Environment (defaults):
#   FLASHMLA_BUILD_DIR=build/gpu               build directory (separate from build/release: other flags)
#   FLASHMLA_SANITIZER_FILTER=<see below>      gtest filter of the sanitizer runs (keep it small: 10-100x slower)
#   FLASHMLA_SANITIZER_TOOLS="memcheck racecheck initcheck synccheck"
#   FLASHMLA_SANITIZER_FAMILIES="exe=filter ..."   the kernel families' GPU tests under the same tools
#   FLASHMLA_SANITIZER_TIMEOUT=240             seconds per sanitizer run
#   FLASHMLA_TEST_TIMEOUT=300                  seconds per ctest test
#   FLASHMLA_GPU_TEST_JOBS=4                   ctest -j for the GPU tests
#   FLASHMLA_BENCH_SETS=all                    e.g. "latency,mtp"
#   FLASHMLA_BENCH_ARGS=""                     extra flashmla_bench arguments, e.g. "--verify --case h16"
#   FLASHMLA_PYTHON                            the interpreter (default: python3 that imports torch)
set -uo pipefail
export FLASHMLA_BUILD_DIR="${FLASHMLA_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/gpu}"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

SANITIZER_FILTER="${FLASHMLA_SANITIZER_FILTER:-*/b1_sq1_h126_hkv3_L65_*:*/b2_sq4_h63_hkv1_L140_*:*/b2_sq2_h64_hkv8_L1_*:*/b3_sq1_h5_hkv1_L300_1000_129_causal_fp16_inter3_g16*:GpuSchedule.*}"
# Further GPU test executables of the kernel families, each with its own small filter ("exe=filter ...").
# The reliability tests run without the 110 GiB cache ones (they would take far too long under the tools)
# and without the 4-threads x 50-calls one.
SANITIZER_FAMILIES="${FLASHMLA_SANITIZER_FAMILIES-flashmla_merge_gpu_tests=*n4_b2_sq1_h4_dv512_bf16_nanlse:*n3_b2_sq1_h3_dv33_bf16_someempty_misaligned:*n4_b2_sq3_h5_dv512_fp32_someempty_strided:*waves_n2_b1_sq1_h9001_dv512_bf16_bf16_nanlse flashmla_gpu_sparse_decode_tests=*v32_b4_sq1_h64_topk64_page64_garbage:*model1_b3_sq2_h16_topk100_page53:*v32_b3_sq2_h32_topk200_page64_len_allinvalid flashmla_sparse_prefill_gpu_tests=*d512_h1_topk1_sq48_skv3_invalid:*d512_h3_topk5_sq48_skv37_all flashmla_gpu_reliability_tests=GpuReliability.GraphReplayAfterBufferReuse:GpuReliability.MultiDevice-GpuReliability.LargeCache110GiB*:GpuReliability.FourThreadsFourStreams flashmla_gpu_dense_fp8_tests=GpuDenseFp8Decode.EveryPartitionCountMatches:GpuDenseFp8Decode.DescaleRange}"
SANITIZER_TOOLS="${FLASHMLA_SANITIZER_TOOLS:-memcheck racecheck initcheck synccheck}"
SANITIZER_TIMEOUT="${FLASHMLA_SANITIZER_TIMEOUT:-240}"
TEST_TIMEOUT="${FLASHMLA_TEST_TIMEOUT:-300}"
GPU_TEST_JOBS="${FLASHMLA_GPU_TEST_JOBS:-4}"
BENCH_SETS="${FLASHMLA_BENCH_SETS:-all}"
BENCH_ARGS="${FLASHMLA_BENCH_ARGS:-}"
OUT_DIR="${OUT:-$BUILD_DIR/gpu_check}"
mkdir -p "$OUT_DIR"
SUMMARY="$OUT_DIR/summary.txt"
T0=$(now_s)

all_steps=(build kernels tests sanitizer bench python)
steps=("$@")
[ "${#steps[@]}" -eq 0 ] && steps=("${all_steps[@]}")
[ "${steps[*]}" = all ] && steps=("${all_steps[@]}")
for s in "${steps[@]}"; do
  case " ${all_steps[*]} " in *" $s "*) ;; *) die "unknown step '$s' (steps: ${all_steps[*]})" ;; esac
done

names=() states=() times=() notes=()
NOTE_FILE="$BUILD_DIR/.gpu_check_note"
mkdir -p "$BUILD_DIR"
note() { printf '%s' "$*" >"$NOTE_FILE"; }  # a step's one-line result for the summary
record() {
  names+=("$1") states+=("$2") times+=("$3") notes+=("$4")
  printf '%s[gpu_check] %s: %s (%s s) %s%s\n' "$_b" "$1" "$2" "$3" "$4" "$_n"
}
section() { printf '\n===== %s =====\n' "$*"; }

find_python
PY="$FOUND_PY"
[ -n "$PY" ] && use_python "$PY"

{
  echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n): steps ${steps[*]}"
  echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader 2>/dev/null || echo none)"
  echo "nvcc: $(nvcc --version 2>/dev/null | awk '/release/ { print $5 $6 }')  cmake: $(cmake --version | awk 'NR==1 { print $3 }')  cores: $(num_jobs)"
  echo "python: ${PY:-none} $([ -n "$PY" ] && "$PY" -c 'import sys, torch; print("%d.%d" % sys.version_info[:2], "torch", torch.__version__)' 2>/dev/null)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (dirty)')"
} | tee "$SUMMARY"
has_hopper_gpu || echo "warning: no Hopper GPU visible (compute capability '$(gpu_compute_cap)'): GPU steps will skip or fail" | tee -a "$SUMMARY"

# ---- build -------------------------------------------------------------------------------------
configure() {
  local gen=()
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || gen=(-G Ninja)
  # shellcheck disable=SC2086
  cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DFLASHMLA_BUILD_TESTS=ON \
    -DFLASHMLA_BUILD_BENCH=ON -DFLASHMLA_ENABLE_CUDA=ON -DFLASHMLA_PTXAS_VERBOSE=ON ${FLASHMLA_CMAKE_ARGS:-}
}
do_build() {
  section "configure"
  configure || return 1
  section "build -j$(num_jobs)"
  cmake --build "$BUILD_DIR" -j"$(num_jobs)"
}
# Later steps make sure the build exists (a fresh machine, or a step run on its own).
ensure_built() {
  if [ -f "$BUILD_DIR/build.ninja" ] && cmake --build "$BUILD_DIR" -j"$(num_jobs)" >>"$OUT_DIR/build.log" 2>&1; then
    return 0
  fi
  do_build >>"$OUT_DIR/build.log" 2>&1
}

# ---- kernels: ptxas + SASS ---------------------------------------------------------------------
ptxas_table() {  # the build log's ptxas -v blocks -> one line per kernel
  awk '
    /Compiling entry function/ { match($0, /function '\''[^'\'']+'\''/); fn = substr($0, RSTART + 10, RLENGTH - 11);
                                 match($0, /for '\''[^'\'']+'\''/); arch = substr($0, RSTART + 5, RLENGTH - 6) }
    /bytes stack frame/ { stack = $1; spst = $5; spld = $9 }
    /Used [0-9]+ registers/ && fn != "" { match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART + 5, RLENGTH - 15);
                                 printf "%-6s regs %4s  stack %5s  spill st %5s ld %5s  %s\n", arch, regs, stack, spst, spld, fn; fn = "" }
  ' "$1" | sort -u | while IFS= read -r line; do
    fn="${line##* }"
    printf '%s  %s\n' "${line% *}" "$(echo "$fn" | c++filt 2>/dev/null | cut -c1-160)"
  done
}
do_kernels() {
  local rc=0 plog="$OUT_DIR/build.log"
  ensure_built || { echo "build failed: see build.log"; return 1; }
  # ptxas -v prints only when a kernel compiles: without a full build log from this call, recompile the
  # kernel translation units alone.
  local n_obj n_built
  n_obj=$(find "$BUILD_DIR/CMakeFiles/flashmla.dir" -name '*.cu.o' | wc -l)
  n_built=$(grep -c 'Building CUDA object CMakeFiles/flashmla.dir' "$plog" 2>/dev/null || true)
  if [ "${n_built:-0}" -lt "$n_obj" ]; then
    plog="$BUILD_DIR/ptxas_rebuild.log"
    echo "recompiling the CUDA objects of libflashmla for their ptxas reports ($plog)"
    find "$BUILD_DIR/CMakeFiles/flashmla.dir" -name '*.cu.o' -delete
    cmake --build "$BUILD_DIR" -j"$(num_jobs)" --target flashmla >"$plog" 2>&1 || rc=1
  fi
  section "ptxas: registers / stack / spills per kernel"
  local table
  table="$(ptxas_table "$plog")"
  if [ -z "$table" ]; then
    echo "no ptxas -v output found in $plog"
    rc=1
  else
    echo "$table"
  fi
  section "ptxas warnings (spills, local memory)"
  grep -E 'ptxas (warning|error)' "$plog" | sort -u || echo "none"
  if echo "$table" | awk '{ if ($8 + 0 > 0 || $10 + 0 > 0) bad = 1 } END { exit !bad }'; then
    echo "SPILLS FOUND (see the table above)"
    rc=1
  fi

  section "SASS: instruction counts per function (cuobjdump -sass)"
  local objs sass="$BUILD_DIR/decode_kernels.sass"
  objs="$(find "$BUILD_DIR/CMakeFiles/flashmla.dir/src/kernels" -name '*.cu.o' 2>/dev/null | sort)"
  [ -n "$objs" ] || { echo "no kernel objects found"; return 1; }
  : >"$sass"
  for o in $objs; do
    echo "// ---- ${o#"$BUILD_DIR"/}" >>"$sass"
    cuobjdump -sass "$o" >>"$sass" 2>&1 || { echo "cuobjdump failed on $o"; rc=1; }
  done
  awk '
    /Function : / { fn = $NF; order[++n] = fn }
    fn != "" && /^ +\/\*[0-9a-f]+\*\// { total[fn]++ }
    fn != "" && /HGMMA/ { hgmma[fn]++ }
    fn != "" && /[^A-Z]LDL[ .]/ { ldl[fn]++ }
    fn != "" && /[^A-Z]STL[ .]/ { stl[fn]++ }
    END { for (i = 1; i <= n; i++) { f = order[i];
            printf "instr %6d  HGMMA %4d  LDL %4d  STL %4d  %s\n", total[f], hgmma[f], ldl[f], stl[f], f } }
  ' "$sass" | while IFS= read -r line; do
    fn="${line##* }"
    printf '%s  %s\n' "${line% *}" "$(echo "$fn" | c++filt 2>/dev/null | cut -c1-160)"
  done | tee "$BUILD_DIR/sass_counts.txt"
  if awk '{ if ($6 + 0 > 0 || $8 + 0 > 0) bad = 1 } END { exit !bad }' "$BUILD_DIR/sass_counts.txt"; then
    echo "LOCAL MEMORY (LDL/STL) FOUND in the functions above"
    rc=1
  fi
  if ! grep -q 'decode' "$BUILD_DIR/sass_counts.txt"; then
    echo "note: no function with 'decode' in its name"
  elif ! awk '/decode/ && $4 + 0 > 0 { found = 1 } END { exit !found }' "$BUILD_DIR/sass_counts.txt"; then
    echo "NO HGMMA in the decode kernels"
    rc=1
  fi
  note "$(grep -c . <<<"$table") kernels; $(awk '/decode/ { print "decode: HGMMA " $4 ", LDL " $6 ", STL " $8; exit }' "$BUILD_DIR/sass_counts.txt")"
  # The decode kernels' SASS (encodings dropped), for the log only (appended after this step).
  awk '/Function : / { keep = ($0 ~ /decode/) } keep' "$sass" |
    sed -E '/^[[:space:]]*\/\* 0x[0-9a-f]+ \*\/[[:space:]]*$/d; s#[[:space:]]*/\* 0x[0-9a-f]+ \*/[[:space:]]*$##' >"$BUILD_DIR/decode_kernels_sass.txt"
  echo "SASS of the decode kernels: $(wc -l <"$BUILD_DIR/decode_kernels_sass.txt") lines, appended to kernels.log"
  return "$rc"
}

# ---- tests -------------------------------------------------------------------------------------
do_tests() {
  local rc=0 tmp="$BUILD_DIR/ctest_last.log"
  ensure_built || { echo "build failed: see build.log"; return 1; }
  section "ctest -L gpu (timeout $TEST_TIMEOUT s per test, -j$GPU_TEST_JOBS)"
  ctest --test-dir "$BUILD_DIR" -L gpu --output-on-failure --timeout "$TEST_TIMEOUT" -j"$GPU_TEST_JOBS" 2>&1 | tee "$tmp"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  local gpu_counts
  gpu_counts="gpu: $(ctest_counts "$tmp")"
  note "$gpu_counts"
  section "ctest -L cpu"
  ctest --test-dir "$BUILD_DIR" -L cpu --output-on-failure --timeout "$TEST_TIMEOUT" -j"$(num_jobs)" 2>&1 | tee "$tmp"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  note "$gpu_counts; cpu: $(ctest_counts "$tmp")"
  return "$rc"
}

# ---- sanitizer ---------------------------------------------------------------------------------
do_sanitizer() {
  local rc=0 exe="$BUILD_DIR/tests/cpp/flashmla_gpu_tests"
  ensure_built || { echo "build failed: see build.log"; return 1; }
  [ -x "$exe" ] || { echo "$exe not built"; return 1; }
  command -v compute-sanitizer >/dev/null || { echo "compute-sanitizer not found"; return 1; }
  echo "filter: $SANITIZER_FILTER"
  echo "tests selected: $("$exe" --gtest_list_tests --gtest_filter="$SANITIZER_FILTER" | grep -c '^  ')"
  local san="" r t
  # The dense suite with its filter, then each family's GPU executable with its own filter.
  local runs=("flashmla_gpu_tests=$SANITIZER_FILTER")
  for fam in $SANITIZER_FAMILIES; do runs+=("$fam"); done
  for tool in $SANITIZER_TOOLS; do
    for run in "${runs[@]}"; do
      local name="${run%%=*}" filter="${run#*=}"
      local bin="$BUILD_DIR/tests/cpp/$name"
      [ -x "$bin" ] || { echo "$bin not built: skipped"; san="$san $tool/$name:missing"; rc=1; continue; }
      section "compute-sanitizer --tool $tool $name --gtest_filter=$filter"
      local extra=()
      [ "$tool" = racecheck ] && extra=(--racecheck-report all)
      t=$(now_s)
      timeout "$SANITIZER_TIMEOUT" compute-sanitizer --tool "$tool" "${extra[@]}" --error-exitcode 99 --print-limit 50 \
        "$bin" --gtest_filter="$filter" --gtest_brief=1 2>&1
      r=$?
      case "$r" in
        0) san="$san $tool/${name#flashmla_}:ok($(elapsed "$t")s)" ;;
        124) san="$san $tool/${name#flashmla_}:TIMEOUT(${SANITIZER_TIMEOUT}s)"; rc=1 ;;
        99) san="$san $tool/${name#flashmla_}:ERRORS"; rc=1 ;;
        *) san="$san $tool/${name#flashmla_}:exit$r"; rc=1 ;;
      esac
      note "${san# }"
    done
  done
  return "$rc"
}

# ---- bench -------------------------------------------------------------------------------------
do_bench() {
  ensure_built || { echo "build failed: see build.log"; return 1; }
  local exe="$BUILD_DIR/bench/flashmla_bench" tmp="$BUILD_DIR/bench_last.log"
  [ -x "$exe" ] || { echo "$exe not built (CLI11 / nlohmann_json missing? see build.log)"; return 1; }
  # shellcheck disable=SC2086
  "$exe" --set "$BENCH_SETS" $BENCH_ARGS 2>&1 | tee "$tmp"
  local rc=${PIPESTATUS[0]}
  local json
  json="$(sed -n 's/^results written to //p' "$tmp" | tail -n1)"
  if [ -n "$json" ] && [ -f "$json" ]; then
    cp "$json" "$OUT_DIR/" && echo "copied $json to $OUT_DIR/"
  fi
  note "$(grep -E '^targets: ' "$tmp" | tail -n1)"
  return "$rc"
}

# ---- python ------------------------------------------------------------------------------------
do_python() {
  [ -n "$PY" ] || { echo "no python3 with torch found (set FLASHMLA_PYTHON)"; return 1; }
  local rc=0 tmp="$BUILD_DIR/pytest_last.log"
  section "pip install --no-build-isolation ."
  if ! "$PY" -m pip install --no-build-isolation --no-deps --no-index --disable-pip-version-check "$ROOT" 2>&1; then
    echo "pip install failed"
    note "pip install failed"
    return 1
  fi
  section "pytest tests/python"
  (cd "$ROOT" && "$PY" -m pytest -q -p no:cacheprovider tests/python 2>&1) | tee "$tmp"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  local py_note
  py_note="pytest: $(grep -E '[0-9]+ (passed|failed|skipped|error)' "$tmp" | tail -n1 | sed 's/=//g; s/^ *//; s/ *$//')"
  section "python tests/test_flash_mla.py"
  if [ -f "$ROOT/tests/test_flash_mla.py" ]; then
    if (cd "$ROOT" && PYTHONUNBUFFERED=1 "$PY" tests/test_flash_mla.py 2>&1); then
      py_note="$py_note; test_flash_mla.py ok"
    else
      py_note="$py_note; test_flash_mla.py FAILED"
      rc=1
    fi
  else
    echo "tests/test_flash_mla.py does not exist"
    py_note="$py_note; test_flash_mla.py missing"
    rc=1
  fi
  note "$py_note"
  return "$rc"
}

# ---- run the selected steps --------------------------------------------------------------------
for s in "${steps[@]}"; do
  t=$(now_s)
  logf="$s.log"
  [ "$s" = tests ] && logf=tests.log
  printf '\n%s[gpu_check] === %s -> %s%s\n' "$_b" "$s" "$OUT_DIR/$logf" "$_n"
  : >"$NOTE_FILE"
  if [ "$s" = build ]; then
    do_build >"$OUT_DIR/$logf" 2>&1
    rc=$?
    tail -n 5 "$OUT_DIR/$logf"
    note "$(grep -c 'ptxas info    : Used' "$OUT_DIR/$logf") ptxas reports, $(grep -c 'ptxas warning' "$OUT_DIR/$logf") ptxas warnings"
  else
    # The log stays whole in $OUT; the device tool shows the tail of stdout.
    "do_$s" 2>&1 | tee "$OUT_DIR/$logf"
    rc=${PIPESTATUS[0]}
    if [ "$s" = kernels ] && [ -s "$BUILD_DIR/decode_kernels_sass.txt" ]; then
      { section "SASS of the decode kernels"; cat "$BUILD_DIR/decode_kernels_sass.txt"; } >>"$OUT_DIR/$logf"
    fi
  fi
  record "$s" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" "$(elapsed "$t")" "$(cat "$NOTE_FILE")"
done

{
  echo
  echo "== gpu_check summary (logs: $OUT_DIR) =="
  printf '%-10s %-6s %8s  %s\n' step status time note
  for i in "${!names[@]}"; do
    printf '%-10s %-6s %7ss  %s\n' "${names[$i]}" "${states[$i]}" "${times[$i]}" "${notes[$i]}"
  done
  printf '%-10s %-6s %7ss\n' total "" "$(elapsed "$T0")"
} | tee -a "$SUMMARY"
for st in "${states[@]}"; do [ "$st" = ok ] || exit 1; done
exit 0
