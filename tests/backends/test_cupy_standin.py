"""The CuPy stand-in (``tests/standins``) against CuPy 14.2's contracts, where it used to differ.

Each test states the rule it holds the stand-in to and the CuPy source it comes from.  Where the
rule can be read off an installed CuPy without a GPU (its kernels' type resolution, its scalar
casts, its ufuncs' loops), the test compares the stand-in with that CuPy directly; the rest is
checked against the rule as CuPy's source states it (no GPU here to run it).
"""

from __future__ import annotations

import ctypes
import warnings

import numpy as np
import pytest

from standins import cupy_standin


def _real_cupy():
    """The installed CuPy's private modules (importable without a GPU), or a skip."""
    try:
        from cupy._core import _kernel, _scalar  # noqa: F401
    except ImportError as exc:  # pragma: no cover - CI installs cupy-cuda12x
        pytest.skip(f"needs an installed CuPy to compare with: {exc}")
    import cupy

    return cupy, _kernel, _scalar


# -- cupy.random: Generator.random (cupy/random/_generator_api.pyx, _bit_generator.pyx) ----------

def test_random_draws_float32_into_a_float16_out_and_hands_it_back():
    with cupy_standin() as cupy:
        out = cupy.empty((3, 4), dtype=cupy.float16)
        got = cupy.random.default_rng(7).random(out.shape, dtype=out.dtype, out=out)
        assert got is out and out.dtype == np.float16
        want = np.random.default_rng(7).random((3, 4), dtype=np.float32).astype(np.float16)  # drawn, then copied
        np.testing.assert_array_equal(out.get(), want)
        plain = cupy.random.default_rng(7).random((3, 4), dtype=np.float16)  # no out: astype(dtype)
        assert plain.dtype == np.float16 and np.array_equal(plain.get(), want)
        assert cupy.random.default_rng(7).random(2).dtype == np.float64


def test_random_keeps_cupys_checks_of_out():
    with cupy_standin() as cupy:
        rng = cupy.random.default_rng(0)
        with pytest.raises(TypeError, match="^Supplied output array has the wrong type. Expected float32, got "
                                            "float16$"):
            rng.random((2,), dtype=np.float32, out=cupy.empty(2, dtype=cupy.float16))
        with pytest.raises(ValueError, match="^Supplied output array is not contiguous, writable or aligned.$"):
            rng.random((2,), dtype=np.float32, out=cupy.empty((2, 2), dtype=cupy.float32)[:, 0])
        with pytest.raises(ValueError, match="^size must match out.shape when used together$"):
            rng.random(3, dtype=np.float32, out=cupy.empty(2, dtype=cupy.float32))


def test_a_generator_refuses_to_draw_on_another_device():
    with cupy_standin() as cupy:
        rng = cupy.random.default_rng(0)  # state on device 0
        with cupy.cuda.Device(1), pytest.raises(RuntimeError, match="^This Generator state is allocated in a "
                                                                    "different device$"):
            rng.random((2,), dtype=np.float32)


# -- peer access (cupy/_core/_kernel.pyx _check_peer_access, cupy/cuda/device.pyx) --------------

def test_without_peer_access_another_devices_array_is_refused(monkeypatch):
    with cupy_standin() as cupy:
        monkeypatch.setattr(cupy._standin, "PEER_ACCESS", False)
        with cupy.cuda.Device(1):
            x = cupy.ones(3)
        assert cupy.cuda.runtime.deviceCanAccessPeer(0, 1) == 0 and cupy.cuda.runtime.deviceCanAccessPeer(1, 1) == 1
        with pytest.raises(ValueError, match=r"^The device where the array resides \(1\) is different from the "
                                             r"current device \(0\)\. Peer access is unavailable between these "
                                             r"devices\.$"):
            x + 1


