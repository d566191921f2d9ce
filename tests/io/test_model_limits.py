"""A model file is checked against its limits before anything is allocated (xpmlp.io.limits): a zip
bomb, an array header claiming 10^12 floats, an archive of many members, deep or large metadata
are refused at once with one line naming the limit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.io import ModelFileError, limits, load, read_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))
import craft  # noqa: E402


@pytest.fixture
def good(tmp_path):
    net = xpmlp.MLP([3, 4, 2], "tanh", dtype="float64", seed=0)
    return xpmlp.save(tmp_path / "good.npz", net, optimizer=xpmlp.optim.Adam())


def refused(path, match, seconds=2.0, **kwargs):
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match) as exc:
        read_state(path, **kwargs)
    assert time.perf_counter() - start < seconds
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300 and str(exc.value).startswith(str(path))
    return str(exc.value)


def test_a_good_file_still_loads_through_the_limits(good):
    meta, arrays = read_state(good)
    assert set(arrays) == set(meta["arrays"]) and arrays["W.0"].shape == (3, 4) and arrays["W.0"].flags.writeable
    assert load(good).net.sizes == [3, 4, 2]


def test_a_4_gib_zip_bomb_in_a_few_mb_is_refused_at_once(good, tmp_path):
    bomb = craft.zip_bomb(good, tmp_path / "bomb.npz", gib=4)
    assert bomb.stat().st_size < 8 << 20
    refused(bomb, r"member 'x.bomb' expands from \d+ to 4294967424 bytes \(more than 100-fold: a zip bomb\?\)")


def test_arrays_over_the_overall_limit_are_refused(good, tmp_path, monkeypatch):
    bomb = craft.zip_bomb(good, tmp_path / "bomb.npz", gib=1)
    monkeypatch.setattr(limits, "MAX_RATIO", 10**9)  # as if it were stored: the overall limit still holds
    refused(bomb, r"its arrays would take \d+ bytes; the limit is 1000000 \(raise it with XPMLP_MAX_MODEL_BYTES\)",
            max_bytes=10**6)
    monkeypatch.setenv("XPMLP_MAX_MODEL_BYTES", "100")
    refused(good, "the limit is 100 ")
    monkeypatch.setenv("XPMLP_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ValueError, match="XPMLP_MAX_MODEL_BYTES must be a number of bytes, got 'lots'"):
        read_state(good)


def test_a_header_claiming_10_to_the_12_floats_is_refused_before_allocation(good, tmp_path):
    refused(craft.huge_header(good, tmp_path / "huge.npz"),
            r"array 'W.0': its header claims <f8\[1000000000000\], 8000000000000 bytes, but the member holds 96")


def test_a_member_larger_than_its_listed_shape_is_refused(good, tmp_path):
    meta, members = craft.model_parts(good)
    members["b.0.npy"] += bytes(100_000)
    refused(craft.write_model(tmp_path / "big.npz", meta, members),
            r"member 'b.0' states \d+ bytes, more than the metadata's shape and dtype take with a header: 65580")


def test_an_object_array_is_refused_without_unpickling(good, tmp_path):
    meta, members = craft.model_parts(good)
    members["b.0.npy"] = craft.npy_header((4,), "|O") + bytes(32)
    refused(craft.write_model(tmp_path / "obj.npz", meta, members), r"array 'b.0' has dtype \|O: only numbers and text")


def test_many_members_are_refused_from_the_end_record(good, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_MEMBERS", 50)
    refused(craft.many_members(good, tmp_path / "many.npz", 60), "holds 65 members; a model file holds at most 50$")


def test_large_metadata_is_refused(good, monkeypatch):
    monkeypatch.setattr(limits, "MAX_META_BYTES", 100)
    refused(good, r"member '__xpmlp__' states \d+ bytes, more than the metadata's limit of 100$")


@pytest.mark.parametrize("depth", [65, 200_000])
def test_deep_metadata_is_refused_without_recursion_error(depth, tmp_path):
    refused(craft.deep_metadata(tmp_path / "deep.npz", depth), "the metadata is nested deeper than 64 levels$")


def test_a_file_without_metadata_or_not_a_zip_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "none.npz", "w") as z:
        z.writestr("W.0.npy", craft.npy_bytes(np.zeros(2)))
    refused(tmp_path / "none.npz", "no __xpmlp__ metadata")
    (tmp_path / "text.npz").write_text("hello")
    refused(tmp_path / "text.npz", "not a readable xpmlp model file")
    craft.write_model(tmp_path / "v3.npz", "{}", {"W.0.npy": b"\x93NUMPY\x03\x00" + bytes(20)})
    refused(tmp_path / "v3.npz", r"\.npy format \(3, 0\)")


def test_a_member_whose_data_ends_early_is_refused(good, tmp_path):
    import zlib

    meta, members = craft.model_parts(good)
    meta["arrays"]["x.short"] = {"shape": [100], "dtype": "<f8", "sha256": "0" * 64}
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    header = craft.npy_header((100,))
    stream = c.compress(header + bytes(80)) + c.flush()  # 80 of the 800 bytes its header and size state
    path = craft.write_model(tmp_path / "short.npz", meta, members, raw={"x.short.npy": (stream, len(header) + 800)})
    refused(path, "not a readable xpmlp model file")


def test_a_malformed_shape_in_the_metadata_is_left_to_the_model_checks(good, tmp_path):
    meta, members = craft.model_parts(good)
    meta["arrays"]["W.0"]["shape"] = [-3, 4]
    with pytest.raises(ModelFileError, match=r"array 'W.0' is <f8\[3, 4\], metadata says <f8\[-3, 4\]"):
        load(craft.write_model(tmp_path / "neg.npz", meta, members))
