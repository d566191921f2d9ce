#!/usr/bin/env bash
# Wheels for bench/gpu_check.sh on a lent GPU machine, which reaches no package index. Run it here,
# where pip reaches PyPI:
#
#   bash bench/gpu_wheels.sh [PYTHON_VERSION ...]      # default: 3.10 3.11 3.12 3.13
#
# It fills .whl/ (git-ignored; name it in the run's carry list so that it travels) with what an image
# that has CuPy and PyTorch (and so NumPy) lacks: the MPI library (mpich) and mpi4py, the Array API
# packages, ml_dtypes (bfloat16 on CuPy), pytest and hypothesis with their dependencies, and pip
# itself (for an image whose Python has none). Binary wheels come once per Python version asked for;
# the rest once. gpu_check.sh installs, into a private venv, only those the machine does not have.
# The folder must stay under the 64 MiB a run carries: it is about 30 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.11 3.12 3.13)
py="${PYTHON:-python3}"
dir=.whl
mkdir -p "$dir"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
           --platform manylinux_2_34_x86_64)
# binary (one wheel per Python version; mpich's is the same for all); pure Python (one wheel for all)
binary=(mpi4py ml_dtypes hypothesis)
pure=(array-api-compat array-api-strict array-api-extra pytest iniconfig pluggy packaging pygments
      sortedcontainers mpmath tqdm pip)
for v in "${versions[@]}"; do
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version "$v" --implementation cp \
        "${platforms[@]}" -d "$dir" "${binary[@]}" mpich
done
"$py" -m pip download -q --no-deps --only-binary=:all: -d "$dir" "${pure[@]}"
size=$(du -sm "$dir" | cut -f1)
ls -1 "$dir"
echo "$dir: $(ls "$dir" | wc -l) wheels, ${size} MiB (a run carries at most 64 MiB)"
[ "$size" -lt 60 ] || { echo "gpu_wheels.sh: $dir is too large to carry (${size} MiB): remove Python versions" >&2; exit 1; }
