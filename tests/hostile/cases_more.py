"""The review's cases of resource exhaustion, silent garbage and unclear errors (see cases.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

import craft
from cases import BOUNDED, CLEAN, CORRECT, Case, _mpi_tables_differ, edit_model, iris_like, trained, xpmlp

# -- resource exhaustion ------------------------------------------------------------------------


def _bomb(d: Path) -> list:
    return xpmlp("info", craft.zip_bomb(trained(d), d / "bomb.npz", gib=4))


def _huge_header(d: Path) -> list:
    return xpmlp("info", craft.huge_header(trained(d), d / "huge.npz"))


def _many_members(d: Path) -> list:
    return xpmlp("info", craft.many_members(trained(d), d / "many.npz", 100_000))


def _short(limit: int) -> "callable":
    return lambda d, o, e: None if len(e) < limit else f"a message of {len(e)} characters"


def _columns(count: int):
    def build(d: Path) -> list:
        with open(d / "wide.csv", "w") as f:
            f.write(",".join(f"c{j}" for j in range(count)) + ",y\n")
            rng = np.random.default_rng(0)
            for i in range(20 if count <= 50_000 else 2):
                cells = [f"{v:.2f}" for v in rng.normal(size=count)] if count <= 50_000 else ["0"] * count
                f.write(",".join(cells) + f",{i % 2}\n")
        return xpmlp("train", d / "wide.csv", "--target", "y", "--epochs", "1", "--no-progress", "--hidden", "2",
                     "--test-size", "0.3")
    return build


def _long_cell(size: int):
    def build(d: Path) -> list:
        with open(d / "cell.csv", "w") as f:
            f.write("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(50)))
            f.write("1," + "x" * size + ",0\n")
        return xpmlp("train", d / "cell.csv", "--target", "y", "--epochs", "1", "--no-progress")
    return build


def _classes(classes: int, rows: int):
    def build(d: Path) -> list:
        labels = np.repeat(np.arange(classes), rows // classes)
        with open(d / "classes.csv", "w") as f:
            f.write("x,label\n" + "".join(f"{i % 7},k{c}\n" for i, c in enumerate(labels)))
        return xpmlp("train", d / "classes.csv", "--target", "label", "--epochs", "1", "--no-progress")
    return build


RESOURCES = [
    Case("a 4 GiB zip bomb in a few MB", "resource exhaustion", (CLEAN,), _bomb, timeout=20),
    Case("an array header claiming 10^12 floats", "resource exhaustion", (CLEAN,), _huge_header, timeout=20),
    Case("100k zip entries", "resource exhaustion", (CLEAN,), _many_members, _short(300), fast=False),
    Case("a header of 10^6 columns", "resource exhaustion", (CLEAN,), _columns(1_000_000), timeout=30),
    Case("20k columns train in linear time", "resource exhaustion", (CORRECT,), _columns(20_000), fast=False,
         timeout=300),
    Case("one 50 MB cell", "resource exhaustion", (CLEAN,), _long_cell(50_000_000), fast=False),
    Case("25k classes of 4 rows", "resource exhaustion", (CLEAN,), _classes(25_000, 100_000), timeout=30),
    Case("a 1 GB line", "resource exhaustion", (CLEAN, BOUNDED), _long_cell(1 << 30), fast=False, timeout=120),
]


# -- silent garbage -----------------------------------------------------------------------------

def _elu(d: Path) -> list:
    m = edit_model(trained(d, "--activation", "elu"), lambda meta: meta["architecture"].update(
        hidden_activation="elu:alpha=1e308"))
    return xpmlp("predict", m, d / "data.csv")


def _regression_data(d: Path, target=lambda row: f"{row[0] * 3:.4f}") -> Path:
    return iris_like(d / "data.csv", target=target)


def _y_scale(d: Path) -> list:
    m = edit_model(trained(d, data=_regression_data(d)), lambda meta: meta["extra"]["preprocessing"].update(
        y_scale=1e308))
    return xpmlp("predict", m, d / "data.csv")


def _labels_vs_outputs(d: Path) -> list:
    m = edit_model(trained(d), lambda meta: meta["extra"]["preprocessing"].update(classes=["setosa", "versicolor"]))
    return xpmlp("predict", m, d / "data.csv")


ESTIMATOR = """
import sys, json, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
import numpy as np, craft, xpmlp
from xpmlp.io import ModelFileError
X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
est = xpmlp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
est.save({path!r})
meta, members = craft.model_parts(__import__("pathlib").Path({path!r}))
meta["extra"]["attrs"].update({attrs})
craft.write_model(__import__("pathlib").Path({path!r}), meta, members)
try:
    loaded = xpmlp.load_estimator({path!r})
    print(loaded.predict(X[:3]))
except (ModelFileError, ValueError) as exc:
    print("xpmlp: error: " + str(exc), file=sys.stderr)
    sys.exit(2)