def test_with_peer_access_it_is_enabled_with_a_performance_warning(monkeypatch):
    with cupy_standin() as cupy:
        monkeypatch.setattr(cupy._standin, "PEER_ACCESS", True)
        with cupy.cuda.Device(1):
            x = cupy.arange(3.0)
        kernel = cupy.ElementwiseKernel("T x", "T y", "y = x * 2", "peer_double")
        for run in (lambda: x + 1, lambda: kernel(x)):
            with pytest.warns(cupy._util.PerformanceWarning, match=r"^The device where the array resides \(1\) is "
                                                                   r"different from the current device \(0\)\. Peer "
                                                                   r"access has been activated automatically\.$"):
                y = run()
            assert y.device.id == 0  # made on the current device
        np.testing.assert_array_equal(y.get(), [0.0, 2.0, 4.0])
        assert issubclass(cupy._util.PerformanceWarning, RuntimeWarning)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x.__cuda_array_interface__["shape"] == (3,)  # no device check there (core.pyx)


# -- NumPy's ufuncs and functions on CuPy arrays (cupy/_core/core.pyx) --------------------------

def test_numpy_ufuncs_on_cupy_arrays_call_cupys():
    with cupy_standin() as cupy:
        x = cupy.asarray([1.0, -2.0, 3.0])
        y = np.maximum(x, 0.0)
        assert isinstance(y, cupy.ndarray) and y.device.id == 0
        np.testing.assert_array_equal(y.get(), [1.0, 0.0, 3.0])
        assert isinstance(np.greater(x, np.asarray(0.0)), cupy.ndarray)  # a 0-d NumPy array: its item
        out = cupy.empty(3)
        assert np.multiply(x, 2.0, out=out) is out and out.get().tolist() == [2.0, -4.0, 6.0]
        total = np.add.reduce(x)
        assert isinstance(total, cupy.ndarray) and float(total) == 2.0
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            np.add(x, np.ones(3))  # CuPy's ufunc refuses a host array
        with pytest.raises(TypeError):
            np.add(x, "a")  # NotImplemented: NumPy's TypeError


def test_numpy_functions_on_cupy_arrays_call_cupys():
    with cupy_standin() as cupy:
        x = cupy.asarray([[1.0, 2.0], [3.0, 4.0]])
        s = np.sum(x, axis=0)
        assert isinstance(s, cupy.ndarray) and s.get().tolist() == [4.0, 6.0]
        assert isinstance(np.linalg.norm(x), cupy.ndarray)
        with pytest.raises(TypeError, match="Unsupported type"):
            np.concatenate([x, np.ones((1, 2))])
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            np.asarray(x)


# -- ElementwiseKernel: types and scalars (cupy/_core/_kernel.pyx, _scalar.pyx) ------------------

TYPE_CASES = [  # (in_params, out_params, input dtypes (None: a scalar), output dtypes)
    ("T g, float64 lr", "T p", ("float32", None), ("float32",)),
    ("T g, float64 lr", "T p", ("float32", "float64"), ("float32",)),
    ("T g, T a", "T d", ("float32", "float64"), ()),
    ("T g, T a", "T d", ("float16", "float16"), ("float32",)),
    ("T x", "T y", (None,), ()),
    ("T x, int32 n", "T y", ("float64", "int64"), ()),
]


@pytest.mark.parametrize("ins,outs,in_dtypes,out_dtypes", TYPE_CASES)
def test_kernel_types_are_decided_as_cupy_decides_them(ins, outs, in_dtypes, out_dtypes):
    """The stand-in's decision (or error) equals the installed CuPy's ``_decide_params_type``."""
    _, real_kernel, _ = _real_cupy()
    as_dtypes = [lambda ds: tuple(None if d is None else np.dtype(d) for d in ds)]
    in_d, out_d = as_dtypes[0](in_dtypes), as_dtypes[0](out_dtypes)
    try:
        real_ins, real_outs, _ = real_kernel._decide_params_type(
            real_kernel._get_param_info(ins, True), real_kernel._get_param_info(outs, False), in_d, out_d)
        want = ("ok", real_ins + real_outs)
    except Exception as exc:
        want = (type(exc), str(exc))
    with cupy_standin() as cupy:
        kernel = cupy.ElementwiseKernel(ins, outs, "", "types_kernel")
        try:
            types = kernel.decide_types(in_d, out_d)
            got = ("ok", tuple(types[p.type] if p.dtype is None else p.dtype
                               for p in kernel.in_params + kernel.out_params))
        except Exception as exc:
            got = (type(exc), str(exc))
    assert got == want


