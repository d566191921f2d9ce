"""One rank's share of a data-parallel fit (``xpmlp.distributed.sharded.prepare_shard``): what it refuses,
before and after the ranks exchange their shards' facts, seen by rank 0 of two whose other rank is
played by a small communicator (no MPI: the other rank's facts are given)."""

from __future__ import annotations

import numpy as np
import pytest

import xpmlp
from xpmlp.distributed.sharded import prepare_shard

SIZES = [5, 8, 3]


class OtherRank:
    """Rank 0 of two: ``exchange`` returns this rank's payload and the other rank's ``facts`` (what
    its first exchange in ``prepare_shard`` brings: rows, validation given, weight sum, positions)."""

    rank, size = 0, 2

    def __init__(self, rows: int = 4, weight_sum: float | None = None, positions=None) -> None:
        self.facts = (rows, False, weight_sum, None if positions is None else np.asarray(positions, dtype=np.int64))
        self.exchanged: list = []
        self.agreed: list = []

    def exchange(self, payload):
        self.exchanged.append(payload)
        return [payload, self.facts]

    def agree(self, what) -> None:
        self.agreed.append(what)


def prepare(comm, X=None, T=None, **kwargs):
    net = xpmlp.MLP(SIZES, seed=0)
    rng = np.random.default_rng(0)
    X = np.ones((4, SIZES[0])) if X is None else X
    T = np.eye(SIZES[-1])[[0, 1, 2, 0]][:np.shape(X)[0]] if T is None else T
    return prepare_shard(comm, net, X, T, batch_size=4, shuffle=True, rng=rng, **kwargs)


def test_a_shard_is_placed_after_the_other_ranks_rows():
    """The refusals below are the only difference: the same call with clean facts trains on 8 rows."""
    data = prepare(OtherRank(rows=4))
    assert data.n_total == 8 and list(data.positions) == [0, 1, 2, 3]


def test_validation_data_and_a_validation_fraction_are_refused_together():
    with pytest.raises(ValueError, match="give validation_data or validation_fraction, not both"):
        prepare(OtherRank(), validation_data=(np.ones((2, 5)), np.eye(3)[:2]), validation_fraction=0.2)


def test_the_shard_holds_its_rows_weights_and_settings_and_the_ranks_compare_theirs():
    """Weights normalised to mean 1 over both ranks' rows (2.0 here, 1.0 there: 8 rows, sum 12)."""
    comm = OtherRank(rows=4, weight_sum=4.0)
    T = np.eye(3)[[0, 1, 2, 0]]
    data = prepare(comm, T=T, sample_weight=np.full(4, 2.0))
    np.testing.assert_array_equal(data.X, np.ones((4, 5)))
    np.testing.assert_array_equal(data.T, T)
    np.testing.assert_array_equal(data.w, np.full(4, 2.0 * 8 / 12, np.float32))  # the model's float32, rounded once
    assert data.batch_size == 4 and data.shuffle is True and data.validation is None
    (settings,) = comm.agreed
    assert settings["sizes"] == SIZES and settings["loss"] == "cross_entropy" and settings["weighted"] is True
    assert settings["batch_size"] == 4 and settings["shuffle"] is True and settings["dtype"] == "float32"


def test_a_rank_without_rows_holds_empty_arrays_of_the_models_widths():
    data = prepare(OtherRank(rows=4, weight_sum=4.0), X=np.zeros((0, 5)), T=np.zeros((0, 3)),
                   sample_weight=np.zeros(0))
    assert data.X.shape == (0, 5) and data.T.shape == (0, 3) and data.w.shape == (0,) and data.n_total == 4


@pytest.mark.parametrize("extra", [(), (np.ones(2),)])
def test_validation_data_may_be_a_pair_or_a_triple(extra):
    """Both pass the shape check; this rank alone giving them is the next refusal."""
    with pytest.raises(ValueError, match=r"validation_data was given on rank\(s\) \[0\] only"):
        prepare(OtherRank(), validation_data=(np.ones((2, 5)), np.eye(3)[:2], *extra))


def test_validation_data_must_be_a_pair_or_a_triple():
    with pytest.raises(ValueError, match=r"validation_data must be \(X_val, T_val\) or \(X_val, T_val, "
                                         r"sample_weight_val\)"):
        prepare(OtherRank(), validation_data=(np.ones((2, 5)),))


def test_no_rank_holding_a_row_is_refused_on_every_rank():
    comm = OtherRank(rows=0)
    with pytest.raises(ValueError, match="no rank holds a training row"):
        prepare(comm, X=np.zeros((0, 5)), T=np.zeros((0, 3)))
    assert comm.exchanged[0][0] == 0  # this rank's shard of no rows passed its own checks and was exchanged


def test_sample_weights_summing_to_zero_over_every_rank_are_refused():
    with pytest.raises(ValueError, match="sample_weight sums to 0 over every rank: no sample would be trained on"):
        prepare(OtherRank(weight_sum=0.0), sample_weight=np.zeros(4))


def test_small_positive_weights_are_weights_like_any_other():
    data = prepare(OtherRank(weight_sum=0.1), sample_weight=np.full(4, 0.1))  # 0.5 over both ranks
    assert data.n_total == 8 and data.w is not None


def test_positions_must_be_given_on_every_rank_or_none():
    with pytest.raises(ValueError, match="^positions were given on some ranks only: give every rank its rows' "
                                         "positions, or none$"):
        prepare(OtherRank(), positions=[0, 1, 2, 3])


@pytest.mark.parametrize("theirs", [[3, 4, 5, 6], [4, 5, 6], [4, 5, 6, 8]],
                         ids=["overlapping", "too-few", "out-of-range"])
def test_positions_must_cover_every_row_once(theirs):
    with pytest.raises(ValueError, match=r"positions must give each rank's rows one place each, covering "
                                         rf"0\.\.{3 + len(theirs)} once"):
        prepare(OtherRank(positions=theirs), positions=[0, 1, 2, 3])


def test_positions_that_cover_every_row_once_are_this_ranks():
    data = prepare(OtherRank(positions=[0, 2, 4, 6]), positions=[1, 3, 5, 7])
    assert list(data.positions) == [1, 3, 5, 7] and data.n_total == 8


def test_a_sparse_shard_is_refused():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match=r"data-parallel training takes dense inputs \(X is sparse\)"):
        prepare(OtherRank(), X=sparse.csr_matrix(np.ones((4, 5))))


def test_a_shard_of_no_rows_must_still_have_the_models_columns():
    with pytest.raises(ValueError, match=r"X must be 2-D with 5 columns, got shape \(0, 4\)"):
        prepare(OtherRank(), X=np.zeros((0, 4)), T=np.zeros((0, 3)))


def test_the_ranks_compare_their_input_layers_and_their_starting_values():
    """Ranks whose models differ only in their input layers (or those layers' starting values) must not agree."""
    def settings(front, seed=0):
        comm = OtherRank(rows=4)
        net = xpmlp.MLP(SIZES, seed=0, front=front)
        if seed:
            net.set_front([t + seed for t in net.get_front()])
        prepare_shard(comm, net, np.ones((4, 5)), np.eye(3)[[0, 1, 2, 0]], batch_size=4, shuffle=True,
                      rng=np.random.default_rng(0))
        return comm.agreed[0]

    plain, scaled = settings(()), settings(["scale"])
    assert plain["front"] == [] and scaled["front"] == ["scale:lr_factor=6.0"]
    assert plain["weights"] != scaled["weights"]
    assert settings(["scale"], seed=1)["weights"] != scaled["weights"]
