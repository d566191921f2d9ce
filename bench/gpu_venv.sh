#!/usr/bin/env bash
# The private environment of bench/gpu_check.sh: a venv over the machine's Python that sees the
# machine's own packages (--system-site-packages: its CuPy, PyTorch and NumPy, never a second CuPy),
# with what the machine lacks installed into it from the carried wheels (bench/gpu_wheels.sh).
#
#   bash bench/gpu_venv.sh PYTHON VENV [WHEELS]      # WHEELS: default .whl
#
# Makes no venv when PYTHON lacks nothing. Prints what it installed. The mpich wheel puts mpiexec (and hydra_pmi_proxy) in VENV/bin and
# libmpi.so.12 in VENV/lib: run the venv's Python with PATH=VENV/bin:$PATH and
# LD_LIBRARY_PATH=VENV/lib (gpu_check.sh does), and mpiexec, libmpi and mpi4py work.
# Exit status: 0 installed (or nothing missing), 1 an install failed, 3 something missing and no wheels.
set -uo pipefail
py="${1:?usage: bash bench/gpu_venv.sh PYTHON VENV [WHEELS]}"
venv="${2:?usage: bash bench/gpu_venv.sh PYTHON VENV [WHEELS]}"
wheels="${3:-.whl}"
# The distributions the check needs, as pip names them, and a module that shows each is there.
needed="array-api-compat:array_api_compat array-api-strict:array_api_strict array-api-extra:array_api_extra
mpi4py:mpi4py ml-dtypes:ml_dtypes pytest:pytest hypothesis:hypothesis mpmath:mpmath tqdm:tqdm
iniconfig:iniconfig pluggy:pluggy packaging:packaging pygments:pygments sortedcontainers:sortedcontainers"
missing_in() {  # missing_in PYTHON: the distributions it lacks (mpich: when no mpiexec is beside it or on PATH)
    local found
    found=$("$1" - "$needed" <<'EOF2'
import importlib.util, sys
names = [pair.split(":") for pair in sys.argv[1].split()]
print(" ".join(dist for dist, module in names if importlib.util.find_spec(module) is None))
EOF2
)
    PATH="$(dirname "$1"):$PATH" command -v mpiexec >/dev/null || found="mpich $found"
    echo $found
}
missing=$(missing_in "$py")
if [ -z "$missing" ]; then
    echo "nothing missing: $py has every package the check needs, and mpiexec; no venv made"
    exit 0
fi
"$py" -m venv --system-site-packages --without-pip "$venv" || exit 1
vpy="$venv/bin/python"
# If PYTHON is itself a venv's (as in many images), --system-site-packages reaches only its base
# interpreter's packages: a .pth file puts PYTHON's own site directories after the venv's.
"$py" -c "import site; print('\n'.join(site.getsitepackages() + [site.getusersitepackages()]))" \
    > "$("$vpy" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_machine_site.pth" || exit 1
missing=$(missing_in "$vpy")
if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
    echo "missing: $missing; and no wheels in $wheels (make them with bash bench/gpu_wheels.sh, and carry $wheels)"
    exit 3
fi
pip=("$vpy" -m pip)  # the machine's pip, seen through the system site packages, installs into the venv
"$vpy" -c "import pip" 2>/dev/null || pip=("$vpy" "$(ls "$wheels"/pip-*.whl | head -n 1)/pip")
echo "installing into $venv: $missing"
"${pip[@]}" install -q --no-index --no-deps --no-compile --disable-pip-version-check --find-links "$wheels" $missing
