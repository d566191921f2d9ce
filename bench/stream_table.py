"""A Parquet file for measuring ``xpmlp train FILE --target y --stream``'s memory (README, "Data larger
than memory"): ``--rows`` rows of 100 float32 columns ``x0..x99`` and a text target ``y`` (``alpha``,
``beta``, ``gamma``: the arg-max of three noisy linear scores), written 65536 rows a row group, a row
group at a time (this process never holds the table).  1,250,000 rows make about 750 MB.

    python bench/stream_table.py --rows 1250000 --out /tmp/big.parquet
    /usr/bin/time -v xpmlp train /tmp/big.parquet --target y --stream --epochs 1 --no-progress
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_250_000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"x{j}" for j in range(100)]
    scores = rng.normal(size=(100, 3)).astype(np.float32)
    schema = pa.schema([*(pa.field(n, pa.float32()) for n in names), pa.field("y", pa.string())])
    with pq.ParquetWriter(args.out, schema, compression="snappy") as writer:
        for start in range(0, args.rows, 65536):
            m = min(65536, args.rows - start)
            X = rng.normal(size=(m, 100)).astype(np.float32)
            y = np.array(["alpha", "beta", "gamma"])[np.argmax(X @ scores + rng.normal(size=(m, 3)), axis=1)]
            columns = {**{n: X[:, j] for j, n in enumerate(names)}, "y": y}
            writer.write_table(pa.table(columns, schema=schema), row_group_size=65536)


if __name__ == "__main__":
    main()
