"""The benchmark's contenders: each trains (or, for the floor, only multiplies) the same
network on the same data, one epoch per ``run_epoch`` call, and hands back its weights.

``build(name, cfg, args, data)`` makes one by name; ``field(args)`` lists the names to run
here and why the others are skipped.  Each contender is built inside its own worker process
(``_isolation.py``), so only its own libraries and thread pools live there.
"""

from __future__ import annotations

import numpy as np

import _common as C
from _common import DTYPE, Config, copy_weights


class Floor:
    """The pure matrix-multiply floor. Per minibatch it does exactly the
    forward products, the dX products (none for the input layer) and the dW
    products with matmul into preallocated arrays, and nothing else: no
    bias, activation, loss, shuffle or update. `lib` is 'numpy', 'cupy' or
    'torch' (any device)."""

    trains = False

    def __init__(self, name, cfg: Config, X, Ws, lib="numpy", device=None):
        self.name, self.cfg = name, cfg
        on_cuda = lib == "cupy" or (lib == "torch" and str(device).startswith("cuda"))
        self.device_kind = "gpu" if on_cuda else "cpu"
        self.clock = "cpu" if not on_cuda else "cupy" if lib == "cupy" else "torch-cuda"
        if lib == "numpy":
            xp, put = np, np.ascontiguousarray
            empty = lambda shape: np.empty(shape, dtype=DTYPE)  # noqa: E731
            self._matmul = lambda a, b, out: np.matmul(a, b, out=out)
        elif lib == "cupy":
            import cupy as xp
            put = xp.asarray
            empty = lambda shape: xp.empty(shape, dtype=xp.float32)  # noqa: E731
            self._matmul = lambda a, b, out: xp.matmul(a, b, out=out)
        elif lib == "torch":
            import torch
            put = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
            empty = lambda shape: torch.empty(shape, dtype=torch.float32, device=device)  # noqa: E731
            self._matmul = lambda a, b, out: torch.matmul(a, b, out=out)
        else:
            raise ValueError(lib)
        b = cfg.batch_size
        self.X = put(X)
        self.Ws = [put(W) for W in Ws]
        self.WTs = [W.T for W in self.Ws]          # views, no copy
        self.Z = [empty((b, W.shape[1])) for W in Ws]    # forward outputs
        self.D = [empty((b, W.shape[0])) for W in Ws]    # dX per layer
        self.G = [empty(tuple(W.shape)) for W in Ws]     # dW per layer
        self.buffer_bytes = sum(int(np.prod(tuple(a.shape))) * 4
                                for a in self.Z + self.D + self.G)

    def run_epoch(self, epoch: int) -> None:
        mm, Ws, WTs, Z, D, G = self._matmul, self.Ws, self.WTs, self.Z, self.D, self.G
        n, b, L = self.cfg.n_samples, self.cfg.batch_size, len(self.Ws)
        for start in range(0, n, b):
            m = min(b, n - start)
            a = self.X[start:start + m]
            for l in range(L):                       # forward
                mm(a, Ws[l], Z[l][:m])
                a = Z[l][:m]
            delta = Z[L - 1][:m]                     # stands in for the output delta
            for l in range(L - 1, -1, -1):           # backward
                a_prev = self.X[start:start + m] if l == 0 else Z[l - 1][:m]
                mm(a_prev.T, delta, G[l])            # dW
                if l > 0:                            # dX, skipped for the input layer
                    mm(delta, WTs[l], D[l][:m])
                    delta = D[l][:m]

    def weights(self):
        return None


class XpmlpContender:
    """xpmlp.MLP trained with xpmlp.train, one epoch per call."""

    trains = True

    def __init__(self, name, cfg: Config, X, T, Ws, bs, lr, backend="numpy",
                 device=None, clock="cpu", compute_dtype=None):
        import xpmlp
        self.name, self.cfg, self.lr, self.clock = name, cfg, lr, clock
        self.device_kind = "cpu" if clock == "cpu" else "gpu"
        self._train = xpmlp.train
        # xpmlp names a device after the backend: "torch:cuda", "cupy:0".
        if device is not None:
            backend = f"{backend}:{device}"
        kwargs = dict(hidden_activation="relu", output_activation="softmax",
                      loss="cross_entropy", backend=backend, dtype="float32", seed=0)
        if compute_dtype is not None:  # mixed precision: float32 weights, products in compute_dtype
            kwargs["compute_dtype"] = compute_dtype
        self.net = xpmlp.MLP(list(cfg.layers), **kwargs)
        self.net.set_weights(*copy_weights(Ws, bs))
        # Move the data to the backend once, outside the timed epochs (a
        # no-op on NumPy); train() accepts arrays of the net's backend.
        if hasattr(self.net, "as_input"):
            X, T = self.net.as_input(X), self.net.as_target(T, X.shape[0])
        self.X, self.T = X, T

    def run_epoch(self, epoch: int) -> None:
        self._train(self.net, self.X, self.T, epochs=1, batch_size=self.cfg.batch_size,
                    learning_rate=self.lr, shuffle=True, seed=epoch)

    def weights(self):
        Ws, bs = self.net.get_weights()
        return [np.asarray(W) for W in Ws], [np.asarray(b) for b in bs]


