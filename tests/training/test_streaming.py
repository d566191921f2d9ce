"""Streamed training: every source trains through one path, and when one shuffle window holds
every chunk the fit is the in-memory fit, bitwise (the same batches, weights and validation rows)."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.training import fit
from xpmlp.training.sources import ArraySource, BatchSource, as_source
from xpmlp.training.streaming import StreamingData, prepare_stream

N, D = 203, 4


def problem(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y, rng.uniform(0.5, 2.0, n)


def pair(X, T, streamed, *, epochs=3, **kwargs):
    """(in-memory model and history, streamed model and history), from the same seed."""
    a, b = xpmlp.MLP([D, 5, 2], "relu", seed=0), xpmlp.MLP([D, 5, 2], "relu", seed=0)
    stream_kwargs = {k: v for k, v in kwargs.items() if k != "sample_weight"}
    ha = fit(a, X, T, epochs=epochs, batch_size=16, patience=None, **kwargs)
    hb = fit(b, *streamed, epochs=epochs, batch_size=16, patience=None, window=0, **stream_kwargs)
    return (a, ha), (b, hb)


def assert_same_fit(first, second):
    (a, ha), (b, hb) = first, second
    assert ha.loss == hb.loss
    assert ha.validation_score == hb.validation_score
    for p, q in zip(a.Ws + a.bs, b.Ws + b.bs):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("options", [{}, {"weighted": True}, {"validation_fraction": 0.2},
                                     {"weighted": True, "validation_fraction": 0.25}, {"shuffle": False}])
@pytest.mark.parametrize("chunk", [50, 16, 1000])
def test_one_window_is_the_in_memory_fit(options, chunk):
    X, y, w = problem()
    options = dict(options)
    weights = w if options.pop("weighted", False) else None
    first, second = pair(X, y, (ArraySource(X, y, weights, chunk_rows=chunk), None), sample_weight=weights, **options)
    assert_same_fit(first, second)


def test_windows_shuffle_within_and_keep_every_row():
    """window=2 chunks of 20 rows: each epoch is every row once, in batches of 16 (the leftovers carried on),
    rows of chunks in one window mixed, the order differing between epochs and repeating with the seed."""
    X, y, _ = problem(100)
    X = np.arange(100, dtype=float)[:, None] * np.ones((1, D))  # row i holds i
    net = xpmlp.MLP([D, 3, 2], "relu", seed=0, backend=xpmlp.resolve("numpy", dtype="float64"))
    data = prepare_stream(net, ArraySource(X, y, chunk_rows=20), batch_size=16, shuffle=True,
                          rng=np.random.default_rng(0), window=2)
    rng = np.random.default_rng(1)
    epochs = [[b[0][:, 0].astype(int) for b in data.minibatches(rng)] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for b in batches] == [16] * 6 + [4]
        rows = np.concatenate(batches)
        assert sorted(rows) == list(range(100))
        assert not np.array_equal(rows, np.arange(100))
        windows = [rows[i:i + 40] // 20 for i in range(0, 80, 40)]
        assert all(len(set(win)) <= 2 for win in windows)  # a window's rows come from its 2 chunks
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))
    again = [b[0][:, 0].astype(int) for b in data.minibatches(np.random.default_rng(1))]
    assert np.array_equal(np.concatenate(again), np.concatenate(epochs[0]))
    assert "shuffled within 2 chunks" in data.note


def test_npy_files_train_like_arrays(tmp_path):
    X, y, _ = problem()
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", y)
    first, second = pair(X.astype(np.float32), y, (str(tmp_path / "X.npy"), tmp_path / "y.npy"))
    assert_same_fit(first, second)
    source = as_source(tmp_path / "X.npy", y, chunk_rows=64)
    assert source.chunk_rows == [64, 64, 64, 11] and "read by row ranges" in source.description
    assert np.array_equal(np.concatenate([c[0] for c in source.chunks([3, 0])]), np.concatenate([X[192:], X[:64]]).astype(np.float32))


def test_npy_refuses_fortran_order_and_3d(tmp_path):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((4, 3))))
    np.save(tmp_path / "c.npy", np.ones((4, 3, 2)))
    for name in ("f.npy", "c.npy"):
        with pytest.raises(ValueError, match="1-D or 2-D array in C order"):
            as_source(tmp_path / name, np.zeros(4))


def frame(X, y, w=None):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(D)])
    df["y"] = y
    if w is not None:
        df["w"] = w
    return df


def test_parquet_file_and_directory_by_row_group(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    X, y, w = problem()
    table = pa.Table.from_pandas(frame(X, y, w), preserve_index=False)
    pq.write_table(table, tmp_path / "one.parquet", row_group_size=40)
    (tmp_path / "dir").mkdir()
    pq.write_table(table.slice(0, 100), tmp_path / "dir" / "a.parquet", row_group_size=30)
    pq.write_table(table.slice(100), tmp_path / "dir" / "b.parquet", row_group_size=60)
    (tmp_path / "dir" / "_SUCCESS").write_text("")
    for path in (tmp_path / "one.parquet", tmp_path / "dir"):
        source = as_source(path, "y", weight="w")
        assert source.n_rows == N and source.n_chunks == (6 if path.is_file() else 6)
        first, second = pair(X, y, (source, None), sample_weight=w, validation_fraction=0.2)
        assert_same_fit(first, second)
    assert as_source(tmp_path / "dir", "y").shard(1, 2).chunk_rows == [30, 10, 43]


def test_delimited_text_in_chunks(tmp_path):
    X, y, w = problem()
    frame(X, y, w).to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    source = as_source(tmp_path / "t.tsv", "y", weight="w", chunk_rows=50, read_options={"sep": "\t"})
    assert source.n_rows is None and not source.random_access
    first, second = pair(X, y, (source, None), sample_weight=w, validation_fraction=0.2)
    assert source.chunk_rows == [50, 50, 50, 50, 3]  # learnt in the pass that found the weights' mean
    np.testing.assert_allclose(first[1].loss, second[1].loss, rtol=1e-12)  # text round trip of the floats
    only = as_source(tmp_path / "t.tsv", "y", read_options={"sep": "\t"}, columns=["x0", "x1", "x2", "x3", "y"])
    assert next(only.chunks())[0].shape == (N, D)
    with pytest.raises(ValueError, match="cannot be shared among processes"):
        only.shard(0, 2)


def test_dask_array_and_dataframe():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install 'dask[array,dataframe]')")
    dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is not installed")
    X, y, w = problem()
    first, second = pair(X, y, (da.from_array(X, chunks=(60, D)), da.from_array(y, chunks=60)))
    assert_same_fit(first, second)
    df = dd.from_pandas(frame(X, y, w), npartitions=3)
    first, second = pair(X, y, (as_source(df, "y", weight="w"), None), sample_weight=w)
    assert_same_fit(first, second)
    with pytest.raises(ValueError, match="same row chunks"):
        as_source(da.from_array(X, chunks=(60, D)), da.from_array(y, chunks=50))


def batches(X, y, w=None, size=37):
    for i in range(0, len(X), size):
        yield (X[i:i + size], y[i:i + size]) if w is None else (X[i:i + size], y[i:i + size], w[i:i + size])


def test_a_generator_trains_one_epoch_and_a_function_many():
    X, y, w = problem()
    first, second = pair(X, y, (batches(X, y), None), epochs=1, shuffle=False)  # its rows are not known before
    assert_same_fit(first, second)
    (_, h), = [pair(X, y, (batches(X, y), None), epochs=1)[1]]  # shuffled within windows of its batches
    assert h.epochs == 1 and np.isfinite(h.loss[0])
    with pytest.raises(ValueError, match="can be read once: one epoch"):
        pair(X, y, (batches(X, y), None), epochs=2)
    first, second = pair(X, y, (lambda: batches(X, y, w), None), sample_weight=w, epochs=3)
    assert_same_fit(first, second)
    first, second = pair(X, y, (BatchSource(list(batches(X, y))), None), validation_fraction=0.2)
    assert_same_fit(first, second)
    with pytest.raises(ValueError, match="can be read once: pass a function"):
        pair(X, y, (batches(X, y), None), validation_fraction=0.2)
    with pytest.raises(ValueError, match="need a pass to normalise"):
        pair(X, y, (batches(X, y, w), None), sample_weight=w, epochs=1)


def test_a_torch_dataloader_plugs_in():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    X, y, _ = problem()
    loader = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), batch_size=64)
    first, second = pair(X, y, (loader, None))
    assert_same_fit(first, second)


def test_validation_data_may_be_a_source(tmp_path):
    X, y, _ = problem()
    np.save(tmp_path / "Xv.npy", X[:40])
    first, second = pair(X, y, (ArraySource(X, y), None), validation_data=(X[:40], y[:40]))
    (b, hb) = second
    c = xpmlp.MLP([D, 5, 2], "relu", seed=0)
    hc = fit(c, ArraySource(X, y), None, epochs=3, batch_size=16, patience=None, window=0,
             validation_data=(str(tmp_path / "Xv.npy"), y[:40]))
    assert_same_fit(first, (c, hc))


@pytest.mark.parametrize("kwargs, message", [
    ({"class_weight": "balanced"}, "class_weight needs the class counts"),
    ({"positions": np.arange(N)}, "positions place in-memory rows"),
    ({"stratify": np.zeros(N)}, "stratify needs every label"),
    ({"window": -1}, "window must be >= 0"),
    ({"validation_data": ([[0.0] * D], [0]), "validation_fraction": 0.1}, "not both"),
])
def test_refusals(kwargs, message):
    X, y, _ = problem()
    with pytest.raises(ValueError, match=message):
        fit(xpmlp.MLP([D, 5, 2], "relu"), ArraySource(X, y), None, epochs=1, **kwargs)


@pytest.mark.parametrize("chunk, message", [
    ((np.zeros((3, D + 1)), np.zeros(3)), "X has 5 columns but the network expects 4"),
    ((np.array([["a"] * D] * 3), np.zeros(3)), "X must hold real numbers"),
    ((np.full((3, D), np.nan), np.zeros(3)), "X contains NaN"),
    ((np.zeros((3, D)), np.zeros(4, dtype=int)), r"T has shape \(4, 2\)"),
    ((np.zeros((3, D)), np.array([0, 1, 5])), "labels|targets|class"),
])
def test_bad_chunks_are_named(chunk, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fit(xpmlp.MLP([D, 5, 2], "relu"), BatchSource([chunk]), None, epochs=1)


def test_mixed_weights_missing_columns_and_empty_sources(tmp_path):
    X, y, w = problem(20)
    mixed = [(X[:10], y[:10], w[:10]), (X[10:], y[10:])]
    with pytest.raises(ValueError, match="some chunks have sample weights and others not"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), BatchSource(mixed), None, epochs=1)
    with pytest.raises(ValueError, match="holds no rows"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), BatchSource([]), None, epochs=1)
    with pytest.raises(ValueError, match="sums to 0"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), BatchSource([(X, y, 0 * w)]), None, epochs=1)
    with pytest.raises(ValueError, match="sums to 0"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), ArraySource(X, y, 0 * w), None, epochs=1)
    with pytest.raises(ValueError, match="each batch must be"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), BatchSource([X]), None, epochs=1)
    frame(X, y).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match="no column named 'target'"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), str(tmp_path / "t.csv"), "target", epochs=1)
    with pytest.raises(ValueError, match="name the target column"):
        as_source(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        as_source(tmp_path / "none.parquet", "y")
    with pytest.raises(ValueError, match="T has 3 rows but X has 20"):
        ArraySource(X, y[:3])


def test_a_reader_error_or_an_early_stop_ends_the_reader_thread():
    X, y, _ = problem()

    def failing():
        yield X[:100], y[:100]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        fit(xpmlp.MLP([D, 5, 2], "relu"), failing, None, epochs=1)
    net = xpmlp.MLP([D, 5, 2], "relu", backend=xpmlp.resolve("numpy", dtype="float64"))
    data = prepare_stream(net, ArraySource(X, y, chunk_rows=10), batch_size=4, shuffle=False,
                          rng=np.random.default_rng(0), window=1)
    it = data.minibatches(np.random.default_rng(0))
    next(it)
    it.close()  # the loop left mid-epoch (early stop, Ctrl-C): the reader stops, its thread ends
    assert not data._feeder.thread.is_alive()
    assert isinstance(data, StreamingData) and isinstance(as_source(iter([])), BatchSource)


def test_several_processes_each_get_their_share_of_the_chunks():
    """A communicator of several processes is handed this process's share (chunks rank, rank + size, ...)."""
    from xpmlp.training.comm import SingleProcess

    class Two(SingleProcess):
        rank, size = 1, 2

        def prepare(self, net, X, T, **kwargs):
            raise LookupError(X.chunk_rows, X.mine, sorted(kwargs))

    X, y, _ = problem()
    with pytest.raises(LookupError) as caught:
        fit(xpmlp.MLP([D, 5, 2], "relu"), ArraySource(X, y, chunk_rows=50), None, epochs=1, comm=Two())
    rows, mine, keywords = caught.value.args
    assert rows == [50, 50] and mine == [1, 3] and "window" in keywords


