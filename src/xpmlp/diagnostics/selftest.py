"""``xpmlp selftest``: proof, on the user's own machine, that every backend agrees with NumPy.

For every library and device present here (NumPy; PyTorch on the CPU and on each
CUDA device; CuPy on each CUDA device; array-api-strict's devices), in float32
and float64 where the device has it, the self-test compares with a NumPy
float64 reference that runs the generic code (no fast path): the forward
outputs, the deltas and the gradients of one batch, and the loss curve and
weights after a 50-step training trajectory, for a tanh/softmax and a
relu/logistic network; it runs every
registered fast path of that library against its generic Array API code; and
it times a short training run (CUDA events on a GPU).  It prints a table,
optionally writes a JSON report, and :func:`main` exits non-zero on any
disagreement.  A machine without a GPU is tested as it is, and says so.

Tolerances (norm-relative, as the test suite's): float64 1e-12; float32 1e-5 for
one pass and 1e-4 after 50 steps (float32 rounding against a float64 reference).
Where a library offers mixed precision (torch: bfloat16 and float16; CuPy: float16, bfloat16 from CuPy 14), one
batch's mixed-precision gradient is compared with the same device's float32 gradient, within
8 unit roundoffs of the compute dtype (bfloat16 3e-2, float16 4e-3).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import time
from typing import Any, Sequence

import numpy as np

from ..backends import fastpaths
from ..nn.activations import get_activation
from ..backends.backend import BACKEND_NAMES, Backend, BackendError, resolve
from ..backends.libraries import LIBRARIES, LibraryError, cupy_usable
from ..nn.network import MLP
from ..nn.objective import Objective, batch_gradients
from ..nn.parameters import update_order
from ..optim.optimizers import SGD
from ..training.loop import train
from ..training.precision import MixedPrecision
from .parity import compare_fast_path

__all__ = ["selftest", "main", "discover", "compare_fast_path", "TOLERANCE"]

#: (one pass, trajectory) norm-relative tolerances by dtype.
TOLERANCE = {"float64": (1e-12, 1e-12), "float32": (1e-5, 1e-4)}
#: Mixed precision's gradient against float32's: 8 unit roundoffs of the compute dtype.
MIXED_TOLERANCE = {"bfloat16": 8 * 2.0 ** -8, "float16": 8 * 2.0 ** -11}
_NETS = {"tanh-softmax": ([6, 16, 8, 5], "tanh", "softmax", "cross_entropy"),
         "relu-logistic": ([6, 12, 4], "relu", "logistic", "binary_cross_entropy")}
_LIBRARIES = tuple(n for n in BACKEND_NAMES if n != "auto")
_ABSENT = "asked for, but not available here"


class _GenericSGD(SGD):
    """Plain SGD through the generic update rule on any backend: the reference's optimizer."""

    def _kernel(self, name: str, generic: Any) -> Any:
        return generic


def _reference(spec: tuple) -> MLP:
    """The NumPy float64 model running the generic Array API code: a broken NumPy fast path
    shows as NumPy disagreeing, not as every other backend disagreeing with it."""
    net = MLP(*spec, backend="numpy", dtype="float64", seed=7)
    net.activations = [get_activation(act.spec) for act in net.activations]
    return net


