"""ONNX export: the trained network and the preprocessing it carries, as one ONNX graph.

``to_onnx(net, "model.onnx")`` writes a graph any ONNX runtime can run:
``z^l = a^{l-1} W^l + b^l`` as ``MatMul`` + ``Add``, then the activation
(``Relu``, ``Tanh``, ``Sigmoid``, ``Exp``, ``Softmax`` along the features, the
identity, or the threshold unit as ``GreaterOrEqual`` + ``Cast``; ``LeakyRelu``,
``Elu`` and ``Softplus`` in a float32 graph, and in a float64 graph the same
formulas from primitives, since those ops' float attributes would round a slope
to float32 and onnxruntime has no float64 ``Elu`` or ``Softplus``; opset 17 has
no GELU, so GELU's tanh form is ``z * Sigmoid(2u)`` on ``z`` clipped as in
:class:`~xpmlp.nn.activations.GELU`, and SiLU ``z * Sigmoid(z)``); its input ``X``
is ``(batch, n_features)`` in the model's dtype.  Input layers of other kinds
(:mod:`xpmlp.nn.front`) come first, each built here from its kind's name and settings
(:data:`FRONT_KINDS`; another kind is refused by name): ``scale`` as ``Mul`` by the constant
``c theta``; ``periodic`` as its forward pass, ``Slice`` (the first ``m`` columns), ``Unsqueeze``,
``Mul``, ``Add``, ``Cos``, ``Transpose``, a batched ``MatMul`` over the columns, ``Reshape`` and
``Concat`` with ``x``.

With a :class:`~xpmlp.app.preprocessing.Preprocessor` the graph takes raw columns,
as ``xpmlp predict`` does: **one input per column**, named after it, ``(batch, 1)``
-- ``double`` for a number column (NaN for a gap), ``string`` for a category column
(the text, stripped; ``""`` for a gap); :func:`onnx_inputs` makes them from a
:class:`~xpmlp.app.tables.Table`.  Inside, in double precision, each column is
encoded as :mod:`xpmlp.app.features` says: a gap filled (``IsNaN`` + ``Where``; a
category's gap maps to the most frequent category), a gap indicator (``IsNaN`` or
a ``LabelEncoder`` of ``""``, then ``Cast``), a category one-hot (``LabelEncoder``
from the ``ai.onnx.ml`` domain to the category's index, -1 for an unseen one, then
``Equal`` against ``0..k-1`` and ``Cast``: all zeros for an unseen category); then
``Concat`` (then a ``Gather`` that puts every number first, as the preprocessor
does), the standardisation (``Sub``, ``Div``), a ``Cast`` to the model's dtype,
the network, and a regression target's scaling (``Mul``, ``Add``).  The output ``Y``
(``predicted`` if a column is named ``Y``) holds class probabilities (one column per
class, in the preprocessor's class order) or target values.  onnxruntime runs all
of it.  Needs the optional extra: ``pip install 'xpmlp[onnx]'``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..io.files import replace_atomically
from ..nn.network import MLP

__all__ = ["to_onnx", "onnx_inputs", "OPSET", "ML_OPSET", "FRONT_KINDS"]

OPSET = 17
#: The ``ai.onnx.ml`` opset (its ``LabelEncoder`` with ``keys_strings``/``values_int64s``).
ML_OPSET = 2
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "exp": "Exp"}
#: Ops whose parameter is a float attribute (used in float32 graphs): activation -> (op, parameter or None).
_ATTRIBUTE_OPS = {"leaky_relu": ("LeakyRelu", "slope"), "elu": ("Elu", "alpha"), "softplus": ("Softplus", None)}
#: Activations built from primitives (``_Graph._<name>``): every dtype, or float64 only for the ones above.
_COMPOSED = ("leaky_relu", "elu", "softplus", "gelu", "silu")
#: The input layers ONNX export writes (``_Graph._<name>``), by kind name.
FRONT_KINDS = ("scale", "periodic")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX export needs the onnx package: pip install 'xpmlp[onnx]'") from exc
    return onnx


def to_onnx(net: MLP, path: "str | os.PathLike | None" = None, preprocessor: Any = None) -> Any:
    """The network (after ``preprocessor``'s encoding, if given) as an ``onnx.ModelProto`` (checked
    with ``onnx.checker``); also written to ``path`` (atomically) when one is given."""
    dated = [f.name for f in getattr(preprocessor, "features", []) if f.kind == "date"]
    if dated:
        raise ValueError(f"ONNX export does not read dates; the model has date column(s) {', '.join(map(repr, dated))} "
                         "(train with --no-dates, or with those columns' numbers in the file, to export)")
    onnx = _onnx()
    from onnx import helper

    dtype = np.float32 if net.backend.dtype_name == "float32" else np.float64
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    builder = _Graph(helper, dtype)
    if preprocessor is None:
        inputs, x = [helper.make_tensor_value_info("X", elem, ["batch", net.sizes[0]])], "X"
    else:
        inputs, x = _encoding(builder, preprocessor)
    x = _front(builder, net, x)  # a^0 = h_m(... h_1(X))
    Ws, bs = net.get_weights()
    for layer, (W, b, act) in enumerate(zip(Ws, bs, net.activations), start=1):
        product = builder.node("MatMul", [x, builder.const(f"W{layer}", W)])
        z = builder.node("Add", [product, builder.const(f"b{layer}", b)])  # z^l = a^{l-1} W^l + b^l
        x = builder.activation(act, z)
    if preprocessor is not None and preprocessor.task == "regression":
        x = builder.node("Mul", [x, builder.const("y_scale", np.array([preprocessor.y_scale]))])
        x = builder.node("Add", [x, builder.const("y_mean", np.array([preprocessor.y_mean]))])
    output = "predicted" if any(i.name == "Y" for i in inputs) else "Y"
    builder.nodes.append(helper.make_node("Identity", [x], [output]))
    graph = helper.make_graph(builder.nodes, "xpmlp_mlp", inputs,
                              [helper.make_tensor_value_info(output, elem, ["batch", net.sizes[-1]])],
                              initializer=builder.initializers)
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("ai.onnx.ml", ML_OPSET)] if builder.ml else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="xpmlp")
    onnx.checker.check_model(model)
    if path is not None:
        replace_atomically(path, lambda f: f.write(model.SerializeToString()))
    return model


def _front(builder: "_Graph", net: MLP, x: str) -> str:
    """The input layers in front of ``W^1``, each from its kind's name, settings and ``theta``."""
    unknown = [layer.spec for layer in net.front.layers if layer.name not in FRONT_KINDS]
    if unknown:
        raise ValueError(f"no ONNX form for input layer {unknown[0]!r} (ONNX export writes {', '.join(FRONT_KINDS)})")
    theta, i = net.get_front() if net.front else [], 0
    for layer in net.front.layers:
        x = getattr(builder, f"_{layer.name}")(layer, [layer.lr_factor * t for t in theta[i:i + len(layer.shapes)]], x)
        i += len(layer.shapes)
    return x