class NumpyHand:
    """The textbook NumPy MLP: shuffle, gather, forward, fused
    softmax/cross-entropy delta, backward, update. Not tuned."""

    trains, clock, device_kind = True, "cpu", "cpu"

    def __init__(self, name, cfg, X, T, Ws, bs, lr):
        self.name, self.cfg, self.X, self.T, self.lr = name, cfg, X, T, lr
        self.Ws, self.bs = C.copy_weights(Ws, bs)
        self.rng = np.random.default_rng(1)

    def run_epoch(self, epoch):
        n, b, L, lr = self.cfg.n_samples, self.cfg.batch_size, len(self.Ws), self.lr
        order = self.rng.permutation(n)
        for start in range(0, n, b):
            idx = order[start:start + b]
            x, t = self.X[idx], self.T[idx]
            acts = [x]
            for l in range(L):
                z = acts[-1] @ self.Ws[l] + self.bs[l]
                if l < L - 1:
                    acts.append(np.maximum(z, 0))
                else:
                    z = z - z.max(axis=1, keepdims=True)
                    e = np.exp(z)
                    acts.append(e / e.sum(axis=1, keepdims=True))
            delta = (acts[-1] - t) / x.shape[0]
            for l in range(L - 1, -1, -1):
                grad_W = acts[l].T @ delta
                grad_b = delta.sum(axis=0)
                if l > 0:
                    delta = (delta @ self.Ws[l].T) * (acts[l] > 0)
                self.Ws[l] -= lr * grad_W
                self.bs[l] -= lr * grad_b

    def weights(self):
        return self.Ws, self.bs


class Sklearn:
    """MLPClassifier with plain SGD. One epoch = one partial_fit call: with
    solver='sgd' that is exactly one shuffled pass over the data with no
    validation split, early-stopping bookkeeping or convergence warning,
    which max_iter=1 + warm_start would add. partial_fit re-validates X
    each call; that is part of sklearn's per-epoch cost and is counted."""

    trains, clock, device_kind = True, "cpu", "cpu"

    def __init__(self, name, cfg, X, y, Ws, bs, lr):
        from sklearn.neural_network import MLPClassifier
        if cfg.layers[-1] < 3:
            raise RuntimeError("sklearn uses a 1-unit logistic output for 2 classes")
        self.name, self.X, self.y = name, X, y
        self.clf = MLPClassifier(
            hidden_layer_sizes=cfg.layers[1:-1], activation="relu", solver="sgd",
            alpha=0.0, batch_size=cfg.batch_size, learning_rate="constant",
            learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
            shuffle=True, random_state=0)
        # Build the model on one minibatch, then overwrite its weights in
        # place: its optimizer holds references to these very arrays.
        classes = np.arange(cfg.layers[-1])
        self.clf.partial_fit(X[:cfg.batch_size], y[:cfg.batch_size], classes=classes)
        for mine, W in zip(self.clf.coefs_ + self.clf.intercepts_, Ws + bs):
            if mine.dtype != np.float32:
                raise RuntimeError(f"sklearn kept {mine.dtype} weights, not float32")
            mine[...] = W

    def run_epoch(self, epoch):
        self.clf.partial_fit(self.X, self.y)

    def weights(self):
        return self.clf.coefs_, self.clf.intercepts_


class TorchEager:
    """nn.Sequential + CrossEntropyLoss (mean) + optim.SGD, eager mode; with ``autocast`` a
    dtype, the forward pass and loss under ``torch.autocast`` (float32 parameters, products in
    that dtype: PyTorch's own mixed precision)."""

    trains = True

    def __init__(self, name, cfg, X, y, Ws, bs, lr, device="cpu", autocast=None):
        import torch
        from torch import nn
        self.torch, self.name, self.cfg = torch, name, cfg
        self.device_kind = "cpu" if device == "cpu" else "gpu"
        self.clock = "cpu" if device == "cpu" else "torch-cuda"
        layers = []
        for l, W in enumerate(Ws):
            linear = nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(bs[l]))
            layers += [linear, nn.ReLU()] if l < len(Ws) - 1 else [linear]
        self.model = nn.Sequential(*layers).to(device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.0)
        self.X = torch.from_numpy(X).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.gen = torch.Generator(device=device).manual_seed(1)
        self.device = device
        self.autocast = None if autocast is None else getattr(torch, autocast)

    def run_epoch(self, epoch):
        import contextlib
        n, b = self.cfg.n_samples, self.cfg.batch_size
        order = self.torch.randperm(n, generator=self.gen, device=self.device)
        kind = "cpu" if self.device == "cpu" else "cuda"
        for start in range(0, n, b):
            idx = order[start:start + b]
            self.opt.zero_grad(set_to_none=True)
            with (contextlib.nullcontext() if self.autocast is None else
                  self.torch.autocast(kind, dtype=self.autocast)):
                loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
            loss.backward()
            self.opt.step()

    def weights(self):
        linears = [m for m in self.model if hasattr(m, "weight")]
        return ([m.weight.detach().cpu().numpy().T.copy() for m in linears],
                [m.bias.detach().cpu().numpy().copy() for m in linears])