@pytest.mark.parametrize("value,dtype", [(np.float64(0.1), "float32"), (0.1, "float32"), (np.float32(2.5), "float64"),
                                         (np.int64(7), "int32"), (True, "float64"), (np.float64(np.nan), "int32"),
                                         (2 ** 40, "int32")])
def test_kernel_scalars_are_cast_as_cupys_cscalar_casts_them(value, dtype):
    _, _, real_scalar = _real_cupy()
    try:
        s = real_scalar.CScalar(value)
        s.apply_dtype(np.dtype(dtype))
        want = ("ok", ctypes.string_at(s.ptr, np.dtype(dtype).itemsize))
    except Exception as exc:
        want = (type(exc), str(exc))
    with cupy_standin():
        from cupy._elementwise import _cast_scalar
        try:
            got = ("ok", _cast_scalar(value, np.dtype(dtype)).tobytes())
        except Exception as exc:
            got = (type(exc), str(exc))
    assert got == want


def test_a_numpy_scalar_of_another_dtype_is_cast_for_a_typed_parameter():
    with cupy_standin() as cupy:
        kernel = cupy.ElementwiseKernel("T g, float64 lr", "T p", "p -= (T)lr * g", "cast_sgd")
        p = cupy.ones(3, dtype=cupy.float32)
        kernel(cupy.ones(3, dtype=cupy.float32), np.float32(0.25), p)  # a float32 scalar for float64 lr
        np.testing.assert_array_equal(p.get(), [0.75] * 3)
        kernel = cupy.ElementwiseKernel("T x, T s", "T y", "y = x + s", "scalar_placeholder")
        np.testing.assert_array_equal(kernel(cupy.ones(2), np.float32(0.5)).get(), [1.5, 1.5])  # cast to T


# -- events (cudaEventElapsedTime: cupy/cuda/stream.pyx get_elapsed_time) ------------------------

def test_elapsed_time_needs_the_end_event_waited_for():
    with cupy_standin() as cupy:
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        cupy.ones(4).sum()
        end.record()
        with pytest.raises(cupy.cuda.runtime.CUDARuntimeError, match="^cudaErrorNotReady: device not ready$"):
            cupy.cuda.get_elapsed_time(start, end)
        end.synchronize()
        assert cupy.cuda.get_elapsed_time(start, end) >= 0


@pytest.mark.parametrize("wait", ["device", "get", "stream", "query"])
def test_each_wait_for_the_events_stream_completes_it(wait):
    with cupy_standin() as cupy:
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        x = cupy.ones(4)
        end.record()
        {"device": lambda: cupy.cuda.Device().synchronize(), "get": x.get,
         "stream": cupy.cuda.get_current_stream().synchronize, "query": end.query}[wait]()
        assert cupy.cuda.get_elapsed_time(start, end) >= 0


def test_waiting_for_another_stream_does_not_complete_an_event():
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        with stream:
            start.record()
            end.record()
        assert cupy.cuda.get_current_stream().ptr == 0
        cupy.ones(2).get()  # waits for the null stream only
        with pytest.raises(cupy.cuda.runtime.CUDARuntimeError, match="cudaErrorNotReady"):
            cupy.cuda.get_elapsed_time(start, end)
        stream.synchronize()
        assert cupy.cuda.get_elapsed_time(start, end) >= 0