def _encoding(builder: "_Graph", pre: Any) -> tuple[list, str]:
    """The graph's inputs, one per raw column, and the standardised encoded rows in the model's dtype."""
    helper, parts, inputs = builder.helper, [], []
    for f in pre.features:
        number = f.kind == "number"
        kind = builder.double if number else 8  # 8: TensorProto.STRING
        inputs.append(helper.make_tensor_value_info(f.name, kind, ["batch", 1]))
        parts += _number(builder, f) if number else _category(builder, f)
    x = builder.node("Concat", parts, axis=1) if len(parts) > 1 else parts[0]
    if pre.numbers_first:  # the inputs' order: every number first (Preprocessor.order)
        x = builder.node("Gather", [x, builder.const("order", pre.order, np.int64)], axis=1)
    x = builder.node("Sub", [x, builder.const("mean", pre.mean, np.float64)])
    x = builder.node("Div", [x, builder.const("scale", pre.scale, np.float64)])
    if pre.clip:  # x / sqrt(1 + (x / c)^2)
        u = builder.node("Div", [x, builder.const("clip", np.array([pre.clip]), np.float64)])
        one = builder.const("one", np.array([1.0]), np.float64)
        x = builder.node("Div", [x, builder.node("Sqrt", [builder.node("Add", [one, builder.node("Mul", [u, u])])])])
    return inputs, builder.node("Cast", [x], to=helper.np_dtype_to_tensor_dtype(np.dtype(builder.dtype)))


