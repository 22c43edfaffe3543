#!/usr/bin/env bash
# The prepared device check (issue 11): run on a lent GPU machine with
#   run(command="make gpu-check", carry=[".whl"], timeout_s=600)
# after `make wheelhouse` here. Each step has its own timeout, so a hang costs one
# step, not the call; the steps' timeouts add up to 9 minutes at most. Everything
# lands flat in $OUT (at most 8 files come back): env.txt, install.log, smoke.log,
# tests.log, junit.xml, bench.log, bench.json, bench.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
SITE=${GPU_CHECK_SITE:-/tmp/site}
T_INSTALL=${T_INSTALL:-60} T_SMOKE=${T_SMOKE:-30} T_TESTS=${T_TESTS:-300} T_BENCH=${T_BENCH:-130}
STATUS=()

step() {  # step NAME TIMEOUT LOG COMMAND...: run with a timeout, log, remember the exit code
  local name=$1 limit=$2 log=$3; shift 3
  local t0=$SECONDS
  echo "== $name (timeout ${limit}s): $*" | tee -a "$log"
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$log"
  STATUS+=("$name=$rc/$((SECONDS - t0))s")
  return $rc
}

# -- 0. the machine and versions -------------------------------------------------------
{
  date -u +%FT%TZ; uname -a
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,power.limit \
    --format=csv 2>&1
  "$PY" -V; git log -1 --oneline 2>/dev/null || true
  "$PY" -m pip list 2>/dev/null | grep -i -E \
    "^(torch|cupy|numba|llvmlite|numpy|scipy|xarray|astropy|sunpy|pytest) " || true
} >"$OUT/env.txt" 2>&1

# -- 1. install what the image lacks, from .whl/ only, and the project without GPU extras --
install() {
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" .whl/*.whl || return 1
  else
    echo "no .whl/ folder: carry it (make wheelhouse, then run(..., carry=['.whl']))"
  fi
  export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
  # the project itself: importable from the tree (PYTHONPATH), no dependencies, no GPU extras
  "$PY" -c "import solarprep, kernels, solarmodels; print('solarprep', solarprep.__version__, solarprep.__file__)"
}
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
step install "$T_INSTALL" "$OUT/install.log" bash -c "$(declare -f install); PY=$PY SITE=$SITE install"
"$PY" -m pip check >>"$OUT/install.log" 2>&1 || true

# -- 2. smoke: a CuPy kernel and rfft, a numba.cuda kernel on a CuPy array, CuPy -> torch -----
step smoke "$T_SMOKE" "$OUT/smoke.log" "$PY" bench/device/gpu_smoke.py

# -- 3. the whole test suite on the GPU (real CuPy; real_gpu tests included) -------------
# (GPU_CHECK_TESTS / GPU_CHECK_STANDIN: a dry run on a machine without a GPU, see docs/devices.md)
# shellcheck disable=SC2086
step tests "$T_TESTS" "$OUT/tests.log" "$PY" -m pytest -q -p no:cacheprovider \
  --cupy-standin="${GPU_CHECK_STANDIN:-off}" -o addopts="-ra --strict-markers" \
  --junitxml="$OUT/junit.xml" --durations=15 ${GPU_CHECK_TESTS:-tests}

# -- 4. every GPU bench row (CUDA events; results table copied back) ---------------------
export SOLARPREP_BENCH_POWER_SERIES_HOURS=${SOLARPREP_BENCH_POWER_SERIES_HOURS:-16}
step bench "$T_BENCH" "$OUT/bench.log" "$PY" -m pytest bench -q -p no:cacheprovider \
  --benchmark-only -k "cuda or cupy or gpu" --benchmark-json="$OUT/bench.json" -o addopts=""
# the table this run wrote, if any (not an older committed one)
latest=$(find bench/results -name '*.md' -newer "$OUT/env.txt" 2>/dev/null | head -1)
[ -n "$latest" ] && cp "$latest" "$OUT/bench.md"

echo "gpu-check: ${STATUS[*]}" | tee -a "$OUT/env.txt"
tail -3 "$OUT/tests.log" 2>/dev/null
grep -E "^\| " "$OUT/bench.log" 2>/dev/null | tail -25
