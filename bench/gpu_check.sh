#!/usr/bin/env bash
# The one-shot GPU check: evidence from one lent GPU in one command of at most 7 minutes.
#
#   bash bench/gpu_check.sh OUTDIR              # on the GPU machine, from the repository root
#   bash bench/gpu_check.sh OUTDIR --dry-run    # anywhere: every step against the stand-ins
#
# Steps, each with its own time limit (together 385 s; the check stops starting steps at 400 s):
#   install   a private venv over the machine's Python (--system-site-packages: its CuPy and torch,
#             never a second CuPy) with what it lacks, from the carried wheels in .whl/
#             (bench/gpu_wheels.sh, bench/gpu_venv.sh), so that mpiexec, libmpi and mpi4py work
#   machine   nvidia-smi, versions, GPUs and their PCI bus ids, MPI, xpmlp's backends
#   tests     the test suite's CuPy and torch-CUDA cases (-x, capped in time: the rest do not start)
#   selftest  xpmlp selftest on cupy and torch (CPU and CUDA), float64 and float32
#   nosync    gpu_nosync.py: the step loop under cupyx.allow_synchronize(False) and
#             torch.cuda.set_sync_debug_mode("error"), dense and sparse, float32/float16/bfloat16
#   nccl      gpu_nccl.py: 1-rank all-reduces through cupy.cuda.nccl and torch.distributed (nccl)
#   mpi       gpu_mpi.py under mpiexec -n 2 on the one GPU: the transport chosen, equal to one process
#   speed     gpu_speed.py: CUDA-event timings of xpmlp-CuPy, xpmlp-torch, torch eager vs cuBLAS
#   stream    gpu_stream.py: streamed training from a .npy file, its copies' timeline (CUDA events:
#             how long the compute stream waited for the side stream's copies), stream-timeline.json
# Everything goes under OUTDIR: one log per step (NAME.txt, written as it runs), the checks' results
# as JSON lines (NAME.jsonl), and summary.txt, which gets each step's line (pass, fail or
# could-not-run, and its time) as the step ends, and a final verdict. Without a GPU (and without
# --dry-run) it says so after the machine step and exits with status 3; otherwise 1 if a step
# failed, else 0. --dry-run marks every line as a stand-in result: it proves the steps run, not
# anything about a GPU. bench/README.md says how to run it on a lent machine.
set -uo pipefail
out="${1:?usage: bash bench/gpu_check.sh OUTDIR [--dry-run]}"
dry=0
[ "${2:-}" = "--dry-run" ] && dry=1
mkdir -p "$out" && out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
py="$(command -v "$py")" || { echo "gpu_check.sh: no Python '${PYTHON:-python3}' here (set PYTHON)" >&2; exit 2; }
venv="${XPMLP_GPU_VENV:-/tmp/xpmlp-gpu-venv}"
budget=400
summary="$out/summary.txt"
: > "$summary"
rm -f "$out"/*.jsonl "$out/STAND-IN-RESULTS.txt"  # the JSON lines are appended to: start afresh
failed=0
steps=()
tag=""
[ "$dry" = 1 ] && tag="[stand-in] "
say() { echo "$*" | tee -a "$summary"; }

step() {  # step NAME LIMIT COMMAND...: run it within LIMIT (and the overall budget), log, summarise
    local name="$1" limit="$2"; shift 2
    local left=$((budget - SECONDS)) start=$SECONDS status rc
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 5 ]; then
        say "$(printf '%s%-9s %-13s %4ds (limit %3ds)  %s' "$tag" "$name" could-not-run 0 0 "the check's ${budget} s are spent")"
        steps+=("$name could-not-run")
        return
    fi
    timeout -k 5 "$limit" "$@" > "$out/$name.txt" 2>&1
    rc=$?
    case "$rc" in
        0) status=pass ;;
        3) status=could-not-run ;;
        124|137) status=fail; echo "TIMED OUT after ${limit} s" >> "$out/$name.txt" ;;
        *) status=fail ;;
    esac
    [ "$status" = fail ] && failed=1
    steps+=("$name $status")
    say "$(printf '%s%-9s %-13s %4ds (limit %3ds)  exit %d: %s' "$tag" "$name" "$status" $((SECONDS - start)) "$limit" \
        "$rc" "$(echo "$*" | cut -c1-110)")"
    if [ "$name" = machine ]; then
        :  # its facts follow
    elif [ "$name" = tests ]; then
        grep -h '^xpmlp-gpu-check tests:' "$out/$name.txt" | sed 's/^/    /' | tee -a "$summary"
        tail -n 1 "$out/$name.txt" | sed 's/^/    /' | tee -a "$summary"
    elif grep -q '^RESULT ' "$out/$name.txt"; then
        grep '^RESULT ' "$out/$name.txt" | sed 's/^RESULT /    /' | tee -a "$summary"
    else
        tail -n 4 "$out/$name.txt" | sed 's/^/    /' | tee -a "$summary"
    fi
    [ "$status" = pass ] || tail -n 8 "$out/$name.txt" | grep -v '^RESULT ' | sed 's/^/    | /' | tee -a "$summary"
}

if [ "$dry" = 1 ]; then
    echo "Stand-in results (bash bench/gpu_check.sh --dry-run): every step ran against tests/standins on the CPU." \
        "No GPU was used; nothing here is a GPU result." > "$out/STAND-IN-RESULTS.txt"
    say "xpmlp GPU check -- DRY RUN: STAND-IN RESULTS, NOT GPU RESULTS (tests/standins on the CPU; no GPU was used)"
else
    say "xpmlp GPU check"
fi
say "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), host ${HOSTNAME:-?}, $py"

[ -f "$venv/pyvenv.cfg" ] && rm -rf "$venv"  # a venv of an earlier run (nothing else is removed)
step install 30 bash bench/gpu_venv.sh "$py" "$venv" .whl
if [ -x "$venv/bin/python" ]; then
    py="$venv/bin/python"
    export PATH="$venv/bin:$PATH" LD_LIBRARY_PATH="$venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PATH="$(dirname "$py"):$PATH"
# CuPy finds NCCL where torch's wheel put it (nvidia-nccl-cu12), if the machine has no libnccl of its own
nccl=$("$py" -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))" 2>/dev/null)
[ -n "$nccl" ] && export LD_LIBRARY_PATH="$nccl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONPATH="$PWD/src:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
dryflag=()
[ "$dry" = 1 ] && dryflag=(--dry-run)

step machine 25 sh -c "nvidia-smi --query-gpu=index,name,pci.bus_id,memory.total,driver_version --format=csv \
    || echo 'nvidia-smi: not here'; exec \"\$0\" bench/gpu_machine.py \"\$@\"" "$py" "${dryflag[@]}"
grep -E '^(cupy|torch|  (cupy|torch) device|  [a-z_]+ +(ok|[A-Z]))' "$out/machine.txt" | sed "s/^/    /" | tee -a "$summary"
if [ "$dry" = 0 ]; then
    gpus=$("$py" bench/gpu_machine.py --gpus 2>/dev/null || echo 0)
    if [ "${gpus:-0}" -lt 1 ]; then
        say "no GPU was found (neither torch.cuda nor cupy sees a device): nothing more to check here (exit 3)"
        exit 3
    fi
    say "GPUs found: $gpus"
    cases="cupy,torch-cuda"
    pick="cupy-f or torch-cuda-f"
else
    cases="cupy-standin,torch-standin"
    pick="cupy-standin or torch-standin"
fi
dirs=(tests/backends tests/nn tests/training tests/optim)  # the GPU paths first; the rest as time allows
[ "$dry" = 1 ] || dirs+=(tests/estimators tests/io tests/app tests/diagnostics)
cap="${XPMLP_GPU_CHECK_TEST_CAP:-90}"
step tests "$cap" env XPMLP_TEST_BUDGET=$((cap - 15)) XPMLP_TEST_BACKENDS="$cases" "$py" -m pytest -x -q \
    -p no:cacheprovider -p gpu_budget "${dirs[@]}" -k "$pick"
quick=()
[ "$dry" = 1 ] && quick=(--quick)  # float32 only: the stand-ins are slow
step selftest 50 "$py" bench/gpu_common.py "${dryflag[@]}" -m xpmlp selftest --backend cupy torch "${quick[@]}" \
    --json "$out/selftest.json"
step nosync 40 "$py" bench/gpu_nosync.py "${dryflag[@]}" --json "$out/nosync.jsonl"
step nccl 25 "$py" bench/gpu_nccl.py "${dryflag[@]}" --json "$out/nccl.jsonl"
if command -v mpiexec >/dev/null; then
    step mpi 45 mpiexec -n 2 "$py" bench/gpu_mpi.py "${dryflag[@]}" --json "$out/mpi.jsonl"
else
    step mpi 5 sh -c 'echo "RESULT could-not-run no mpiexec (carry .whl/ from bash bench/gpu_wheels.sh)"; exit 3'
fi
step speed 55 "$py" bench/gpu_speed.py "${dryflag[@]}" --json "$out/speed.jsonl"
step stream 25 "$py" bench/gpu_stream.py "${dryflag[@]}" --json "$out/stream.jsonl" --timeline "$out/stream-timeline.json"

verdict="every step passed"
[ "$failed" = 1 ] && verdict="SOME STEPS FAILED"
printf '%s\n' "${steps[@]}" | grep -q could-not-run && verdict="$verdict; some could not run"
checks=$(cat "$out"/*.txt | grep '^RESULT ' | cut -d' ' -f2 | sort | uniq -c | awk '{printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2}')
say "${tag}summary: $verdict; steps: $(IFS=,; echo "${steps[*]}" | sed 's/,/, /g'); checks: ${checks:-none}; in $SECONDS s"
[ "$dry" = 1 ] && say "(dry run: stand-in results on the CPU, not GPU results)"
exit "$failed"