def test_events_without_timing_or_never_recorded_have_no_elapsed_time():
    with cupy_standin() as cupy:
        untimed, timed = cupy.cuda.Event(disable_timing=True), cupy.cuda.Event()
        untimed.record()
        timed.record()
        timed.synchronize()
        for pair in ((untimed, timed), (cupy.cuda.Event(), timed)):
            with pytest.raises(cupy.cuda.runtime.CUDARuntimeError, match="^cudaErrorInvalidResourceHandle"):
                cupy.cuda.get_elapsed_time(*pair)


# -- bfloat16 (CuPy 14 with ml_dtypes: cupy/_util.pyx bf16_loop, _routines_linalg.pyx, bfloat16.cuh) --

def _bfloat16():
    return np.dtype(pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes").bfloat16)


def _real_bfloat16_loops(bf16):
    """An installed CuPy's loop for bfloat16 arguments, per ufunc (``where``'s condition bool): the
    loop's input types, None where none takes them; only where it is not a bfloat16 loop."""
    cupy_real, real_kernel, _ = _real_cupy()
    import cupy._sorting.search as search

    ufuncs = {n: getattr(cupy_real, n) for n in dir(cupy_real) if isinstance(getattr(cupy_real, n), real_kernel.ufunc)}
    ufuncs.update(where=search._where_ufunc, clip=cupy_real._core._routines_math._clip)
    found = {}
    for name, f in ufuncs.items():
        ins = (np.dtype(bool), bf16, bf16) if name == "where" else (bf16,) * f.nin
        op = f._ops._guess_routine_from_in_types(ins)
        loop = None if op is None else "".join(np.dtype(t).char for t in op.in_types)
        if loop is None or bf16.char not in loop:
            found[name] = loop
    return found


def test_the_ufuncs_without_a_bfloat16_loop_resolve_as_cupys():
    bf16 = _bfloat16()
    real = _real_bfloat16_loops(bf16)
    with cupy_standin() as cupy:
        from cupy._array import BFLOAT16_FALLBACK

        assert BFLOAT16_FALLBACK == {k: v for k, v in real.items() if k != "ldexp"}  # ldexp: bfloat16 with an int
        x = cupy.asarray(np.linspace(-1, 1, 5).astype(bf16))
        with pytest.raises(TypeError, match=r"^Wrong type .* of arguments for cupy_bitwise_and$"):
            cupy.bitwise_and(x, x)
        assert cupy.tanh(x).dtype == bf16 and np.maximum(x, 0).dtype == bf16  # bfloat16 loops
        picked = cupy.where(x > 0, x, x * 2)  # no bfloat16 loop: float32's
        assert picked.dtype == np.float32 and cupy.clip(x, -0.5, 0.5).dtype == np.float32
        np.testing.assert_array_equal(picked.get(), np.where(x.get() > 0, x.get(), x.get() * 2).astype(np.float32))
        assert cupy.logical_not(x).dtype == bool and cupy.float_power(x * x + 1, x).dtype == np.float64


def test_a_bfloat16_product_is_bfloat16_computed_in_float32():
    bf16 = _bfloat16()
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)).astype(bf16), rng.normal(size=(7, 3)).astype(bf16)
    want = (a.astype(np.float32) @ b.astype(np.float32)).astype(bf16)  # cuBLAS: float32 accumulation
    with cupy_standin() as cupy:
        x, w = cupy.asarray(a), cupy.asarray(b)
        for got in (x @ w, cupy.matmul(x, w)):
            assert got.dtype == bf16
            np.testing.assert_allclose(got.get().astype(np.float64), want.astype(np.float64), rtol=2 ** -7)
        out = cupy.empty((5, 3), dtype=bf16)
        assert cupy.matmul(x, w, out=out) is out