"""


def _estimator(attrs: dict):
    def build(d: Path) -> list:
        return ["-c", ESTIMATOR.format(here=str(Path(__file__).parent), path=str(d / "est.npz"), attrs=attrs)]
    return build


def _target(value: str):
    def build(d: Path) -> list:
        _regression_data(d, target=lambda row, i=iter(range(10**6)): value if next(i) == 7 else f"{row[0]:.4f}")
        return xpmlp("train", d / "data.csv", "--target", "y", "--epochs", "2", "--no-progress")
    return build


def _labels(labels, *options):
    def build(d: Path) -> list:
        m = trained(d, data=iris_like(d / "data.csv", labels=labels))
        return xpmlp("predict", m, d / "data.csv", *options)
    return build


def _export_labels(d: Path) -> list:
    m = trained(d, data=iris_like(d / "data.csv", labels=("\x1b[31mred", "\x1b]0;t\x07", "ok")))
    return xpmlp("export", m, d / "m.onnx")


def _no_formula(d: Path, out: str, err: str) -> "str | None":
    with open(d / "out.csv", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@") and not _number(c)]
    return f"formula cells written raw: {risky[:2]}" if risky else None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


GARBAGE = [
    Case("elu:alpha=1e308 in a model file", "silent garbage", (CLEAN,), _elu, owner="files"),
    Case("y_scale=1e308 in a model file", "silent garbage", (CLEAN,), _y_scale, owner="files"),
    Case("an estimator file setting predict", "silent garbage", (CLEAN,), _estimator({"predict": "x"}),
         owner="files"),
    Case("an estimator file with n_outputs_=10^9", "silent garbage", (CLEAN,), _estimator({"n_outputs_": 10**9}),
         owner="files"),
    Case("2 class labels for 3 outputs", "silent garbage", (CLEAN,), _labels_vs_outputs, owner="files"),
    Case("a target of 1e308", "silent garbage", (CLEAN,), _target("1e308"),
         lambda d, o, e: "R^2 nan" if "nan" in o else None, owner="files"),
    Case("inf in a target", "silent garbage", (CLEAN,), _target("inf"),
         lambda d, o, e: "read as a text class" if "by class" in e else None, owner="files"),
    Case("=HYPERLINK labels in predictions", "silent garbage", (CORRECT,),
         _labels(('=HYPERLINK("http://x")', "+1+1", "@SUM(A1)"), "-o", "out.csv"), _no_formula, owner="files"),
    Case("terminal escapes in labels", "silent garbage", (CORRECT,), _labels(("\x1b[31mred", "\x1b]0;t\x07", "ok")),
         lambda d, o, e: "an escape sequence reached the terminal" if "\x1b" in o + e else None, owner="files",
         tty=True),
    Case("terminal escapes in labels (export)", "silent garbage", (CORRECT, CLEAN), _export_labels,
         lambda d, o, e: "an escape sequence reached the terminal" if "\x1b" in o + e else None, owner="files",
         tty=True),
]


# -- unclear errors -----------------------------------------------------------------------------

def _negative_weights(d: Path) -> list:
    code = ("import sys, numpy as np, xpmlp\nX = np.random.default_rng(0).normal(size=(50, 2)); y = X[:, 0]\n"
            "w = -np.ones(50); w[0] = 5.0\ntry:\n    xpmlp.MLPRegressor(max_iter=2).fit(X, y, sample_weight=w)\n"
            "except ValueError as exc:\n    print('xpmlp: error: ' + str(exc), file=sys.stderr)\n    sys.exit(2)\n")
    return ["-c", code]


def _digits(d: Path) -> list:
    meta, members = craft.model_parts(trained(d))
    text = json.dumps(meta)[:-1] + ', "note": ' + "7" * 5000 + "}"  # past Python's 4300-digit limit
    return xpmlp("info", craft.write_model(d / "m.npz", text, members))


UNCLEAR = [
    Case("200k-deep metadata JSON", "unclear errors", (CLEAN,), lambda d: xpmlp(
        "info", craft.deep_metadata(d / "deep.npz", 200_000))),
    Case("100,000 rows of 100,000 labels", "unclear errors", (CLEAN,), _classes(100_000, 100_000),
         lambda d, o, e: "says 'too few rows'" if "too few rows" in e else None, timeout=30, fast=False),
    Case("mostly negative sample weights", "unclear errors", (CLEAN,), _negative_weights,
         lambda d, o, e: None if "weight" in e else "the message does not name the weights", owner="files"),
    Case("a 5000-digit integer in a model file", "unclear errors", (CLEAN,), _digits,
         lambda d, o, e: None if "m.npz" in e else "the message does not name the file"),
    Case("mpiexec -n 2: ranks whose tables differ", "unclear errors", (CLEAN,), _mpi_tables_differ,
         lambda d, o, e: None if "read a different table" in e else "no line says the tables differ", fast=False),
]

ALL = RESOURCES + GARBAGE + UNCLEAR
