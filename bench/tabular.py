"""Defaults against defaults on real tables: xpmlp's CLI recipe and estimator, scikit-learn's MLP,
LightGBM and RealMLP, on the same splits.

    python bench/tabular.py                                  # every table, 5 splits, every contender
    python bench/tabular.py --tables iris,diabetes --seeds 2 --contenders xpmlp-cli,sklearn-mlp

Each table (``bench/tabular_data.py``) is split 75/25 by seeds 0..k-1 (stratified for
classification), the same rows for every contender.  ``xpmlp-cli`` is what ``xpmlp train`` does
(:func:`xpmlp.app.workflows.train_table` with the command line's defaults, ``--test-size 0`` on the
training rows, then scored on the test rows as ``xpmlp evaluate`` does); the other contenders get the
usual pipeline: median-filled, standardised numbers and one-hot categories (RealMLP gets the raw
DataFrame: it does its own).  Scores: accuracy and log-loss (classification), R^2 (regression), fit
time (s).  Every result is appended to ``--out`` (JSON lines) as it comes, and a rerun skips what is
there; ``--report`` prints the tables and average ranks and draws ``--plot``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tabular_data import TABLES, load, splits  # noqa: E402

CONTENDERS = ("xpmlp-cli", "xpmlp-est", "sklearn-mlp", "lightgbm", "realmlp")


def _pipeline(X: pd.DataFrame, model: Any, task: str) -> Any:
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numbers = [c for c in X.columns if c not in text]
    cols = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), text)])
    if task == "regression":
        model = TransformedTargetRegressor(model, transformer=StandardScaler())
    return make_pipeline(cols, model)


def _estimator(name: str, task: str, seed: int) -> Any:
    cls = task == "classification"
    if name == "xpmlp-est":
        from xpmlp.estimators import MLPClassifier, MLPRegressor

        return (MLPClassifier if cls else MLPRegressor)(random_state=seed, backend="numpy")
    if name == "sklearn-mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        return (MLPClassifier if cls else MLPRegressor)(random_state=seed)
    if name == "lightgbm":
        import lightgbm

        return (lightgbm.LGBMClassifier if cls else lightgbm.LGBMRegressor)(random_state=seed, verbose=-1, n_jobs=1)
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    return (RealMLP_TD_Classifier if cls else RealMLP_TD_Regressor)(random_state=seed, n_threads=1, device="cpu",
                                                                    verbosity=0)


def _table(X: pd.DataFrame, y: pd.Series | None, name: str) -> Any:
    from xpmlp.app.tables import Table

    cells = X.astype(object).where(X.notna(), None).to_numpy()
    return Table(cells, [str(c) for c in X.columns], None if y is None else y.to_numpy(), "target", source=name)


RECIPE: dict[str, Any] = {}  # --recipe: overrides of the command line's defaults


def _run_cli(X_tr, y_tr, X_te, y_te, task, seed, name) -> tuple[float, np.ndarray]:
    """What ``xpmlp train --test-size 0`` does on the training rows, then the test rows' outputs."""
    from xpmlp.app import workflows
    from xpmlp.app.recipe import cli_defaults

    start = time.perf_counter()
    model = workflows.train_table(_table(X_tr, y_tr, name), task=task, **cli_defaults(**RECIPE, test_size=0.0, seed=seed))
    seconds = time.perf_counter() - start
    predicted, outputs = workflows.predict_table(model.net, model.preprocessor, _table(X_te, None, name))
    if task == "classification":  # columns in the model's class order -> the benchmark's sorted labels
        order = [model.preprocessor.classes.index(c) for c in sorted(model.preprocessor.classes)]
        return seconds, outputs[:, order]
    return seconds, predicted


def _run_other(contender, X_tr, y_tr, X_te, y_te, task, seed) -> tuple[float, np.ndarray]:
    est = _estimator(contender, task, seed)
    model = est if contender == "realmlp" else _pipeline(X_tr, est, task)
    if contender == "realmlp":
        X_tr, X_te = _realmlp_frame(X_tr, X_tr), _realmlp_frame(X_te, X_tr)
    start = time.perf_counter()
    model.fit(X_tr, y_tr.to_numpy())
    seconds = time.perf_counter() - start
    return seconds, model.predict_proba(X_te) if task == "classification" else model.predict(X_te)


