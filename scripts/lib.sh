# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this file
# Shared helpers of scripts/*.sh (sourced, not run). Sets ROOT and defines logging, timing and the
# choice of the Python interpreter, so that setup.sh, test.sh, run.sh and gpu_check.sh agree.
#
# Variables a caller may set:
#   FLASHMLA_PYTHON     the Python interpreter to use (must import torch); overrides the search below
#   FLASHMLA_VENV       where setup.sh creates the virtual environment (default: <repo>/.venv)
#   FLASHMLA_BUILD_DIR  the CMake build directory (default: <repo>/build/release)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLASHMLA_VENV="${FLASHMLA_VENV:-$ROOT/.venv}"
BUILD_DIR="${FLASHMLA_BUILD_DIR:-$ROOT/build/release}"
TORCH_VERSION="2.11.0"
# CUDA's usual place, for machines where nvcc is installed but not on PATH.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="$PATH:/usr/local/cuda/bin"
fi
CMAKE_MIN_VERSION="3.25"

if [ -t 1 ]; then _b=$'\033[1m' _y=$'\033[1;33m' _r=$'\033[1;31m' _n=$'\033[0m'; else _b="" _y="" _r="" _n=""; fi
log() { printf '%s[flashmla]%s %s\n' "$_b" "$_n" "$*"; }
warn() { printf '%s[flashmla] warning:%s %s\n' "$_y" "$_n" "$*" >&2; }
die() { printf '%s[flashmla] error:%s %s\n' "$_r" "$_n" "$*" >&2; exit 1; }

now_s() { date +%s.%N; }
# elapsed START -> seconds with one decimal
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

num_jobs() { nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2; }

# version_ge A B: A >= B for dotted versions
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# python_has_torch PY: PY runs and imports torch
python_has_torch() { [ -n "$1" ] && "$1" -c 'import torch' >/dev/null 2>&1; }

# find_python: sets FOUND_PY to the interpreter the scripts use (empty if none):
#   1. $FLASHMLA_PYTHON;  2. the venv setup.sh made, if it imports torch;  3. python3 on PATH, if it
#   imports torch (e.g. the GPU machines, where torch is preinstalled and nothing can be downloaded).
# Cached in the shell (each probe imports torch, ~1-2 s); forget_python clears the cache.
find_python() {
  if [ -z "${_FLASHMLA_PY_DONE:-}" ]; then
    FOUND_PY="$(_find_python)"
    _FLASHMLA_PY_DONE=1
  fi
}
forget_python() { _FLASHMLA_PY_DONE=""; }
_find_python() {
  if [ -n "${FLASHMLA_PYTHON:-}" ]; then
    command -v "$FLASHMLA_PYTHON" || echo "$FLASHMLA_PYTHON"
    return
  fi
  if python_has_torch "$FLASHMLA_VENV/bin/python"; then
    echo "$FLASHMLA_VENV/bin/python"
    return
  fi
  local py
  py="$(command -v python3 || true)"
  if python_has_torch "$py"; then
    echo "$py"
    return
  fi
}

# use_python PY: export PY and put its bin directory first on PATH (cmake/ninja/pytest from pip).
use_python() {
  PY="$1"
  export PY
  local bindir
  bindir="$(cd "$(dirname "$PY")" && pwd)"
  case ":$PATH:" in
    *":$bindir:"*) ;;
    *) export PATH="$bindir:$PATH" ;;
  esac
}

# The compute capability of GPU 0 ("9.0"), or nothing when there is no NVIDIA GPU / driver.
gpu_compute_cap() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' '
}
has_hopper_gpu() { case "$(gpu_compute_cap)" in 9.*) return 0 ;; *) return 1 ;; esac; }

ctest_counts() {  # "P passed, F failed, S skipped" from a ctest log
  local p f s
  p=$(grep -c ' Passed ' "$1" || true)
  f=$(grep -cE '\*\*\*(Failed|Exception|Timeout)|Not Run' "$1" || true)
  s=$(grep -c '\*\*\*Skipped' "$1" || true)
  if grep -q 'CMake Error\|No tests were found' "$1"; then
    echo "ctest could not load or find the tests (see the log); $p passed, $f failed, $s skipped"
  else
    echo "$p passed, $f failed, $s skipped"
  fi
}

# configure_and_build [extra cmake args...]: Release + Ninja into $BUILD_DIR, -j$(nproc).
configure_and_build() {
  local gen=()
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then gen=(-G Ninja); fi
  # shellcheck disable=SC2086  # FLASHMLA_CMAKE_ARGS is a list of arguments
  cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DFLASHMLA_BUILD_TESTS=ON -DFLASHMLA_BUILD_BENCH=ON ${FLASHMLA_CMAKE_ARGS:-} "$@" || return 1
  cmake --build "$BUILD_DIR" -j"$(num_jobs)" || return 1
}
