"""Test scores of xpmlp's estimators next to scikit-learn's MLP, same hyperparameters and seeds.

    python bench/quality.py                      # numpy backend, float32, seeds 0-4
    python bench/quality.py --backend torch --dtype float64 --seeds 3

Each dataset is split 75/25 (stratified for classification) by the seed; inputs
are standardised on the training part (and regression targets too, through
``TransformedTargetRegressor``).  Both libraries get the same hyperparameters
(scikit-learn's defaults unless --hidden/--max-iter say otherwise) and the seed
as ``random_state``.  The table gives the mean test score over the seeds
(accuracy for classifiers, R^2 for regressors) with its standard deviation,
and the difference, xpmlp minus scikit-learn, in points (hundredths).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xpmlp import BackendError, resolve
from xpmlp.estimators import MLPClassifier, MLPRegressor

DATASETS = {
    "digits": ("classification", lambda: datasets.load_digits(return_X_y=True)),
    "breast_cancer": ("classification", lambda: datasets.load_breast_cancer(return_X_y=True)),
    "iris": ("classification", lambda: datasets.load_iris(return_X_y=True)),
    "diabetes": ("regression", lambda: datasets.load_diabetes(return_X_y=True)),
    "friedman1": ("regression", lambda: datasets.make_friedman1(n_samples=1000, noise=1.0, random_state=0)),
}


def model(kind: str, lib: str, params: dict, args) -> object:
    if lib == "sklearn":
        est = (SkClassifier if kind == "classification" else SkRegressor)(**params)
    else:
        est = (MLPClassifier if kind == "classification" else MLPRegressor)(backend=args.backend, dtype=args.dtype, **params)
    if kind == "regression":
        est = TransformedTargetRegressor(est, transformer=StandardScaler())
    return make_pipeline(StandardScaler(), est)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--hidden", default="100", help="hidden layer sizes, e.g. 100 or 64,32")
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--datasets", default=",".join(DATASETS))
    args = p.parse_args()
    try:
        resolve(args.backend)
    except BackendError as exc:  # e.g. --backend torch without torch installed
        p.error(f"--backend {args.backend}: {exc}")
    hidden = tuple(int(s) for s in args.hidden.split(",") if s)
    params = dict(hidden_layer_sizes=hidden, solver="adam", alpha=1e-4, learning_rate_init=1e-3, max_iter=args.max_iter)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"hidden {hidden}, adam, learning_rate_init 1e-3, alpha 1e-4, batch_size auto, max_iter {args.max_iter}; "
          f"xpmlp on {args.backend} {args.dtype}; seeds 0..{args.seeds - 1}\n")
    print("| dataset | n, features | metric | scikit-learn | xpmlp | xpmlp - sklearn (points) | time sklearn / xpmlp (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        kind, loader = DATASETS[name]
        X, y = loader()
        scores: dict[str, list[float]] = {"sklearn": [], "xpmlp": []}
        seconds = {"sklearn": 0.0, "xpmlp": 0.0}
        for seed in range(args.seeds):
            split = train_test_split(X, y, test_size=0.25, random_state=seed,
                                     stratify=y if kind == "classification" else None)
            X_tr, X_te, y_tr, y_te = split
            for lib in scores:
                est = model(kind, lib, dict(params, random_state=seed), args)
                start = time.perf_counter()
                est.fit(X_tr, y_tr)
                seconds[lib] += time.perf_counter() - start
                scores[lib].append(est.score(X_te, y_te))
        sk, xm = np.array(scores["sklearn"]), np.array(scores["xpmlp"])
        metric = "accuracy" if kind == "classification" else "R^2"
        print(f"| {name} | {X.shape[0]}, {X.shape[1]} | {metric} | {sk.mean():.4f} ± {sk.std():.4f} | "
              f"{xm.mean():.4f} ± {xm.std():.4f} | {100 * (xm.mean() - sk.mean()):+.2f} | "
              f"{seconds['sklearn']:.1f} / {seconds['xpmlp']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
