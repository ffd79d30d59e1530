#!/usr/bin/env bash
# The installed CMake package, tested as an outside project uses it (a step of scripts/test.sh):
#   1. cmake --install <build dir> --prefix <temporary prefix>
#   2. configure + build tests/consumer against it (find_package(flashmla) via CMAKE_PREFIX_PATH)
#   3. run it: one small decode on the CPU backend, checked against its own reference.
#
#   scripts/consumer_test.sh [build dir]   (default $FLASHMLA_BUILD_DIR, else build/release: built already)
# The prefix is removed afterwards unless FLASHMLA_KEEP_CONSUMER=1.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build="${1:-$BUILD_DIR}"
[ -f "$build/CMakeCache.txt" ] || die "consumer_test.sh: $build is not a configured build (run scripts/test.sh first)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/flashmla-consumer.XXXXXX")"
[ "${FLASHMLA_KEEP_CONSUMER:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT

log "consumer: installing $build into $tmp/prefix"
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
# The compiler of the main build: the package is a static library.
cxx="$(awk -F= '/^CMAKE_CXX_COMPILER:/ { print $2 }' "$build/CMakeCache.txt")"
log "consumer: building tests/consumer against it"
cmake -S "$ROOT/tests/consumer" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" ${cxx:+-DCMAKE_CXX_COMPILER="$cxx"} >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" || exit 1
"$tmp/build/flashmla_consumer"