# --------------------------------------------------------------------------
# The field
# --------------------------------------------------------------------------

CPU = ("floor", "xpmlp-numpy", "xpmlp-torch", "xpmlp-array_api_strict", "sklearn", "torch", "numpy-hand",
       "xpmlp-torch-bf16", "torch-bf16")
GPU = ("floor-cupy", "xpmlp-cupy", "floor-torch-cuda", "xpmlp-torch-cuda", "torch-cuda",
       "xpmlp-torch-cuda-bf16", "torch-cuda-bf16", "xpmlp-cupy-fp16")


def field(args) -> tuple[list[str], list[tuple[str, str]]]:
    """``(names to run, [(name, why skipped)])`` for this machine and these arguments."""
    wanted = set(args.only.split(",")) if args.only else None
    names = [*(CPU if args.device in ("cpu", "all", "auto") else ()),
             *(GPU if args.device in ("gpu", "all", "auto") else ())]
    backends = C.xpmlp_backends()
    run, skipped = [], []
    for name in names:
        if wanted is not None and name not in wanted:
            continue
        why = _why_not(name, args, backends)
        (skipped.append((name, why)) if why else run.append(name))
    return run, skipped


def _why_not(name: str, args, backends: dict) -> str | None:
    if name == "xpmlp-array_api_strict" and not args.strict:
        return "slow; pass --strict to include it"
    if name.startswith("xpmlp") and not backends:
        return "xpmlp not importable"
    if name in ("xpmlp-numpy", "xpmlp-torch", "xpmlp-array_api_strict", "xpmlp-torch-bf16"):
        backend = name.split("-")[1]
        return None if backends.get(backend) == "ok" else backends.get(backend, "not an xpmlp backend")
    if "cupy" in name:
        return C.cupy_status()[1] if C.cupy_status()[0] is None else None
    if "cuda" in name:
        return C.torch_cuda_status()[1] if C.torch_cuda_status()[0] is None else None
    if name in ("torch", "torch-bf16"):
        return C.torch_missing()
    return None


def build(name: str, cfg: Config, lr: float, data: tuple):
    """The contender ``name`` on ``data = (X, T, y, Ws, bs)``."""
    X, T, y, Ws, bs = data
    makers = {
        "floor": lambda: Floor(name, cfg, X, Ws, lib="numpy"),
        "floor-cupy": lambda: Floor(name, cfg, X, Ws, lib="cupy"),
        "floor-torch-cuda": lambda: Floor(name, cfg, X, Ws, lib="torch", device="cuda"),
        "xpmlp-numpy": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="numpy"),
        "xpmlp-torch": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="torch"),
        "xpmlp-array_api_strict": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="array_api_strict"),
        "xpmlp-cupy": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="cupy", clock="cupy"),
        "xpmlp-torch-cuda": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="torch", device="cuda",
                                                   clock="torch-cuda"),
        "xpmlp-torch-bf16": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="torch",
                                                   compute_dtype="bfloat16"),
        "xpmlp-torch-cuda-bf16": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="torch", device="cuda",
                                                        clock="torch-cuda", compute_dtype="bfloat16"),
        "xpmlp-cupy-fp16": lambda: XpmlpContender(name, cfg, X, T, Ws, bs, lr, backend="cupy", clock="cupy",
                                                  compute_dtype="float16"),
        "torch-bf16": lambda: TorchEager(name, cfg, X, y, Ws, bs, lr, autocast="bfloat16"),
        "torch-cuda-bf16": lambda: TorchEager(name, cfg, X, y, Ws, bs, lr, device="cuda", autocast="bfloat16"),
        "sklearn": lambda: Sklearn(name, cfg, X, y, Ws, bs, lr),
        "torch": lambda: TorchEager(name, cfg, X, y, Ws, bs, lr),
        "torch-cuda": lambda: TorchEager(name, cfg, X, y, Ws, bs, lr, device="cuda"),
        "numpy-hand": lambda: NumpyHand(name, cfg, X, T, Ws, bs, lr),
    }
    return makers[name]()
