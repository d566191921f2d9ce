#!/usr/bin/env bash
# The one-shot GPU check: run it on the day a CUDA machine is lent, from the repository root.
#
#   bash bench/gpu_check.sh OUTDIR
#
# It writes into OUTDIR (and prints) what the GPU does with xpmlp, each step bounded in time so the
# whole takes under 8 minutes: the machine (nvidia-smi, versions); the GPU cases of the test suite
# (CuPy, torch CUDA); `xpmlp selftest` on every backend and device; a short `bench_train.py
# --device gpu`; and a data-parallel run of 2 ranks on the GPUs present (with one GPU both ranks
# share it, so the transport falls back to host staging and says so). Without a GPU it says so
# and stops (exit status 3). It installs nothing from the network: Python packages the machine
# lacks travel as wheels in .whl/ (bash bench/gpu_wheels.sh makes them where pip reaches PyPI).
# Results go to OUTDIR/summary.txt (and one log per step); bench/README.md says where to keep them.
set -uo pipefail
out="${1:?usage: bash bench/gpu_check.sh OUTDIR}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/xpmlp-site .whl/*.whl
    export PYTHONPATH="/tmp/xpmlp-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
summary="$out/summary.txt"
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUTDIR/NAME.txt, note the outcome
    local name="$1" limit="$2"; shift 2
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.txt" 2>&1
    local rc=$?
    say "$(printf '%-12s exit %3d after %4ds (limit %ds): %s' "$name" "$rc" $((SECONDS - start)) "$limit" "$*")"
    tail -n 15 "$out/$name.txt" | sed 's/^/    /' | tee -a "$summary"
}

say "xpmlp GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
step machine 60 sh -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $py -c '
import platform, numpy, xpmlp
print(\"python\", platform.python_version(), \"numpy\", numpy.__version__, \"xpmlp\", xpmlp.__version__)
for name, why in xpmlp.available_backends().items():
    print(f\"{name:17s} {why}\")
'"
gpus=$("$py" -c "
try:
    import torch; n = torch.cuda.device_count()
except Exception:
    n = 0
if not n:
    try:
        import cupy; n = cupy.cuda.runtime.getDeviceCount() if cupy.is_available() else 0
    except Exception:
        n = 0
print(n)" 2>/dev/null || echo 0)
if [ "${gpus:-0}" -lt 1 ]; then
    say "no GPU was found (neither torch.cuda nor cupy sees a device): nothing more to check here"
    exit 3
fi
say "GPUs found: $gpus"
step tests 240 "$py" -m pytest -q -x -p no:cacheprovider tests -k "cupy-f or torch-cuda-f or cupy-0 or gpu" \
    --deselect tests/distributed
step selftest 90 "$py" -m xpmlp selftest --json "$out/selftest.json"
step bench 120 "$py" bench/bench_train.py --device gpu --config small --config mnist-like --repeats 3 \
    --json "$out/bench.json"
mpiexec=$(command -v mpiexec || true)
if [ -z "$mpiexec" ]; then
    say "mpi          skipped: no mpiexec here (carry the mpich wheel: bash bench/gpu_wheels.sh)"
else
    backend=cupy
    "$py" -c "import cupy; assert cupy.is_available()" 2>/dev/null || backend=torch:cuda
    step mpi 90 "$mpiexec" -n 2 "$py" -m xpmlp train --dataset digits --backend "$backend" --no-progress \
        --epochs 20
fi
say "done: $(ls "$out" | tr '\n' ' ')"
