#!/usr/bin/env bash
# Wheels for bench/gpu_check.sh on a lent GPU machine, which reaches no package index: the packages
# xpmlp and its tests need beyond that machine's image (PyTorch, CuPy, scikit-learn, ... are there),
# for its Python 3.12, into .whl/ (ignored by git). Run here, where pip reaches PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl array-api-compat array-api-strict array-api-extra mpich
ls -la .whl