def test_pandas_batches_shards_and_arrays_as_sources():
    pd = pytest.importorskip("pandas")
    X, y, _ = problem()
    df = frame(X, y)
    pandas_batches = BatchSource(lambda: ((df.iloc[i:i + 50, :D], df["y"].iloc[i:i + 50]) for i in range(0, N, 50)))
    first, second = pair(X, y, (pandas_batches, None))
    assert_same_fit(first, second)
    assert isinstance(df, pd.DataFrame)
    source = as_source(X, y, chunk_rows=50)
    assert isinstance(source, ArraySource) and source.chunk_rows == [50, 50, 50, 50, 3]
    share = source.shard(1, 2)
    assert share.chunk_rows == [50, 50] and np.array_equal(np.concatenate([c[0] for c in share.chunks()]),
                                                          np.concatenate([X[50:100], X[150:200]]))


def test_the_reader_stops_when_the_loop_leaves_mid_epoch():
    X, y, _ = problem()
    net = xpmlp.MLP([D, 5, 2], "relu", backend=xpmlp.resolve("numpy", dtype="float64"))
    data = prepare_stream(net, ArraySource(X, y, chunk_rows=4), batch_size=4, shuffle=False,
                          rng=np.random.default_rng(0), window=1)
    it = data.minibatches(np.random.default_rng(0))
    first = next(it)
    assert first[0].shape == (4, D) and data.feed_rows == 4
    import time

    time.sleep(0.2)  # the reader has filled its 3 buffers and waits for one
    it.close()
    assert not data._feeder.thread.is_alive()