def _number(builder: "_Graph", f: Any) -> list[str]:
    """A number column: its value, a gap filled with the median; then its gap indicator."""
    if f.fill is None:  # a model of xpmlp 0.2: no gaps
        return [f.name]
    gap = builder.node("IsNaN", [f.name])
    parts = [builder.node("Where", [gap, builder.const(f"fill_{f.name}", np.array([f.fill]), np.float64), f.name])]
    if f.indicator:
        parts.append(builder.node("Cast", [gap], to=builder.double))
    return parts


def _category(builder: "_Graph", f: Any) -> list[str]:
    """A category column: one-hot over its categories (a gap as the most frequent one; an unseen
    category all zeros); then its gap indicator."""
    keys = list(f.categories) + [""]
    index = builder.node("LabelEncoder", [f.name], domain="ai.onnx.ml", keys_strings=keys, default_int64=-1,
                         values_int64s=list(range(len(f.categories))) + [f.categories.index(f.fill)])
    hit = builder.node("Equal", [index, builder.const(f"codes_{f.name}", np.arange(len(f.categories)), np.int64)])
    parts = [builder.node("Cast", [hit], to=builder.double)]
    if f.indicator:
        gap = builder.node("LabelEncoder", [f.name], domain="ai.onnx.ml", keys_strings=[""], values_int64s=[1],
                           default_int64=0)
        parts.append(builder.node("Cast", [gap], to=builder.double))
    return parts


def onnx_inputs(pre: Any, table: Any) -> dict[str, np.ndarray]:
    """The inputs of :func:`to_onnx`'s graph for ``pre`` from a table's raw columns: numbers as
    ``(n, 1)`` float64 (NaN for a gap), text as ``(n, 1)`` strings (``""`` for a gap)."""
    feeds = {}
    for f in pre.features:
        if f.kind == "number":
            feeds[f.name] = table.numbers(f.name).reshape(-1, 1)
        else:
            feeds[f.name] = np.array(["" if t is None else t for t in table.texts(f.name).tolist()],
                                     dtype=object).reshape(-1, 1)
    return feeds