def _rel(actual: Any, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def discover() -> tuple[list[tuple[str, str | None]], list[str]]:
    """``([(library, device), ...], notes)``: what can run here, and why anything else cannot."""
    found: list[tuple[str, str | None]] = [("numpy", None)]
    notes: list[str] = []
    try:
        import torch

        found.append(("torch", "cpu"))
        if torch.cuda.is_available():
            found += [("torch", f"cuda:{i}") for i in range(torch.cuda.device_count())]
        elif torch.version.cuda is None:
            notes.append(f"torch {torch.__version__}: a CPU-only build (torch.version.cuda is None), no CUDA")
        else:
            notes.append(f"torch {torch.__version__}: built for CUDA {torch.version.cuda}, but "
                         "torch.cuda.is_available() is False (no driver or no device)")
    except ImportError:
        notes.append("torch: not installed")
    ok, why = cupy_usable()
    if ok:
        import cupy

        found += [("cupy", str(i)) for i in range(cupy.cuda.runtime.getDeviceCount())]
    else:
        notes.append(f"cupy: {why}")
    try:
        import array_api_strict as strict

        found += [("array_api_strict", str(d).split("'")[1]) for d in strict.__array_namespace_info__().devices()]
    except ImportError:
        notes.append("array_api_strict: not installed")
    return found, notes


def _problem(spec: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """40 rows of inputs and targets valid for ``spec``'s loss (one-hot or 0/1)."""
    (sizes, _, _, loss), rng = spec, np.random.default_rng(seed)
    X, k = rng.normal(size=(40, sizes[0])), sizes[-1]
    if loss == "cross_entropy":
        return X, np.eye(k)[rng.integers(0, k, 40)]
    return X, rng.integers(0, 2, size=(40, k)).astype(float)


def _signals(net: MLP, X: np.ndarray, T: np.ndarray) -> dict[str, list[np.ndarray]]:
    trace, grads = net.forward(X), net.gradients(X, T)
    to = net.backend.to_numpy
    return {"forward": [to(a) for a in trace.a[1:]], "delta": [to(d) for d in grads.delta],
            "gradient": [to(g) for g in update_order(grads.grad_W, grads.grad_b)]}


def _trajectory(net: MLP, X: np.ndarray, T: np.ndarray, optimizer: SGD | None = None) -> list[np.ndarray]:
    """The loss curve, then every parameter, after 10 epochs x 5 batches = 50 SGD steps."""
    losses = train(net, X, T, epochs=10, batch_size=8, learning_rate=0.05, seed=3, optimizer=optimizer)
    return [np.asarray(losses)] + [net.backend.to_numpy(p) for p in net.params]


def _time_training(be: Backend, rows: int = 4096) -> float:
    """Seconds per epoch of a small SGD training run, ``rows`` samples (CUDA events on a GPU)."""
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(rows, 64)), np.eye(10)[rng.integers(0, 10, rows)]
    net = MLP([64, 128, 10], backend=be, seed=0)
    Xd, Td = net.as_input(X), net.as_target(T, rows)
    train(net, Xd, Td, epochs=1, batch_size=128)  # warm-up: kernels compiled, memory pools filled
    with be.activate():  # the events are recorded on the model's device
        timer = _gpu_timer(be)
        start = timer() if timer else time.perf_counter()
        train(net, Xd, Td, epochs=3, batch_size=128)
        return ((timer() - start) if timer else (time.perf_counter() - start)) / 3


def _gpu_timer(be: Backend) -> Any:
    """A function returning seconds since an arbitrary origin, measured by CUDA events, or None on a CPU."""
    if be.name == "cupy":
        import cupy

        origin = cupy.cuda.Event()
        origin.record()

        def now() -> float:
            ev = cupy.cuda.Event()
            ev.record()
            ev.synchronize()
            return cupy.cuda.get_elapsed_time(origin, ev) / 1e3
        return now
    if be.name == "torch" and be.device.type == "cuda":
        import torch

        origin = torch.cuda.Event(enable_timing=True)
        origin.record()

        def now() -> float:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            ev.synchronize()
            return origin.elapsed_time(ev) / 1e3
        return now
    return None


def _check_case(be: Backend, refs: dict[str, tuple], quick: bool = False) -> dict[str, Any]:
    """``be`` against the reference: each quantity's largest error over the networks in ``_NETS``."""
    one, traj = TOLERANCE[be.dtype_name]
    errors = dict.fromkeys(("forward", "delta", "gradient", "trajectory"), 0.0)
    for name, spec in _NETS.items():
        X, T, ref, ref_traj = refs[name]
        for k, v in _signals(MLP(*spec, backend=be, seed=7), X, T).items():
            errors[k] = max(errors[k], *(_rel(a, b) for a, b in zip(v, ref[k])))
        got = _trajectory(MLP(*spec, backend=be, seed=7), X, T)
        errors["trajectory"] = max(errors["trajectory"], *(_rel(a, b) for a, b in zip(got, ref_traj)))
    fast = {fp.name: compare_fast_path(fp, be) for fp in fastpaths.registered() if fp.backend == be.name}
    ok = all(errors[k] <= one for k in ("forward", "delta", "gradient")) and errors["trajectory"] <= traj
    ok = ok and all(e <= one for e in fast.values())
    return {"backend": be.describe(), "device_name": _device_name(be), "errors": errors, "fast_paths": fast,
            "tolerance": {"one_pass": one, "trajectory": traj},
            "seconds_per_epoch": _time_training(be, 1024 if quick else 4096), "ok": ok}


def _check_mixed(be: Backend, compute_dtype: str) -> dict[str, Any]:
    """One batch's gradient with ``compute_dtype`` against ``be``'s float32 gradient, over ``_NETS``."""
    error = 0.0
    for spec in _NETS.values():
        X, T = _problem(spec)
        ref, net = MLP(*spec, backend=be, seed=7), MLP(*spec, backend=be, seed=7, compute_dtype=compute_dtype)
        with be.activate():
            Xd, Td = ref.as_input(X), ref.as_target(T, X.shape[0])
            want = batch_gradients(ref, Xd, Td, grads=ref.parameters.like())
            got = MixedPrecision(net, X.shape[0]).batch_gradients(Xd, Td, None, Objective(), X.shape[0], None,
                                                                  net.parameters.like())
        error = max(error, _rel(be.to_numpy(got.grads.flat), be.to_numpy(want.grads.flat)))
    tolerance = MIXED_TOLERANCE[compute_dtype]
    return {"backend": f"{be.describe()} + {compute_dtype}", "gradient": error, "tolerance": tolerance,
            "ok": error <= tolerance}


def _mixed_cases(found: list) -> list[dict[str, Any]]:
    """:func:`_check_mixed` for every compute dtype each library found here offers."""
    out = []
    for lib, dev in found:
        for compute_dtype in LIBRARIES[lib].compute_dtypes:
            try:
                LIBRARIES[lib].low_dtype(compute_dtype)
            except LibraryError:  # not in the installed version (CuPy before 14: no bfloat16)
                continue
            try:
                out.append(_check_mixed(resolve(lib, device=dev, dtype="float32"), compute_dtype))
            except Exception as exc:  # e.g. a GPU without float16 products: a finding
                out.append({"backend": f"{lib}:{dev} + {compute_dtype}", "error": f"{type(exc).__name__}: {exc}",
                            "ok": False})
    return out


def _device_name(be: Backend) -> str | None:
    """The GPU's name for a CUDA backend, else None."""
    if be.name == "cupy":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(be.device.id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    if be.name == "torch" and be.device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(be.device)
    return None


def _select(found: list, backends: Sequence[str], notes: list[str]) -> tuple[list, list[str]]:
    """The ``(library, device)`` pairs ``backends`` names (``torch`` or ``torch:cuda:1``), and
    the names that match nothing here."""
    wanted = [b.strip().replace("-", "_") for b in backends]
    unknown = [b for b in wanted if b.split(":")[0] not in _LIBRARIES]
    if unknown:
        raise ValueError(f"unknown backend {', '.join(unknown)}; choose from {', '.join(_LIBRARIES)} "
                         "(optionally library:device)")
    missing = [b for b in wanted if not any(b in (lib, f"{lib}:{dev}") for lib, dev in found)]
    notes += [f"{b}: {_ABSENT} (the note on {b.split(':')[0]} above says why)" for b in missing]
    return [(lib, dev) for lib, dev in found if lib in wanted or f"{lib}:{dev}" in wanted], missing


def _versions() -> dict[str, str]:
    out = {}
    """Installed versions of xpmlp and the array libraries, by distribution name."""
    for dist in ("xpmlp", "numpy", "array-api-compat", "array-api-strict", "torch", "cupy", "cupy-cuda12x",
                 "cupy-cuda13x"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def selftest(backends: Sequence[str] | None = None, json_path: str | None = None, quick: bool = False,
             echo: bool = True) -> dict[str, Any]:
    """Run the self-test on every backend and device found here (or those named in ``backends``:
    library names such as ``"torch"``, or ``"torch:cuda:1"``); return the report (a JSON-ready
    dict with ``"ok"``).  Raises ``ValueError`` for a name that is no backend."""
    found, notes = discover()
    missing: list[str] = []
    if backends:
        found, missing = _select(found, backends, notes)
    refs = {}
    for name, spec in _NETS.items():
        X, T = _problem(spec)
        refs[name] = (X, T, _signals(_reference(spec), X, T), _trajectory(_reference(spec), X, T, _GenericSGD()))
    cases = []
    for lib, dev in found:
        for dtype in ("float32",) if quick else ("float32", "float64"):
            try:
                be = resolve(lib, device=dev, dtype=dtype)
            except BackendError as exc:
                notes.append(f"{lib}:{dev} {dtype}: {exc}")
                continue
            try:
                cases.append(_check_case(be, refs, quick))
            except Exception as exc:  # a failing backend is a finding, not a crash
                cases.append({"backend": be.describe(), "error": f"{type(exc).__name__}: {exc}", "ok": False})
    mixed = _mixed_cases(found)
    gpu = any(c["backend"].startswith(("cupy", "torch:cuda")) for c in cases)
    report = {"python": platform.python_version(), "machine": platform.machine(), "versions": _versions(),
              "nets": list(_NETS),
              "tolerance": {k: {"one_pass": a, "trajectory": b} for k, (a, b) in TOLERANCE.items()},
              "gpu_found": gpu,
              "notes": notes + ([] if gpu else ["no GPU was found: only CPU backends were tested" if cases else
                                                "no GPU was found, and nothing was tested"]),
              "cases": cases, "mixed_precision": mixed,
              "ok": bool(cases) and not missing and all(c["ok"] for c in cases + mixed)}
    if echo:
        print(format_report(report))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a table, notes below."""
    lines = [f"{'backend':36s} {'forward':>9s} {'delta':>9s} {'gradient':>9s} {'50 steps':>9s} {'fast paths':>11s} "
             f"{'s/epoch':>8s}  result"] if report["cases"] else []
    why = []
    for c in report["cases"]:
        if "error" in c:
            lines.append(f"{c['backend']:36s} {'':>61s}  FAILED: {c['error']}")
            continue
        e, (one, traj) = c["errors"], (c["tolerance"]["one_pass"], c["tolerance"]["trajectory"])
        bad = {f"fast path {k}": v for k, v in c["fast_paths"].items() if not v <= one}
        bad.update({k: v for k, v in e.items() if not v <= (traj if k == "trajectory" else one)})
        fast = f"{len(c['fast_paths']) - sum(k.startswith('fast') for k in bad)}/{len(c['fast_paths'])} ok"
        lines.append(f"{c['backend']:36s} {e['forward']:9.1e} {e['delta']:9.1e} {e['gradient']:9.1e} "
                     f"{e['trajectory']:9.1e} {fast:>11s} {c['seconds_per_epoch']:8.4f}  {'ok' if c['ok'] else 'DISAGREES'}")
        why += [f"{c['backend']}: {k} off by {v:.1e}" for k, v in bad.items()]
    lines += why
    if report["cases"]:
        lines.append("errors: norm-relative, against NumPy float64 running the generic code; tolerances: "
                     + "; ".join(f"{k} {a:.0e} one pass, {b:.0e} after 50 steps" for k, (a, b) in TOLERANCE.items()))
    for m in report.get("mixed_precision", []):
        lines.append(f"mixed precision {m['backend']}: " + (f"FAILED: {m['error']}" if "error" in m else
                     f"gradient off float32's by {m['gradient']:.1e} (tolerance {m['tolerance']:.0e}) "
                     f"{'ok' if m['ok'] else 'DISAGREES'}"))
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append(_verdict(report))
    return "\n".join(lines)


def _verdict(report: dict[str, Any]) -> str:
    """The last line: all agree, or what failed -- a disagreeing row, or a backend asked for that is absent."""
    if report["ok"]:
        return "all backends agree with NumPy float64"
    absent = [n.split(": ")[0] for n in report["notes"] if f": {_ABSENT} " in n]
    if not report["cases"]:
        return (f"SELFTEST FAILED: nothing was tested: {', '.join(absent)} "
                f"{'is' if len(absent) == 1 else 'are'} not available here (see the notes above)")
    if absent and all(c["ok"] for c in report["cases"]):
        return (f"SELFTEST FAILED: {', '.join(absent)} asked for but not available here (see the notes above); "
                "the backends tested agree with NumPy float64")
    return "SELFTEST FAILED: see the rows above"


def main(argv: Sequence[str] | None = None) -> int:
    """``xpmlp selftest [--json PATH] [--backend NAME ...] [--quick]``; exit status 1 on any disagreement."""
    parser = argparse.ArgumentParser(prog="xpmlp selftest", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return 0 if selftest(args.backend, args.json, args.quick)["ok"] else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--backend", action="extend", nargs="+", metavar="NAME",
                        help="only these: numpy, torch, cupy, array_api_strict, or library:device (e.g. torch:cuda:1)")
    parser.add_argument("--quick", action="store_true", help="float32 only, and a shorter timed run")
