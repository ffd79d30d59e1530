#!/usr/bin/env bash
# Sanitizer checks of the CPU code (a step of scripts/test.sh; about 5 minutes on 2 cores):
#   1. asan: build/asan (clang, -DFLASHMLA_SANITIZE=address,undefined, CUDA off, no benchmark): the
#      test executables (flashmla_tests, ...), ctest -L cpu: the CPU suites under ASan + UBSan (any
#      report fails the test);
#   2. fuzz: build/fuzz (clang + libFuzzer), tests/fuzz/fuzz_api: replays every input in
#      tests/fuzz/regressions/ (one verdict each), then fuzzes for $FLASHMLA_FUZZ_SECONDS seconds
#      (default 120) from tests/fuzz/corpus; prints the calls fuzzed and the crashes found.
#
#   scripts/sanitize.sh [asan] [fuzz]                    (no argument: both)
#   FLASHMLA_FUZZ_SECONDS=3600 scripts/sanitize.sh fuzz  (a longer fuzzing run)
#
# New crashing inputs are written to build/fuzz/artifacts/; minimize one with
#   build/fuzz/tests/fuzz/fuzz_api -minimize_crash=1 -runs=10000 <file>
# and keep it as tests/fuzz/regressions/<what>.bin once the bug is fixed (docs/fuzzing.md).
# Exit status: 0 clean, 1 a failure, 77 clang (or its sanitizer / libFuzzer runtime) is not installed.
set -uo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT" || exit 1

steps=("$@")
[ "${#steps[@]}" -eq 0 ] && steps=(asan fuzz)
fuzz_seconds="${FLASHMLA_FUZZ_SECONDS:-120}"
ASAN_DIR="$ROOT/build/asan"
FUZZ_DIR="$ROOT/build/fuzz"
export CC="${FLASHMLA_CLANG:-clang}" CXX="${FLASHMLA_CLANGXX:-clang++}"
# Reports abort the process (a failing test / a libFuzzer crash) and carry a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The toolchain: a link test with both runtimes, so that a clang without libclang-rt fails here.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe/p.cpp"
if ! command -v "$CXX" >/dev/null 2>&1 ||
  ! "$CXX" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1; then
  warn "sanitize.sh: $CXX with -fsanitize=fuzzer,address,undefined is not available (Debian: apt-get install clang libclang-rt-dev)"
  exit 77
fi

failed=0
mkdir -p "$ROOT/build"
# Sanitizer builds: -O1 keeps the tests fast enough and the reports readable; no NDEBUG.
configure() {  # configure <dir> <cmake args...>
  local dir="$1" gen=()
  shift
  [ -f "$dir/CMakeCache.txt" ] || gen=(-G Ninja)
  cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DFLASHMLA_ENABLE_CUDA=OFF \
    -DFLASHMLA_SANITIZE=address,undefined -DFLASHMLA_BUILD_BENCH=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
}

run_asan() {
  local t
  t=$(now_s)
  configure "$ASAN_DIR" -DFLASHMLA_BUILD_TESTS=ON &&
    cmake --build "$ASAN_DIR" -j"$(num_jobs)" || { log "asan: build FAILED"; return 1; }  # every cpu test binary
  log "asan: built in $(elapsed "$t") s"
  t=$(now_s)
  if ctest --test-dir "$ASAN_DIR" -L cpu -j"$(num_jobs)" --output-on-failure --timeout 900 >"$ASAN_DIR/ctest.log" 2>&1; then
    log "asan: ctest -L cpu: $(ctest_counts "$ASAN_DIR/ctest.log") in $(elapsed "$t") s"
  else
    grep -E 'runtime error|ERROR: AddressSanitizer|SUMMARY|\*\*\*Failed|Failure' "$ASAN_DIR/ctest.log" | head -n 40
    log "asan: ctest -L cpu FAILED: $(ctest_counts "$ASAN_DIR/ctest.log") (log: $ASAN_DIR/ctest.log)"
    return 1
  fi
}

# The first line that says why an input failed: the harness's check, else the sanitizer's summary.
why() { grep -m1 -E '^fuzz_api: |runtime error|^SUMMARY|ERROR: (Address|libFuzzer)' "$1" | cut -c1-300; }

run_fuzz() {
  local t bin="$FUZZ_DIR/tests/fuzz/fuzz_api" rc=0
  t=$(now_s)
  configure "$FUZZ_DIR" -DFLASHMLA_BUILD_TESTS=OFF -DFLASHMLA_BUILD_FUZZ=ON &&
    cmake --build "$FUZZ_DIR" -j"$(num_jobs)" --target fuzz_api || { log "fuzz: build FAILED"; return 1; }
  log "fuzz: built in $(elapsed "$t") s"

  # Every regression input, one verdict each (a crashing one stops libFuzzer, hence one run per file).
  local f n=0 bad=0
  for f in "$ROOT"/tests/fuzz/regressions/*; do
    [ -f "$f" ] || continue
    case "$f" in *.md) continue ;; esac
    n=$((n + 1))
    if ! "$bin" "$f" >"$FUZZ_DIR/replay.log" 2>&1; then
      bad=$((bad + 1))
      echo "  FAIL $(basename "$f"): $(why "$FUZZ_DIR/replay.log")"
    fi
  done
  log "fuzz: regressions replayed: $n, failing: $bad"
  [ "$bad" = 0 ] || rc=1

  # Fuzzing: new inputs go to build/fuzz/corpus (the committed seeds stay as they are).
  mkdir -p "$FUZZ_DIR/corpus" "$FUZZ_DIR/artifacts"
  local before after log_f="$FUZZ_DIR/fuzz.log"
  before=$(find "$FUZZ_DIR/artifacts" -type f | wc -l)
  t=$(now_s)
  "$bin" -max_total_time="$fuzz_seconds" -max_len=256 -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_DIR/artifacts/" "$FUZZ_DIR/corpus" "$ROOT/tests/fuzz/corpus" >"$log_f" 2>&1 || rc=1
  after=$(find "$FUZZ_DIR/artifacts" -type f | wc -l)
  local execs
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log_f" | tail -n1)
  grep -m1 'fuzz_api: calls fuzzed' "$log_f" | sed 's/^/  /'
  if [ "$rc" != 0 ] && [ "$after" = "$before" ]; then
    tail -n 30 "$log_f"
    log "fuzz: fuzz_api failed without writing an input (log: $log_f)"
  fi
  [ "$after" != "$before" ] && echo "  crash: $(why "$log_f") -> $(ls -t "$FUZZ_DIR/artifacts" | head -n1)"
  log "fuzz: ${execs:-?} calls fuzzed in $(elapsed "$t") s, crashes: $((after - before)) (log: $log_f)"
  return "$rc"
}

for s in "${steps[@]}"; do
  case "$s" in
    asan) run_asan || failed=1 ;;
    fuzz) run_fuzz || failed=1 ;;
    *) die "sanitize.sh: unknown step '$s' (expected asan or fuzz)" ;;
  esac
done
exit "$failed"
