"""Writes examples/patients.csv: a small made-up table as users have them (no download, seeded).

Semicolon-separated, a patient ID in every row, a text column (region), a yes/no column
(smoker), empty cells in two columns, and the target ``y`` ("sick" or "well") that depends on
age, blood pressure, region and smoking.  Run ``python examples/make_patients.py`` to rewrite it;
the same file comes out every time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS = 160


def rows(seed: int = 19) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, ROWS)
    pressure = rng.normal(125, 15, ROWS)
    region = rng.choice(["north", "south", "east", "west"], ROWS, p=[0.3, 0.3, 0.25, 0.15])
    smoker = rng.choice(["yes", "no"], ROWS, p=[0.3, 0.7])
    risk = 0.06 * (age - 50) + 0.08 * (pressure - 125) + 1.5 * (smoker == "yes") + \
        np.select([region == "north", region == "east"], [1.0, -1.0], 0.0) + rng.normal(0, 0.7, ROWS)
    out = [["patient", "age", "pressure", "region", "smoker", "y"]]
    for i in range(ROWS):
        p = "" if i % 13 == 4 else f"{pressure[i]:.1f}"  # a few empty cells
        r = "" if i % 17 == 9 else str(region[i])
        out.append([f"P{1000 + i}", str(age[i]), p, r, str(smoker[i]), "sick" if risk[i] > 0.8 else "well"])
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("patients.csv")
    path.write_text("".join(";".join(r) + "\n" for r in rows()), encoding="utf-8")
    print(f"wrote {path}")
