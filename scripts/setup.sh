#!/usr/bin/env bash
# Set-up of a machine for building and testing flashmla. Idempotent: a second run only checks.
#
#   scripts/setup.sh              system packages + Python environment (torch, pytest, scikit-build-core)
#   scripts/setup.sh --no-python  system packages only (what the C++ build and the benchmark need)
#
# System packages (Debian/Ubuntu, apt-get; sudo is used when not root): installed only when something
# is missing, so a ready machine never touches apt (the GPU machines have no network and no apt).
# clang + libclang-rt-dev are for scripts/sanitize.sh (test.sh skips that step where they are missing).
# Python: $FLASHMLA_PYTHON if set; else <repo>/.venv if it has torch; else a python3 on PATH that
# imports torch (the GPU machines); else a new venv at $FLASHMLA_VENV (default <repo>/.venv) with
# torch==2.11.0 (the default PyPI wheel, ~3 GB), numpy, pytest, scikit-build-core, ninja (and cmake
# when the system one is older than 3.25).
# FLASHMLA_SKIP_APT=1 skips the system-package step.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

with_python=1
for arg in "$@"; do
  case "$arg" in
    --no-python) with_python=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "setup.sh: unknown argument '$arg' (expected --no-python)" ;;
  esac
done

t_setup=$(now_s)

# ---- 1. system packages ------------------------------------------------------------------------
# Each entry: <Debian package>|<how to tell it is present>. Presence is checked on the machine,
# not in dpkg's database, so that tools installed another way (pip's cmake, a CUDA image) count.
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_file() { local f; for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }
cmake_ok() { have_cmd cmake && version_ge "$(cmake --version | awk 'NR==1 { print $3 }')" "$CMAKE_MIN_VERSION"; }

missing=()
check() {  # check <package> <test command...>
  local pkg="$1"
  shift
  if ! "$@"; then missing+=("$pkg"); fi
}
check_system_packages() {
  missing=()
  check g++ have_cmd g++
  check make have_cmd make
  check git have_cmd git
  check ninja-build have_cmd ninja
  check cmake have_cmd cmake
  check libgtest-dev have_file /usr/include/gtest/gtest.h /usr/local/include/gtest/gtest.h
  check nlohmann-json3-dev have_file /usr/include/nlohmann/json.hpp /usr/local/include/nlohmann/json.hpp
  check libcli11-dev have_file /usr/include/CLI/CLI.hpp /usr/local/include/CLI/CLI.hpp
  # scripts/sanitize.sh (a step of test.sh): clang with its ASan / UBSan / libFuzzer runtimes.
  check clang have_cmd clang++
  check libclang-rt-dev have_file /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a
  [ "$with_python" = 1 ] && find_python
  if [ "$with_python" = 1 ] && [ -z "$FOUND_PY" ]; then
    # A venv will be made: it needs venv + ensurepip (Debian's python3-venv) and headers.
    check python3 have_cmd python3
    check python3-venv python3 -c 'import venv, ensurepip' 2>/dev/null
    check python3-dev have_file "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)/Python.h"
  fi
}

t=$(now_s)
check_system_packages
if [ "${#missing[@]}" -eq 0 ]; then
  log "system packages: all present"
elif [ "${FLASHMLA_SKIP_APT:-0}" = 1 ]; then
  warn "system packages missing (FLASHMLA_SKIP_APT=1, not installing): ${missing[*]}"
else
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if have_cmd sudo && sudo -n true 2>/dev/null; then
      SUDO=(sudo -n)
    else
      SUDO=(__none__)
    fi
  fi
  if ! have_cmd apt-get || [ "${SUDO[*]}" = __none__ ]; then
    warn "cannot install system packages here (need apt-get and root or password-less sudo); missing: ${missing[*]}"
    warn "install them by hand: apt-get install ${missing[*]}"
  else
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      log "system packages installed ($(elapsed "$t") s)"
    else
      warn "apt-get failed (no network?)"
    fi
    check_system_packages
    # Not fatal: what is really needed makes the build fail later with a precise message.
    [ "${#missing[@]}" -eq 0 ] || warn "still missing: ${missing[*]}"
  fi
fi

# ---- 2. Python environment ---------------------------------------------------------------------
if [ "$with_python" = 1 ]; then
  t=$(now_s)
  find_python
  PY="$FOUND_PY"
  if [ -n "${FLASHMLA_PYTHON:-}" ] && ! python_has_torch "$PY"; then
    die "FLASHMLA_PYTHON=$FLASHMLA_PYTHON cannot import torch"
  fi
  if [ -z "$PY" ]; then
    have_cmd python3 || die "python3 not found"
    if [ ! -x "$FLASHMLA_VENV/bin/python" ]; then
      log "creating the virtual environment $FLASHMLA_VENV"
      python3 -m venv "$FLASHMLA_VENV"
    fi
    PY="$FLASHMLA_VENV/bin/python"
    log "installing torch==$TORCH_VERSION into $FLASHMLA_VENV (default PyPI wheel: ~3 GB download, ~1-2 min)"
    "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy pytest scikit-build-core
  fi
  use_python "$PY"
  versions="$("$PY" -c 'import sys, torch; print("%d.%d.%d" % sys.version_info[:3], torch.__version__)')"
  torch_ver="${versions#* }"
  log "python: $PY (Python ${versions%% *}, torch $torch_ver)"
  [ "${torch_ver%%+*}" = "$TORCH_VERSION" ] || warn "torch $torch_ver found; flashmla is tested with torch $TORCH_VERSION"

  # The rest: module name -> pip requirement. Installed only when missing.
  want=()
  "$PY" -c 'import numpy' 2>/dev/null || want+=(numpy)
  "$PY" -c 'import pytest' 2>/dev/null || want+=(pytest)
  "$PY" -c 'import scikit_build_core' 2>/dev/null || want+=(scikit-build-core)
  have_cmd ninja || "$PY" -c 'import ninja' 2>/dev/null || want+=(ninja)
  cmake_ok || want+=("cmake>=$CMAKE_MIN_VERSION")
  if [ "${#want[@]}" -gt 0 ]; then
    log "pip install ${want[*]}"
    "$PY" -m pip install -q --disable-pip-version-check "${want[@]}" ||
      die "pip install ${want[*]} failed (no network? set FLASHMLA_PYTHON to an interpreter that has them)"
  fi
  log "python environment ready ($(elapsed "$t") s)"
fi

cmake_ok || die "cmake >= $CMAKE_MIN_VERSION not found (have: $(cmake --version 2>/dev/null | head -n1 || echo none))"
have_cmd ninja || die "ninja not found"
if have_cmd nvcc; then
  log "CUDA: $(nvcc --version | awk '/release/ { print $5 $6 }') (the sm_90a kernels will be built)"
else
  log "CUDA: nvcc not found: the CPU backend only will be built"
fi
log "setup done ($(elapsed "$t_setup") s)"
