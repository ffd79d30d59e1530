#!/usr/bin/env bash
# The test command (CI runs it through .ci/run):
#   1. scripts/setup.sh                       (system packages, Python environment; fast when ready)
#   2. CMake configure + build                (Release, Ninja, -j$(nproc), into $FLASHMLA_BUILD_DIR)
#   3. ctest -L cpu, then ctest -L gpu        (GPU tests report "skipped" where no Hopper GPU exists)
#   4. pip install --no-build-isolation .     (the flash_mla Python package, into the same Python)
#   5. pytest -q tests/python
#   6. scripts/consumer_test.sh               (install the build, build + run tests/consumer against it)
#   7. scripts/sanitize.sh                    (ASan + UBSan CPU tests, then the libFuzzer target for
#                                              $FLASHMLA_FUZZ_SECONDS s, default 120; needs clang)
# Prints a summary with counts and per-step times; exits non-zero if any step failed.
#
# Environment: FLASHMLA_BUILD_DIR (default build/release), FLASHMLA_CMAKE_ARGS (extra configure
# arguments), FLASHMLA_PYTHON (interpreter with torch), FLASHMLA_TEST_TIMEOUT (seconds per ctest test,
# default 900), FLASHMLA_PIP_ARGS (extra pip install arguments, e.g. -C build-dir=/tmp/x),
# FLASHMLA_SKIP_PYTHON=1 (C++ only: no torch, no pip install, no pytest), FLASHMLA_SKIP_SANITIZE=1 (no
# step 7: it takes about 5 minutes on 2 cores).
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

T0=$(now_s)
LOG_DIR="$BUILD_DIR/logs"
mkdir -p "$LOG_DIR"
skip_python="${FLASHMLA_SKIP_PYTHON:-0}"

names=() states=() times=() notes=()
failed=0
record() {  # record <name> <ok|FAIL|skipped> <seconds> <note>
  names+=("$1") states+=("$2") times+=("$3") notes+=("$4")
  [ "$2" = FAIL ] && failed=1
  return 0
}
# step <name> <log> <command...>: runs the command with its output on stdout and in the log
step() {
  local name="$1" logf="$LOG_DIR/$2.log"
  shift 2
  log "== $name: $*"
  local t rc
  t=$(now_s)
  "$@" 2>&1 | tee "$logf"
  rc=${PIPESTATUS[0]}
  STEP_TIME=$(elapsed "$t")
  STEP_LOG="$logf"
  log "== $name: $([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)") in $STEP_TIME s"
  return "$rc"
}

# ---- 1. setup ----------------------------------------------------------------------------------
setup_args=()
[ "$skip_python" = 1 ] && setup_args=(--no-python)
if step setup setup bash "$ROOT/scripts/setup.sh" "${setup_args[@]}"; then
  record setup ok "$STEP_TIME" ""
else
  record setup FAIL "$STEP_TIME" "see $STEP_LOG"
fi
PY=""
if [ "$skip_python" != 1 ]; then
  find_python
  PY="$FOUND_PY"
  if [ -n "$PY" ]; then use_python "$PY"; fi
fi

# ---- 2. configure + build ----------------------------------------------------------------------
built=0
if [ "$failed" = 0 ]; then
  gen=()
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || gen=(-G Ninja)
  # shellcheck disable=SC2086
  if step configure configure cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DFLASHMLA_BUILD_TESTS=ON -DFLASHMLA_BUILD_BENCH=ON ${FLASHMLA_CMAKE_ARGS:-}; then
    cuda_note="$(grep -o 'CUDA kernels [A-Z]*' "$STEP_LOG" | tail -n1)"
    record configure ok "$STEP_TIME" "${cuda_note:-}"
    if step build build cmake --build "$BUILD_DIR" -j"$(num_jobs)"; then
      record build ok "$STEP_TIME" "-j$(num_jobs)"
      built=1
    else
      record build FAIL "$STEP_TIME" "see $STEP_LOG"
    fi
  else
    record configure FAIL "$STEP_TIME" "see $STEP_LOG"
  fi
fi

# ---- 3. C++ tests ------------------------------------------------------------------------------
timeout_s="${FLASHMLA_TEST_TIMEOUT:-900}"
for label in cpu gpu; do
  if [ "$built" = 1 ]; then
    if step "ctest -L $label" "ctest_$label" ctest --test-dir "$BUILD_DIR" --output-on-failure -L "$label" \
      -j"$(num_jobs)" --timeout "$timeout_s"; then
      record "ctest -L $label" ok "$STEP_TIME" "$(ctest_counts "$STEP_LOG")"
    else
      record "ctest -L $label" FAIL "$STEP_TIME" "$(ctest_counts "$STEP_LOG")"
    fi
  else
    record "ctest -L $label" skipped 0 "no build"
  fi
