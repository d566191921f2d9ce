"""Plant known bugs one at a time and check that the test suite catches each (issue 17).

    python tests/mutation/planted.py            # every plant; writes tests/mutation/planted.md
    python tests/mutation/planted.py NAME ...   # some

Each plant replaces one exact piece of source text (it must occur once) in a copy of the
repository's ``src`` and ``tests``, then runs the named tests against that copy.  A plant is
caught when pytest reports a failing test (exit status 1); an import or collection error (any
other status) counts as not caught, so a plant that breaks the build proves nothing.  Not part
of CI (each plant runs its tests anew: minutes); its report is kept in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: name -> (file under src/xpmlp, text, replacement, pytest arguments, what the bug is)
PLANTS = {
    "cupy-sgd-kernel-sign": (
        "backends/cuda_kernels.py", '"p -= (T)lr * g"', '"p += (T)lr * g"',
        ["tests/backends/test_fastpaths.py", "tests/backends/test_cuda_kernels.py"],
        "the CuPy SGD kernel adds the step instead of subtracting it"),
    "torch-transport-skips-float32": (
        "distributed/transports.py", "        if len(arrays) == 1 and arrays[0].is_contiguous():",
        "        if arrays[0].dtype == torch.float32:\n            return\n"
        "        if len(arrays) == 1 and arrays[0].is_contiguous():",
        ["tests/distributed/test_data_parallel.py", "-k", "other_libraries and torch"],
        "torch.distributed's all-reduce skipped for float32"),
    "host-staging-skips-float32": (
        "distributed/transports.py", "        host = [np.array(self.backend.to_numpy(a)) for a in arrays]\n",
        "        host = [np.array(self.backend.to_numpy(a)) for a in arrays]\n"
        "        if host[0].dtype == np.float32:\n            return\n",
        ["tests/distributed/test_data_parallel.py", "-k", "other_libraries and strict"],
        "host staging (array-api-strict and others) skips the all-reduce for float32"),
    "nccl-dtype-table-swapped": (
        "distributed/transports.py", '{"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,',
        '{"float32": nccl.NCCL_FLOAT64, "float64": nccl.NCCL_FLOAT32,',
        ["tests/distributed/test_gpu_standins.py"], "NCCL told float32 buffers hold float64 and back"),
    "numpy-allreduce-skipped": (
        "distributed/transports.py",
        "            self.comm.comm.Allreduce(self.comm.MPI.IN_PLACE, arrays[0], op=self.comm.MPI.SUM)\n",
        "            pass\n",
        ["tests/distributed/test_data_parallel.py", "-k", "ranks_train_as_one_process"],
        "the in-place all-reduce of the flat gradient skipped (NumPy over MPI)"),
    "distributed-estimator-alone": (
        "estimators/_base.py", "        if not self.distributed:\n            return None",
        "        if True:\n            return None",
        ["tests/distributed/test_distributed_estimators.py"],
        "an estimator with distributed=True trains on its own rank's rows only"),
    "early-stopping-no-restore": (
        "training/stopping.py", "            run.net.flat[...] = self._best\n", "            pass\n",
        ["tests/training"], "early stopping does not restore the best weights"),
    "adaptive-rate-not-restored": (
        "io/model.py", '        schedule.learning_rate = float(sm["learning_rate"])\n', "",
        ["tests/io"], "a saved schedule's current learning rate is not restored on load"),
    "adamw-default-decay-zero": (
        "optim/optimizers.py", "epsilon: float = 1e-8, weight_decay: float = 0.01)",
        "epsilon: float = 1e-8, weight_decay: float = 0.0)",
        ["tests/optim", "tests/estimators", "tests/app/test_cli.py"], "AdamW's default weight decay 0"),
    "dropout-mask-missing-in-delta": (
        "nn/backprop.py", "                g *= trace.mask(i)  # dropout: ⊙ m^{l-1} / (1-p)\n", "                pass\n",
        ["tests/training/test_dropout.py"], "dropout's mask left out of delta^l"),
    "loss-scale-not-undone": (
        "training/precision.py", "        g /= self.scale\n", "",
        ["tests/training/test_precision.py"], "float16's loss scale left in the gradient"),
    "class-weight-drops-sample-weight": (
        "training/class_weight.py", "        rows = rows * np.asarray(sample_weight, dtype=np.float64).reshape(-1)\n",
        "        rows = rows\n", ["tests/training/test_class_weight.py"], "class weights replace sample weights"),
    "weight-decay-on-biases": (
        "optim/optimizers.py", "return [params.flat], [grads.flat], [params.weights]",
        "return [params.flat], [grads.flat], [params.flat]",
        ["tests/optim", "tests/training"], "decoupled weight decay shrinks the biases too"),
    "numpy-axpy-sign": (
        "backends/numpy_ops.py", "    axpy(x, y, a=alpha)", "    axpy(x, y, a=-alpha)",
        ["tests/backends/test_fastpaths.py"], "the NumPy L2 gradient's axpy subtracts"),
    "torch-affine-drops-bias": (
        "backends/torch_ops.py", "torch.addmm(b, a, W, out=out)", "torch.mm(a, W, out=out)",
        ["tests/backends/test_fastpaths.py"], "the torch fused z = aW + b forgets b"),
    "lbfgs-theta-aliases-weights": (
        "training/lbfgs.py", "theta0 = np.array(net.backend.to_numpy(net.flat)", "theta0 = np.asarray(net.backend.to_numpy(net.flat)",
        ["tests/training/test_lbfgs.py"], "L-BFGS's starting point is the weights' own buffer (moved by every evaluation)"),
    "softmax-torch-lse": (
        "backends/torch_ops.py", "lse = z[:, :1] - log_a[:, :1]", "lse = z[:, :1] + log_a[:, :1]",
        ["tests/backends/test_fastpaths.py"], "the torch softmax's log-normaliser has the wrong sign"),
}


def plant(name: str, work: Path) -> tuple[bool, str]:
    """Apply plant ``name`` to a fresh copy under ``work``; run its tests; ``(caught, summary)``."""
    rel, old, new, tests, _ = PLANTS[name]
    copy = work / name
    for part in ("src", "tests", "pyproject.toml", "README.md"):
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / part)
    target = copy / "src" / "xpmlp" / rel
    text = target.read_text()
    if text.count(old) != 1:
        return False, f"the text to replace occurs {text.count(old)} times in {rel}: the plant is stale"
    target.write_text(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "SCIPY_ARRAY_API": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=copy,
                          env=env, capture_output=True, text=True)
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    return done.returncode == 1, (failed[0] if failed else done.stdout.strip().splitlines()[-1] if done.stdout else
                                  done.stderr.strip()[-300:])


def main(names: list[str]) -> int:
    rows, missed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or list(PLANTS):
            start = time.perf_counter()
            caught, summary = plant(name, Path(tmp))
            missed += not caught
            row = f"| `{name}` | {PLANTS[name][4]} | {'caught' if caught else '**NOT CAUGHT**'} | {summary} |"
            print(row, f"({time.perf_counter() - start:.0f} s)", flush=True)
            rows.append(row)
    if not names:
        report = ROOT / "tests" / "mutation" / "planted.md"
        report.write_text("# Planted bugs\n\nMade by `python tests/mutation/planted.py` (see its docstring).\n\n"
                          "| plant | the bug | result | first failing test |\n| --- | --- | --- | --- |\n"
                          + "\n".join(rows) + f"\n\n{len(rows) - missed} of {len(rows)} caught.\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
