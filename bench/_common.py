"""Shared pieces of the xpmlp benchmarks: shapes, data, starting weights,
the common loss evaluator, timers, the environment report and table printing
(the contenders are in ``_contenders.py``, the process isolation in ``_isolation.py``).

Every contender trains the same network:
    z^l = a^{l-1} @ W^l + b^l,  a^l = relu(z^l) for hidden layers,
    softmax output, loss = mean over the minibatch of the cross-entropy,
    plain SGD: W -= lr * (gradient averaged over the minibatch).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import statistics
import sys
import time

import numpy as np

DTYPE = np.float32


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    n_samples: int
    layers: tuple[int, ...]
    batch_size: int

    @property
    def n_steps(self) -> int:
        """Minibatches per epoch (the last one may be partial)."""
        return -(-self.n_samples // self.batch_size)

    def describe(self) -> str:
        shape = " -> ".join(str(n) for n in self.layers)
        return (f"{self.name}: {self.n_samples} samples, {shape}, "
                f"batch {self.batch_size} ({self.n_steps} steps/epoch)")


CONFIGS = {
    "small": Config("small", 20000, (64, 100, 10), 200),
    "mnist-like": Config("mnist-like", 60000, (784, 512, 256, 10), 256),
    "wide": Config("wide", 16384, (1024, 4096, 4096, 10), 512),
}


def parse_layers(text: str) -> tuple[int, ...]:
    """'64,100,10' -> (64, 100, 10)."""
    layers = tuple(int(part) for part in text.split(",") if part.strip())
    if len(layers) < 2 or min(layers) < 1:
        raise ValueError(f"--layers needs at least two positive sizes, got {text!r}")
    return layers


def flops_per_sample(layers) -> int:
    """Nominal training cost: forward, dX and dW products, 2 flops per
    multiply-add each, so 6 x sum(fan_in x fan_out) per sample."""
    return 6 * sum(fan_in * fan_out for fan_in, fan_out in zip(layers[:-1], layers[1:]))


# --------------------------------------------------------------------------
# Data and starting weights (drawn once on the host)
# --------------------------------------------------------------------------

def make_data(n_samples: int, n_in: int, n_out: int, seed: int = 0):
    """Synthetic classification data a small MLP learns quickly.

    Labels are the argmax of a random linear teacher on standard normal
    inputs plus Gumbel noise (so classes overlap a little). The inputs are
    then scaled so a sample's norm is about 8 whatever n_in (MNIST pixels in
    [0, 1] have a norm near 9): one learning rate then suits every shape,
    and SGD noise stays small enough for the same-loss check.
    Returns X (n, n_in) float32, T one-hot (n, n_out) float32, y int64 labels.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_in), dtype=DTYPE)
    teacher = rng.standard_normal((n_in, n_out), dtype=DTYPE) * (3.0 / np.sqrt(n_in))
    scores = X @ teacher + rng.gumbel(size=(n_samples, n_out)).astype(DTYPE)
    y = np.argmax(scores, axis=1).astype(np.int64)
    X *= DTYPE(8.0 / np.sqrt(max(n_in, 64)))
    T = np.zeros((n_samples, n_out), dtype=DTYPE)
    T[np.arange(n_samples), y] = 1
    return X, T, y


