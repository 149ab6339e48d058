"""Shared test configuration.

Double precision is switched on before anything imports s2scatter, so that
comparisons with pyssht / s2fft are made in float64 (see ``docs/conventions.md``, Precision).
"""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test."""
    return np.random.default_rng(1234)


@pytest.fixture
def record_error(request):
    """Attach a measured error to the test report (``user_properties``; written to
    ``--junitxml`` output with ``-o junit_family=legacy``) for the closing note's table."""

    def record(name, value):
        request.node.user_properties.append((name, value))

    return record
