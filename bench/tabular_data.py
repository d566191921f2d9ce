"""The tables of ``bench/tabular.py``: each installs with a package and reads offline.

``load(name)`` gives ``(X, y, task)``: a pandas DataFrame of features (numbers, text categories,
NaN gaps), the target Series and ``"classification"`` or ``"regression"``.  Sources: scikit-learn's
bundled sets, statsmodels' datasets, palmerpenguins (``pip install -e ".[tabular]"``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd


def _sklearn(name: str) -> Callable[[], tuple]:
    def load() -> tuple:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")(as_frame=True)
        return bunch.data, bunch.target

    return load


def _statsmodels(name: str) -> pd.DataFrame:
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data.copy()


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _penguin_species() -> tuple:
    df = _penguins()
    return df.drop(columns=["species"]), df["species"]


def _penguin_mass() -> tuple:
    df = _penguins().dropna(subset=["body_mass_g"])
    return df.drop(columns=["body_mass_g"]), df["body_mass_g"]


def _anes96() -> tuple:  # the 1996 US election survey: who voted for Dole (1) or Clinton (0)
    df = _statsmodels("anes96").drop(columns=["logpopul"])
    return df.drop(columns=["vote"]), df["vote"].astype(int)


def _anes96_party() -> tuple:  # the same survey: party identification, 7 classes
    df = _statsmodels("anes96").drop(columns=["logpopul", "vote"])
    return df.drop(columns=["PID"]), df["PID"].astype(int)


def _fair() -> tuple:  # had an affair (affairs > 0), from the 1974 Redbook survey
    df = _statsmodels("fair")
    return df.drop(columns=["affairs"]), (df["affairs"] > 0).astype(int)


def _modechoice() -> tuple:  # travel between Sydney and Melbourne: was this mode chosen
    df = _statsmodels("modechoice")
    df["mode"] = df["mode"].map({1: "air", 2: "train", 3: "bus", 4: "car"})
    return df.drop(columns=["choice", "individual"]), df["choice"].astype(int)


def _grunfeld() -> tuple:  # gross investment of ten US firms, 1935-1954
    df = _statsmodels("grunfeld")
    return df.drop(columns=["invest"]), df["invest"]


def _star98() -> tuple:  # California school districts: share of pupils above the national median
    df = _statsmodels("star98")
    y = df["NABOVE"] / (df["NABOVE"] + df["NBELOW"])
    return df.drop(columns=["NABOVE", "NBELOW"]), y


def _randhie() -> tuple:  # RAND health insurance experiment: doctor visits (4000 of the 20190 rows)
    df = _statsmodels("randhie").sample(n=4000, random_state=0)
    return df.drop(columns=["mdvis"]).reset_index(drop=True), df["mdvis"].reset_index(drop=True)


#: name -> (task, loader)
TABLES: dict[str, tuple[str, Callable[[], tuple]]] = {
    "digits": ("classification", _sklearn("digits")),
    "breast_cancer": ("classification", _sklearn("breast_cancer")),
    "iris": ("classification", _sklearn("iris")),
    "wine": ("classification", _sklearn("wine")),
    "penguins": ("classification", _penguin_species),
    "anes96_vote": ("classification", _anes96),
    "anes96_party": ("classification", _anes96_party),
    "fair": ("classification", _fair),
    "modechoice": ("classification", _modechoice),
    "diabetes": ("regression", _sklearn("diabetes")),
    "penguin_mass": ("regression", _penguin_mass),
    "grunfeld": ("regression", _grunfeld),
    "star98": ("regression", _star98),
    "randhie": ("regression", _randhie),
}


def load(name: str) -> tuple[pd.DataFrame, pd.Series, str]:
    """``(X, y, task)`` of one of :data:`TABLES`."""
    task, loader = TABLES[name]
    X, y = loader()
    X = X.reset_index(drop=True)
    y = pd.Series(np.asarray(y), name="target")
    return X, y, task


def splits(y: pd.Series, task: str, seeds: int, test_size: float = 0.25) -> list[tuple[np.ndarray, np.ndarray]]:
    """``seeds`` train/test row splits (stratified for classification), the same for every contender."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    return [tuple(train_test_split(rows, test_size=test_size, random_state=seed,
                                   stratify=y if task == "classification" else None)) for seed in range(seeds)]