def init_weights(layers, seed: int = 0):
    """Glorot-uniform weights and biases (shapes (fan_in, fan_out) and
    (fan_out,)), float32, from one numpy Generator."""
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for fan_in, fan_out in zip(layers[:-1], layers[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        Ws.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(DTYPE))
        bs.append(rng.uniform(-limit, limit, fan_out).astype(DTYPE))
    return Ws, bs


def copy_weights(Ws, bs):
    return [W.copy() for W in Ws], [b.copy() for b in bs]


# --------------------------------------------------------------------------
# The common evaluator: one NumPy forward pass for every contender
# --------------------------------------------------------------------------

def mean_cross_entropy(Ws, bs, X, y, chunk: int = 4096) -> float:
    """Mean cross-entropy of softmax(MLP(X)) against labels y, from host
    weights, with NumPy: float32 products (float64 ones are many times
    slower on the wide shape and the check's tolerance is percent-level),
    log-softmax and the sum in float64. Used for every contender."""
    Ws = [np.asarray(W, dtype=DTYPE) for W in Ws]
    bs = [np.asarray(b, dtype=DTYPE) for b in bs]
    total = 0.0
    for start in range(0, X.shape[0], chunk):
        a = X[start:start + chunk]
        for layer, (W, b) in enumerate(zip(Ws, bs)):
            z = a @ W + b
            a = np.maximum(z, 0) if layer < len(Ws) - 1 else z
        a = a.astype(np.float64)
        a -= a.max(axis=1, keepdims=True)
        log_p = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
        total -= log_p[np.arange(a.shape[0]), y[start:start + chunk]].sum()
    return float(total / X.shape[0])


# --------------------------------------------------------------------------
# Array libraries and devices
# --------------------------------------------------------------------------

def cupy_status():
    """(cupy module or None, reason when None). Gates on cupy.is_available()
    so a machine with CuPy installed but no GPU is handled."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install
        return None, f"cupy not installed ({type(exc).__name__})"
    try:
        if not cupy.is_available():
            return None, "cupy installed but no CUDA device"
    except Exception as exc:
        return None, f"cupy cannot reach a CUDA device ({exc})"
    return cupy, ""


def torch_missing() -> str | None:
    """Why torch cannot be used here ("torch not installed"), or None; looked up without importing it, so
    this process keeps no torch thread pools."""
    import importlib.util

    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # an import hook refusing it, or a broken install
        found = False
    return None if found else "torch not installed"


def torch_cuda_status():
    """(torch module or None, reason when None)."""
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    if not torch.cuda.is_available():
        return None, "no CUDA device for torch"
    return torch, ""


def set_tf32(allow: bool) -> None:
    """TF32 off unless asked. Torch: backend flags. CuPy reads CUPY_TF32 at
    import, so this must run before cupy is imported."""
    if allow:
        os.environ.setdefault("CUPY_TF32", "1")
    else:
        os.environ["CUPY_TF32"] = "0"
    try:
        import torch
    except ImportError:
        return
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


# --------------------------------------------------------------------------
# Timers: wall clock on the CPU, CUDA events after a synchronise on the GPU
# --------------------------------------------------------------------------

def time_call(fn, clock: str = "cpu") -> float:
    """Seconds taken by fn(). clock is 'cpu', 'cupy' or 'torch-cuda'."""
    if clock == "cpu":
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    if clock == "cupy":
        import cupy
        cupy.cuda.Device().synchronize()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3
    if clock == "torch-cuda":
        import torch
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    raise ValueError(f"unknown clock {clock!r}")


def xpmlp_backends() -> dict:
    """{backend: "ok" or why it cannot run here}, from xpmlp itself;
    empty when xpmlp cannot be imported."""
    try:
        import xpmlp
    except ImportError:
        return {}
    found = getattr(xpmlp, "available_backends", None)
    if found is None:
        from xpmlp.backends import backend as found_module
        found = found_module.available_backends
    status = found()
    if not isinstance(status, dict):          # a plain list of names
        status = {name: "ok" for name in status}
    return status


# --------------------------------------------------------------------------
# Environment report
# --------------------------------------------------------------------------

def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bf16_capability() -> str:
    """The CPU's bfloat16 matrix support, from its flags: AMX-BF16 tiles, AVX512-BF16 dot
    products, or none (bfloat16 then runs through float32 conversions)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    found = [name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16")) if flag in flags]
    return " and ".join(found) if found else "none"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def environment(threads: int) -> dict:
    """Versions, BLAS/OpenMP pools (threadpoolctl), threads and devices."""
    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_bf16": bf16_capability(),
        "usable_cores": usable_cores(),
        "threads": threads,
        "versions": {dist: _version(dist) for dist in
                     ("numpy", "torch", "scikit-learn", "xpmlp", "array-api-compat",
                      "array-api-strict")},
        "env_vars": {k: v for k, v in sorted(os.environ.items())
                     if k.startswith(("OPENBLAS", "OMP_", "MKL_", "CUPY_"))},
        "gpu": None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    cupy_dists = [d for d in ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x")
                  if _version(d) != "not installed"]
    env["versions"]["cupy"] = (", ".join(f"{d} {_version(d)}" for d in cupy_dists)
                               or "not installed")
    try:
        from threadpoolctl import threadpool_info
        env["threadpools"] = [
            {k: info.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                      "architecture", "threading_layer", "num_threads")}
            for info in threadpool_info()]
    except ImportError:
        env["threadpools"] = "threadpoolctl not installed"
    try:
        import torch
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    torch_cuda, _ = torch_cuda_status()
    if torch_cuda is not None:
        env["gpu"] = torch_cuda.cuda.get_device_name(0)
        env["tf32_torch"] = bool(torch_cuda.backends.cuda.matmul.allow_tf32)
    cupy, _ = cupy_status()
    if cupy is not None:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        env["gpu"] = name.decode() if isinstance(name, bytes) else name
        env["cupy_tf32"] = os.environ.get("CUPY_TF32", "0")
    return env


def print_environment(env: dict) -> None:
    print(f"python {env['python']} on {env['platform']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    print(f"cpu: {env['cpu']}; bfloat16: {env['cpu_bf16']}; usable cores {env['usable_cores']}; "
          f"threads used {env['threads']}"
          + (f"; torch threads {env['torch_threads']}" if "torch_threads" in env else ""))
    if env["env_vars"]:
        print("env: " + " ".join(f"{k}={v}" for k, v in env["env_vars"].items()))
    pools = env["threadpools"]
    if isinstance(pools, str):
        print(f"thread pools: {pools}")
    else:
        for p in pools:
            print(f"thread pool: {p['user_api']}/{p['internal_api']} {p['prefix']} "
                  f"{p['version'] or ''} arch={p['architecture']} "
                  f"layer={p['threading_layer']} threads={p['num_threads']}")
    blas = [p for p in pools if isinstance(p, dict) and p.get("user_api") == "blas"] if not isinstance(pools, str) else []
    for p in blas:
        print(f"BLAS kernel: {p['internal_api']} {p['architecture']} ({p['prefix']})")
    trap = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if trap:
        print(f"WARNING: {', '.join(trap)} set: OpenBLAS may pick a slower kernel than this CPU's (here they "
              "halve float32 GEMM speed); run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`")
    print(f"gpu: {env['gpu'] or 'none'}")
    load = env["load_average"]
    if load is not None:
        busy = load[0] > 0.5
        print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
              + (" (other processes are using the CPU: timings may be noisy)" if busy else ""))


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def median(values) -> float:
    return float(statistics.median(values))


def format_table(headers, rows) -> str:
    """Plain fixed-width table; first column left aligned, others right."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])
