"""Run under ``mpiexec -n P`` by tests/distributed/test_streamed_ranks.py:
``python stream_worker.py X.npy y.npy w.npy OUTDIR``.  Every rank streams the same files (its share of
the chunks, read by a source that notes which), full batch, and writes ``OUTDIR/rank<r>.npz``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import xpmlp
from xpmlp.distributed import MPICommunicator
from xpmlp.training.sources import NpySource


class Noting(NpySource):
    read: list = []

    def _read(self, i):
        self.read.append(i)
        return super()._read(i)


def main() -> None:
    X, y, w, out = sys.argv[1], sys.argv[2], np.load(sys.argv[3]), Path(sys.argv[4])
    comm = MPICommunicator()
    net = xpmlp.MLP([4, 6, 2], "tanh", backend=xpmlp.resolve("numpy", dtype="float64"), seed=0)
    hist = xpmlp.fit(net, Noting(X, y, w, chunk_rows=20), None, epochs=4, batch_size="full", shuffle=False,
                     validation_fraction=0.2, patience=None, comm=comm, optimizer="sgd", learning_rate=0.5)
    params = {f"p{i}": a for i, a in enumerate(net.get_weights()[0] + net.get_weights()[1])}
    np.savez(out / f"rank{comm.rank}.npz", history=json.dumps(hist.to_dict()), read=np.array(sorted(set(Noting.read))),
             **params)


if __name__ == "__main__":
    main()