def test_targets_outside_the_losss_rule_are_named():
    net = xpmlp.MLP([D, 3, 1], "tanh", "logistic", "binary_cross_entropy")
    with pytest.raises(ValueError, match="row 1 of a chunk is"):
        fit(net, BatchSource([(np.zeros((3, D)), np.array([[0.0], [2.0], [1.0]]))]), None, epochs=1)


def test_the_reader_reads_ahead_while_the_loop_trains():
    """Chunks are read on the reader's thread while the loop steps through earlier ones: with 4-row chunks
    and batches, the reader has read the third chunk before the loop's first step has ended."""
    import threading
    import time

    X, y, _ = problem(40)
    log = []

    class Noting(ArraySource):
        def _read(self, i):
            log.append(("read", i, threading.current_thread().name))
            return super()._read(i)

    class Slow(xpmlp.Callback):
        def on_gradients(self, run, grads):
            time.sleep(0.02)
            log.append(("step", threading.current_thread().name))

    fit(xpmlp.MLP([D, 3, 2], "relu"), Noting(X, y, chunk_rows=4), None, epochs=1, batch_size=4, shuffle=False,
        patience=None, callbacks=[Slow()])
    first_step = log.index(next(e for e in log if e[0] == "step"))
    assert ("read", 2, "xpmlp-feeder") in log[:first_step]
    assert {e[-1] for e in log if e[0] == "step"} == {threading.main_thread().name}


def test_array_chunks_hold_about_16_mib_of_inputs(tmp_path):
    from xpmlp.training.sources import CHUNK_BYTES, rows_for

    wide = np.zeros((3, 500), dtype=np.float32)
    assert rows_for(wide) == CHUNK_BYTES // 2000 == 8388 and rows_for(np.zeros((3, 10 ** 6))) == 256
    np.save(tmp_path / "w.npy", np.zeros((20000, 500), dtype=np.float32))
    assert as_source(tmp_path / "w.npy", np.zeros(20000)).chunk_rows == [8388, 8388, 3224]