def test_a_bfloat16_kernel_rounds_to_nearest_even_as_ml_dtypes_does():
    bf16 = _bfloat16()
    g = np.array([1.0, 1 + 2 ** -7, 1 + 3 * 2 ** -7, -1e38, np.inf, np.nan, 1e-40], dtype=np.float32)
    with cupy_standin() as cupy:
        kernel = cupy.ElementwiseKernel("T g, T a", "T d", "d = g * a", "bf16_product")
        got = kernel(cupy.asarray(g.astype(bf16)), cupy.asarray(np.full(7, 1.5, dtype=bf16))).get()
    want = (g.astype(bf16).astype(np.float32) * np.float32(1.5)).astype(bf16)
    assert got.dtype == bf16
    np.testing.assert_array_equal(got.view(np.uint16)[:5], want.view(np.uint16)[:5])  # bit for bit
    assert np.isnan(got[5].astype(np.float32)) and got[6] == want[6]


def test_a_bfloat16_kernel_has_no_compound_assignment_from_float_as_cupys():
    bf16 = _bfloat16()
    with cupy_standin() as cupy:
        kernel = cupy.ElementwiseKernel("T x, float64 alpha", "T y", "y += (T)alpha * x", "bf16_axpy")
        x = cupy.asarray(np.ones(3, dtype=bf16))
        with pytest.raises(RuntimeError, match="host build of bf16_axpy failed"):
            kernel(x, 0.5, cupy.asarray(np.ones(3, dtype=bf16)))


def test_a_bfloat16_sum_accumulates_in_float32_as_cupys():
    bf16 = _bfloat16()
    a = np.full((4096, 2), 0.01, dtype=np.float32).astype(bf16)
    want = a.astype(np.float32).sum(axis=0).astype(bf16)  # one rounding at the end
    with cupy_standin() as cupy:
        x = cupy.asarray(a)
        got = cupy.sum(x, axis=0)
        out = cupy.empty(2, dtype=bf16)
        assert cupy.sum(x, axis=0, out=out) is out
    assert got.dtype == bf16
    np.testing.assert_array_equal(got.get().view(np.uint16), want.view(np.uint16))
    np.testing.assert_array_equal(out.get().view(np.uint16), want.view(np.uint16))
    assert not np.array_equal(a.sum(axis=0).view(np.uint16), want.view(np.uint16))  # bfloat16 accumulation differs


# -- NCCL: ncclAllReduce is queued on its stream and returns at once (nccl.h, docs "CUDA stream semantics";
#    cupy_backends/cuda/libs/nccl.pyx allReduce passes the stream on); CUDA's legacy null stream orders
#    itself with every blocking stream (cudaStreamNonBlocking opts out) -----------------------------

def _queued_sum(cupy, stream):
    """A 1-rank communicator's all-reduce of ``1 .. 4`` into a zeroed buffer, queued on ``stream``:
    the communicator, the receive buffer, and what it holds once the sum has landed."""
    from cupy.cuda import nccl

    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    send, recv = cupy.arange(1.0, 5.0), cupy.zeros(4)
    comm.allReduce(send.data.ptr, recv.data.ptr, 4, nccl.NCCL_FLOAT64, nccl.NCCL_SUM, stream.ptr)
    return comm, recv, np.arange(1.0, 5.0)


RACE = r"^race: .* while ncclAllReduce of 4 float64, queued on stream .*, has still to write it; wait for that stream"


def test_an_all_reduce_lands_for_later_work_on_its_own_stream():
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        _, recv, want = _queued_sum(cupy, stream)
        np.testing.assert_array_equal(recv._a, 0)  # queued: not landed yet (the device memory, looked at directly)
        with stream:
            doubled = recv * 2  # a kernel after it on its stream: stream order
            np.testing.assert_array_equal(recv.get(), want)
        np.testing.assert_array_equal(doubled.get(), 2 * want)


@pytest.mark.parametrize("use", ["get", "float", "kernel on the null stream", "kernel on another stream", "copy",
                                 "another all-reduce"])
