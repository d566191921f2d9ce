"""Writing files without losing one (:mod:`xpmlp.io.files`): saves keep an existing file's permission
bits and write through a symbolic link; a failed write leaves no temporary file and its error names
the user's path; a killed save's temporary files are removed by the next save; outputs that are
inputs, directories, or in a missing directory are refused; inputs that are not regular files
(a FIFO, a directory, a device) are refused before they are opened; model metadata that is an
integer of thousands of digits or nested too deeply is one ModelFileError naming the file."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

import xpmlp
from xpmlp.io import ModelFileError, files, load, read_state, save, write_state


def small_net():
    return xpmlp.MLP([2, 3, 1], "tanh", "identity", "squared_error", backend="numpy", seed=0)


def tmp_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_save_over_a_private_file_keeps_it_private(tmp_path):
    path = save(tmp_path / "m.npz", small_net())
    os.chmod(path, 0o600)
    save(path, small_net())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o640)
    save(path, small_net())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_new_file_gets_the_mode_open_would_give(tmp_path):
    umask = os.umask(0o027)
    try:
        path = save(tmp_path / "m.npz", small_net())
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_save_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "real").mkdir()
    target = save(tmp_path / "real" / "m.npz", small_net())
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    net = small_net()
    net.set_weights([np.full((2, 3), 0.5), np.full((3, 1), 0.25)], [np.zeros(3), np.ones(1)])
    assert save(link, net) == link
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays a link
    np.testing.assert_array_equal(load(target).net.get_weights()[0][0], np.full((2, 3), 0.5))  # its target is new
    assert tmp_files(tmp_path) == tmp_files(tmp_path / "real") == []


def test_a_failed_write_names_the_users_path_and_leaves_no_temporary_file(tmp_path):
    def full_disk(f):
        f.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "m.npz").write_bytes(b"the old model")
    with pytest.raises(OSError) as exc:
        files.replace_atomically(tmp_path / "m.npz", full_disk)
    assert str(exc.value) == f"[Errno {errno.ENOSPC}] cannot write {tmp_path / 'm.npz'}: No space left on device"
    assert ".tmp" not in str(exc.value)
    assert (tmp_path / "m.npz").read_bytes() == b"the old model" and tmp_files(tmp_path) == []


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    def interrupted(f):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.replace_atomically(tmp_path / "m.npz", interrupted)
    assert tmp_files(tmp_path) == [] and not (tmp_path / "m.npz").exists()


def test_a_save_into_a_missing_directory_names_the_users_path(tmp_path):
    with pytest.raises(OSError) as exc:
        write_state(tmp_path / "no" / "m.npz", {}, {})
    path = tmp_path / "no" / "m.npz"
    assert str(exc.value) == f"[Errno {errno.ENOENT}] cannot write {path}: No such file or directory"


def test_the_next_save_removes_a_killed_saves_temporary_files(tmp_path):
    stale, fresh = tmp_path / ".m.npz.abcd1234.tmp", tmp_path / ".m.npz.efgh5678.tmp"
    other = tmp_path / ".n.npz.abcd1234.tmp"  # another file's: not this save's business
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    old = time.time() - files.STALE_AFTER_S - 5
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save(tmp_path / "m.npz", small_net())
    assert not stale.exists()  # a killed save's
    assert fresh.exists() and other.exists()  # perhaps a save under way; another path's


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_inputs_that_are_not_regular_files_are_refused_before_opening(tmp_path, kind):
    path = {"fifo": tmp_path / "m.npz", "directory": tmp_path, "device": "/dev/zero"}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # opening it would block for ever
    with pytest.raises(ValueError) as exc:
        load(path)
    what = {"fifo": "a named pipe (FIFO)", "directory": "a directory", "device": "a character device"}[kind]
    assert str(exc.value) == f"{path}: is {what}, not a model file"


def test_a_missing_input_is_left_to_the_readers_message(tmp_path):
    files.require_regular(tmp_path / "none.csv", "data file")  # no error here
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load(tmp_path / "none.npz")


def test_outputs_that_are_inputs_are_refused(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    for out in (data, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "." / "data.csv"):
        with pytest.raises(files.OutputError) as exc:
            files.check_outputs({"-o": out}, [data])
        assert str(exc.value) == f"-o {out} would overwrite the input {data}; give another output path"
    with pytest.raises(files.OutputError, match="would overwrite the input"):  # the input is the link
        files.check_outputs({"-o": data}, [tmp_path / "link.csv"])
    files.check_outputs({"-o": tmp_path / "out.csv", "--plot": None}, [data])  # fine


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path, monkeypatch):
    out = tmp_path / "m.npz"
    with pytest.raises(files.OutputError) as exc:
        files.check_outputs({"--save": out, "--plot": out}, [])
    assert str(exc.value) == f"--plot {out} is also the path of --save; give each output its own path"
    with pytest.raises(files.OutputError) as exc:
        files.check_outputs({"--save": tmp_path}, [])
    assert str(exc.value) == f"--save {tmp_path}: is a directory; give a file name"
    with pytest.raises(files.OutputError) as exc:
        files.check_outputs({"--save": tmp_path / "no" / "m.npz"}, [])
    assert str(exc.value) == f"--save {tmp_path / 'no' / 'm.npz'}: the directory {tmp_path / 'no'} does not exist"
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)  # a read-only directory (tests run as root)
    with pytest.raises(files.OutputError) as exc:
        files.check_outputs({"--save": out}, [])
    assert str(exc.value) == f"--save {out}: cannot write in the directory {tmp_path} (permission denied)"


def crafted(tmp_path, text):
    np.savez(tmp_path / "m.npz", __xpmlp__=np.frombuffer(text.encode(), dtype=np.uint8))
    return tmp_path / "m.npz"


def test_metadata_with_a_5000_digit_integer_names_the_file(tmp_path):
    path = crafted(tmp_path, json.dumps({"format": "xpmlp-model"})[:-1] + ', "version": ' + "9" * 5000 + "}")
    with pytest.raises(ModelFileError, match=rf"^{path}: metadata is not valid JSON: Exceeds the limit"):
        read_state(path)


def test_metadata_nested_too_deeply_is_one_model_file_error(tmp_path):
    path = crafted(tmp_path, '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ModelFileError) as exc:
        read_state(path)
    assert str(exc.value) == f"{path}: the metadata is nested deeper than 64 levels"


def test_a_device_output_is_written_as_it_is(tmp_path):
    files.check_outputs({"-o": "/dev/null"}, [tmp_path / "data.csv"])  # not refused for its directory
    assert files.replace_atomically("/dev/null", lambda f: f.write(b"predictions")) == Path("/dev/null")
    save("/dev/null", small_net())
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # still the device