done

# ---- 4. + 5. Python package ----------------------------------------------------------------------
if [ "$skip_python" = 1 ]; then
  record "pip install" skipped 0 "FLASHMLA_SKIP_PYTHON=1"
  record pytest skipped 0 "FLASHMLA_SKIP_PYTHON=1"
elif [ -z "$PY" ]; then
  record "pip install" FAIL 0 "no Python with torch (setup failed?)"
  record pytest skipped 0 "no Python"
elif [ ! -f "$ROOT/pyproject.toml" ]; then
  record "pip install" FAIL 0 "pyproject.toml missing"
  record pytest skipped 0 "package not installed"
else
  # pyproject.toml keeps a persistent build tree (build/pip/): a second run is incremental.
  # shellcheck disable=SC2086  # FLASHMLA_PIP_ARGS is a list of arguments
  if step "pip install" pip_install "$PY" -m pip install --no-build-isolation --no-deps \
    --disable-pip-version-check ${FLASHMLA_PIP_ARGS:-} "$ROOT"; then
    record "pip install" ok "$STEP_TIME" "$PY"
    step pytest pytest "$PY" -m pytest -q -p no:cacheprovider "$ROOT/tests/python"
    rc=$?
    counts="$(grep -E '[0-9]+ (passed|failed|skipped|error)' "$STEP_LOG" | tail -n1 | sed 's/=//g; s/^ *//; s/ *$//')"
    if [ "$rc" = 0 ]; then record pytest ok "$STEP_TIME" "$counts"; else record pytest FAIL "$STEP_TIME" "${counts:-exit $rc}"; fi
  else
    record "pip install" FAIL "$STEP_TIME" "see $STEP_LOG"
    record pytest skipped 0 "package not installed"
  fi
fi

# ---- 6. the installed package, used by an outside project -----------------------------------------
if [ "$built" = 1 ]; then
  if step consumer consumer bash "$ROOT/scripts/consumer_test.sh" "$BUILD_DIR"; then
    record consumer ok "$STEP_TIME" "find_package(flashmla), one CPU decode checked"
  else
    record consumer FAIL "$STEP_TIME" "see $STEP_LOG"
  fi
else
  record consumer skipped 0 "no build"
fi

# ---- 7. sanitizers: ASan + UBSan CPU tests, libFuzzer ---------------------------------------------
if [ "${FLASHMLA_SKIP_SANITIZE:-0}" = 1 ]; then
  record sanitize skipped 0 "FLASHMLA_SKIP_SANITIZE=1"
else
  step sanitize sanitize bash "$ROOT/scripts/sanitize.sh"
  rc=$?
  asan="$(grep -o 'ctest -L cpu[:A-Z ]*[0-9]* passed, [0-9]* failed' "$STEP_LOG" | tail -n1 | sed 's/.*: //')"
  fuzz="$(grep -o '[0-9?]* calls fuzzed in [0-9.]* s, crashes: [0-9]*' "$STEP_LOG" | tail -n1 | sed 's/ in [0-9.]* s//')"
  regr="$(grep -o 'regressions replayed: [0-9]*, failing: [0-9]*' "$STEP_LOG" | tail -n1)"
  note="asan ${asan:-not run}; fuzz ${fuzz:-not run}; ${regr:-regressions not run}"
  case "$rc" in
    0) record sanitize ok "$STEP_TIME" "$note" ;;
    77) record sanitize skipped "$STEP_TIME" "clang with ASan/UBSan/libFuzzer runtimes not installed" ;;
    *) record sanitize FAIL "$STEP_TIME" "$note; see $STEP_LOG" ;;
  esac
fi

# ---- summary -----------------------------------------------------------------------------------
echo
echo "== flashmla test summary ($(uname -n), $(num_jobs) cores; logs in $LOG_DIR) =="
printf '%-14s %-8s %9s  %s\n' step status time note
for i in "${!names[@]}"; do
  printf '%-14s %-8s %8ss  %s\n' "${names[$i]}" "${states[$i]}" "${times[$i]}" "${notes[$i]}"
done
printf '%-14s %-8s %8ss\n' total "$([ "$failed" = 0 ] && echo ok || echo FAIL)" "$(elapsed "$T0")"
exit "$failed"