def test_using_the_buffer_from_another_stream_before_a_wait_is_a_race(use):
    with cupy_standin() as cupy:
        from cupy.cuda import nccl

        stream, other = cupy.cuda.Stream(non_blocking=True), cupy.cuda.Stream(non_blocking=True)
        comm, recv, want = _queued_sum(cupy, stream)

        def on_other():
            with other:
                return recv + 1

        action = {"get": recv.get, "float": lambda: float(recv[0]), "kernel on the null stream": lambda: recv + 1,
                  "kernel on another stream": on_other, "copy": lambda: cupy.array(recv),
                  "another all-reduce": lambda: comm.allReduce(recv.data.ptr, recv.data.ptr, 4, nccl.NCCL_FLOAT64,
                                                               nccl.NCCL_SUM, 0)}[use]
        with pytest.raises(RuntimeError, match=RACE):
            action()
        np.testing.assert_array_equal(recv._a, 0)  # on a GPU: stale (or torn) data read
        stream.synchronize()
        np.testing.assert_array_equal(recv.get(), want)


@pytest.mark.parametrize("wait", ["stream", "device", "event", "event query", "stream waits for the event",
                                  "destroy"])
def test_after_a_wait_for_its_stream_every_stream_sees_the_sum(wait):
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        comm, recv, want = _queued_sum(cupy, stream)
        event = stream.record()
        {"stream": stream.synchronize, "device": cupy.cuda.Device().synchronize, "event": event.synchronize,
         "event query": event.query, "stream waits for the event": lambda: cupy.cuda.Stream.null.wait_event(event),
         "destroy": comm.destroy}[wait]()
        np.testing.assert_array_equal(recv.get(), want)  # read on the null stream
        assert cupy._standin.SYNCS["Stream.synchronize"] == (wait == "stream")


def test_an_event_recorded_before_the_all_reduce_does_not_cover_it():
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        before = stream.record()
        _, recv, want = _queued_sum(cupy, stream)
        before.synchronize()
        cupy.cuda.Stream.null.wait_event(before)
        with pytest.raises(RuntimeError, match=RACE):
            recv.get()
        stream.record().synchronize()
        np.testing.assert_array_equal(recv.get(), want)


@pytest.mark.parametrize("queued_on,read_on,ordered", [
    ("null", "blocking", True), ("blocking", "null", True),  # the legacy null stream's implicit order
    ("null", "non-blocking", False), ("non-blocking", "null", False), ("blocking", "other blocking", False)])
def test_the_legacy_null_stream_orders_itself_with_blocking_streams_only(queued_on, read_on, ordered):
    with cupy_standin() as cupy:
        streams = {"null": cupy.cuda.Stream.null, "blocking": cupy.cuda.Stream(),
                   "other blocking": cupy.cuda.Stream(), "non-blocking": cupy.cuda.Stream(non_blocking=True)}
        _, recv, want = _queued_sum(cupy, streams[queued_on])
        with streams[read_on]:
            if ordered:
                np.testing.assert_array_equal((recv + 0).get(), want)
            else:
                with pytest.raises(RuntimeError, match=RACE):
                    recv + 0


def test_an_aborted_all_reduce_never_lands():
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        comm, recv, _ = _queued_sum(cupy, stream)
        comm.abort()
        stream.synchronize()
        np.testing.assert_array_equal(recv.get(), 0)


def test_one_element_indexed_is_a_view_that_sees_the_sum_land():
    """CuPy's ``x[0]`` is a 0-d view (no kernel, no copy): read after the sum lands, it holds the sum."""
    with cupy_standin() as cupy:
        stream = cupy.cuda.Stream(non_blocking=True)
        _, recv, want = _queued_sum(cupy, stream)
        first = recv[0]
        assert isinstance(first, cupy.ndarray) and first.shape == () and first.base is not None
        stream.synchronize()
        assert float(first) == want[0]