class _Graph:
    """Collects nodes and initialisers, naming intermediate values in order."""

    def __init__(self, helper: Any, dtype: Any) -> None:
        self.helper, self.dtype = helper, dtype
        self.nodes: list = []
        self.initializers: list = []
        self.ml = False  # whether a node of the ai.onnx.ml domain is used
        self.double = helper.np_dtype_to_tensor_dtype(np.dtype(np.float64))

    def const(self, name: str, value: np.ndarray, dtype: Any = None) -> str:
        """An initialiser in ``dtype`` (default: the model's); names live apart from the columns'."""
        dtype, name = np.dtype(dtype or self.dtype), f"xpmlp/{name}"
        self.initializers.append(self.helper.make_tensor(
            name, self.helper.np_dtype_to_tensor_dtype(dtype), np.shape(value),
            np.asarray(value, dtype=dtype).ravel().tolist()))
        return name

    def scalar(self, value: float) -> str:
        """A 0-d constant of the graph's dtype."""
        return self.const(f"c{len(self.initializers)}", np.array(value))

    def node(self, op: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out = f"xpmlp/t{len(self.nodes)}_{op.lower()}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], domain=domain or None, **attrs))
        self.ml = self.ml or domain == "ai.onnx.ml"
        return out

    def activation(self, act: Any, z: str) -> str:
        """``a = f(z)`` for xpmlp's activation ``act`` (an :class:`~xpmlp.nn.activations.Activation`)."""
        name = act.name
        if name in _ACTIVATION_OPS:
            return self.node(_ACTIVATION_OPS[name], [z])
        if name in _ATTRIBUTE_OPS and self.dtype == np.float32:
            op, param = _ATTRIBUTE_OPS[name]
            return self.node(op, [z], **({"alpha": getattr(act, param)} if param else {}))
        if name in _COMPOSED:
            return getattr(self, f"_{name}")(act, z)
        if name == "softmax":
            return self.node("Softmax", [z], axis=1)
        if name == "threshold":  # 1 where z >= 0, else 0
            step = self.node("GreaterOrEqual", [z, self.const(f"zero{len(self.nodes)}", np.zeros(1))])
            return self.node("Cast", [step], to=self.helper.np_dtype_to_tensor_dtype(np.dtype(self.dtype)))
        if name == "identity":
            return z
        raise ValueError(f"no ONNX form for activation {name!r}")

    def ints(self, values: list[int]) -> str:
        """A 1-D int64 constant (axes, slice bounds, shapes)."""
        return self.const(f"i{len(self.initializers)}", np.array(values), np.int64)

    def _scale(self, layer: Any, s: list, x: str) -> str:  # u = x ⊙ s, s = c theta
        return self.node("Mul", [x, self.const(f"scale{len(self.initializers)}", s[0])])

    def _periodic(self, layer: Any, theta: list, x: str) -> str:
        """u = [e_1 .. e_m, x], e_j = cos(2 pi x_j w1_j + b1_j) W2_j + b2_j (``theta`` already ``c theta``)."""
        (w1, b1, W2, b2), m, d, n = theta, layer.m, layer.width - 1, len(self.initializers)
        xm = x if m == layer.width_in else self.node("Slice", [x, self.ints([0]), self.ints([m]), self.ints([1])])
        v = self.node("Mul", [self.node("Unsqueeze", [xm, self.ints([2])]), self.const(f"w1_{n}", w1)])  # (n, m, k)
        v = self.node("Add", [self.node("Mul", [v, self.scalar(2.0 * np.pi)]), self.const(f"b1_{n}", b1)])  # v_j
        h = self.node("Transpose", [self.node("Cos", [v])], perm=[1, 0, 2])  # h_j = cos(v_j), (m, n, k)
        e = self.node("MatMul", [h, self.const(f"W2_{n}", W2)])
        e = self.node("Add", [e, self.const(f"b2_{n}", b2[:, None, :])])  # e_j = h_j W2_j + b2_j, (m, n, d)
        e = self.node("Reshape", [self.node("Transpose", [e], perm=[1, 0, 2]), self.ints([-1, m * d])])  # (n, m d)
        return self.node("Concat", [e, x], axis=1)

    def _positive(self, z: str) -> str:
        return self.node("Greater", [z, self.scalar(0.0)])

    def _leaky_relu(self, act: Any, z: str) -> str:  # z if z > 0 else slope z
        return self.node("Where", [self._positive(z), z, self.node("Mul", [z, self.scalar(act.slope)])])

    def _elu(self, act: Any, z: str) -> str:  # z if z > 0 else alpha (exp(min(z, 0)) - 1)
        expm1 = self.node("Sub", [self.node("Exp", [self.node("Min", [z, self.scalar(0.0)])]), self.scalar(1.0)])
        return self.node("Where", [self._positive(z), z, self.node("Mul", [expm1, self.scalar(act.alpha)])])

    def _softplus(self, act: Any, z: str) -> str:  # max(z, 0) + log(1 + exp(-|z|))
        log1p_e = self.node("Log", [self.node("Add", [self.node("Exp", [self.node("Neg", [self.node("Abs", [z])])]),
                                                      self.scalar(1.0)])])
        return self.node("Add", [self.node("Max", [z, self.scalar(0.0)]), log1p_e])

    def _gelu(self, act: Any, z: str) -> str:  # z logistic(2u), u = sqrt(2/pi) (z + 0.044715 z^3), z clipped for u
        zc = self.node("Clip", [z, self.scalar(-act.CLIP), self.scalar(act.CLIP)])
        cube = self.node("Mul", [self.node("Mul", [zc, zc]), zc])
        inner = self.node("Add", [zc, self.node("Mul", [cube, self.scalar(act.K)])])
        return self.node("Mul", [z, self.node("Sigmoid", [self.node("Mul", [inner, self.scalar(2.0 * act.C)])])])

    def _silu(self, act: Any, z: str) -> str:  # z logistic(z)
        return self.node("Mul", [z, self.node("Sigmoid", [z])])