def _realmlp_frame(X: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """RealMLP refuses NaN in number columns: filled with ``like``'s (the training rows') medians."""
    X = X.copy()
    for c in X.columns:
        if pd.api.types.is_numeric_dtype(like[c]):
            X[c] = X[c].fillna(like[c].median())
        else:
            X[c] = X[c].fillna("missing").astype(pd.CategoricalDtype(sorted(set(like[c].fillna("missing")))))
    return X


def _scores(task: str, y_te: pd.Series, out: np.ndarray, classes: list) -> dict[str, float]:
    from sklearn.metrics import log_loss, r2_score

    if task == "regression":
        return {"r2": float(r2_score(y_te, out))}
    return {"accuracy": float(np.mean(np.asarray(classes)[np.argmax(out, axis=1)] == y_te.to_numpy())),
            "log_loss": float(log_loss(y_te, np.clip(out, 1e-15, 1.0), labels=classes))}


def run(args: argparse.Namespace) -> None:
    done = _read(args.out)
    for table in args.tables:
        X, y, task = load(table)
        classes = sorted(np.unique(y).tolist()) if task == "classification" else []
        for seed, (tr, te) in enumerate(splits(y, task, args.seeds)):
            y_te = y.iloc[te].reset_index(drop=True)
            for contender in args.contenders:
                key = (table, seed, contender, args.tag)
                if key in done:
                    continue
                try:
                    seconds, out = _fit(contender, X, y, tr, te, task, seed, table)
                except ImportError as exc:
                    print(f"{contender}: skipped, {exc}", flush=True)
                    continue
                if task == "classification" and out.shape[1] != len(classes):
                    raise RuntimeError(f"{contender} on {table}: {out.shape[1]} probability columns for "
                                       f"{len(classes)} classes (a class missing from the training rows)")
                row = {"table": table, "task": task, "seed": seed, "contender": contender, "tag": args.tag,
                       "fit_s": seconds, **_scores(task, y_te, out, classes)}
                print(json.dumps(row), flush=True)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


def _fit(contender, X, y, tr, te, task, seed, table) -> tuple[float, np.ndarray]:
    X_tr, X_te = X.iloc[tr].reset_index(drop=True), X.iloc[te].reset_index(drop=True)
    y_tr, y_te = y.iloc[tr].reset_index(drop=True), y.iloc[te].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if contender == "xpmlp-cli":
            return _run_cli(X_tr, y_tr, X_te, y_te, task, seed, table)
        return _run_other(contender, X_tr, y_tr, X_te, y_te, task, seed)


def _read(path: str) -> set:
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {(r["table"], r["seed"], r["contender"], r.get("tag", "")) for r in rows}


def report(path: str, plot: str | None) -> None:
    """Mean score per table and contender, average ranks per metric, mean fit time; a plot."""
    with open(path) as f:
        df = pd.DataFrame([json.loads(line) for line in f if line.strip()])
    df["who"] = df["contender"] + df["tag"].map(lambda t: f"[{t}]" if t else "")
    ranks = {}
    for metric, higher in (("accuracy", True), ("log_loss", False), ("r2", True)):
        if metric not in df:
            continue
        part = df.dropna(subset=[metric])
        means = part.pivot_table(index="table", columns="who", values=metric, aggfunc="mean")
        means = means.dropna(axis=0)  # tables every contender finished
        if means.empty:
            continue
        print(f"\n{metric} (mean over splits; {len(means)} tables)\n")
        print(_markdown(means, 4))
        ranks[metric] = means.rank(axis=1, ascending=not higher).mean()
    summary = pd.DataFrame(ranks)
    summary["fit_s (mean)"] = df.groupby("who")["fit_s"].mean()
    print("\naverage rank (1 is best) and mean fit time\n")
    print(_markdown(summary, 2))
    if plot:
        _plot(summary, plot)


def _markdown(df: pd.DataFrame, digits: int) -> str:
    head = "| " + " | ".join([str(df.index.name or "")] + [str(c) for c in df.columns]) + " |"
    rows = ["| " + " | ".join([str(i)] + [f"{v:.{digits}f}" for v in r]) + " |" for i, r in df.iterrows()]
    return "\n".join([head, "|" + "---|" * (len(df.columns) + 1), *rows])


def _plot(summary: pd.DataFrame, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    metrics = [m for m in ("accuracy", "log_loss", "r2") if m in summary]
    for m, marker in zip(metrics, "osD"):
        ax.scatter(summary["fit_s (mean)"], summary[m], marker=marker, label=m)
    for i, (who, row) in enumerate(summary.sort_values("fit_s (mean)").iterrows()):
        ranks = row[metrics].astype(float)
        ax.vlines(row["fit_s (mean)"], ranks.min(), ranks.max(), colors="0.8", zorder=0)  # one contender's metrics
        ax.annotate(who, (row["fit_s (mean)"], ranks.min()), xytext=(4, -10 if i % 2 else 6),
                    textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("mean fit time (s, log)")
    ax.set_ylabel("average rank (1 is best)")
    ax.invert_yaxis()
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join(TABLES), type=lambda s: s.split(","))
    p.add_argument("--contenders", default=",".join(CONTENDERS), type=lambda s: s.split(","))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--out", default="bench/results/tabular.jsonl")
    p.add_argument("--tag", default="", help="a label kept with each result (compare recipes)")
    p.add_argument("--recipe", default="{}", type=json.loads, help="xpmlp-cli: JSON overrides of the command "
                   "line's defaults (train_table keywords), e.g. '{\"epochs\": 50}'; use with --tag")
    p.add_argument("--report", action="store_true", help="only summarise --out")
    p.add_argument("--plot", default=None, metavar="PNG")
    args = p.parse_args(argv)
    RECIPE.update(args.recipe)
    if not args.report:
        run(args)
    report(args.out, args.plot)


if __name__ == "__main__":
    main()
