"""The activations beyond the seeds' units (leaky_relu, elu, gelu, silu, softplus): their specs,
their derivatives on every backend, and float32 inputs up to float32's largest."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpmlp
from xpmlp.nn.activations import ACTIVATIONS, ELU, LeakyReLU, get_activation
from xpmlp.nn.init import init_layer

NEW = ("leaky_relu", "elu", "gelu", "silu", "softplus")


@pytest.mark.parametrize("name", NEW)
def test_rectifiers_start_from_he_uniform(name):
    W, _ = init_layer(np.random.default_rng(0), 3, 400, name)
    assert math.sqrt(6 / 3) * 0.95 < np.abs(W).max() <= math.sqrt(6 / 3)  # Glorot's would be sqrt(6 / 403)
