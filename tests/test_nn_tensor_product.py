"""The two evaluation strategies of the Clebsch-Gordan tensor product (issue 12, performance).

``method="outer"`` (outer products, then the Clebsch-Gordan contraction) and
``method="matmul"`` (the coefficients applied to one factor, then one matrix
product per smaller degree) compute the same bilinear map in a different order.
Each is compared with the slow NumPy twin of ``tests/test_nn_layers.py``
(``tp_reference``, from the dense :func:`clebsch_gordan` arrays) and with each
other, in float64.  Tolerance 1e-12 relative to the largest output: every
output is a sum of at most ``2 l1 + 1 <= 11`` products of O(1) numbers with
coefficients ``|C| <= 1``, so the rounding of either order is ~1e-15; a wrong
coefficient, index, sign or output row gives O(1) errors.  Equivariance over
Haar-random rotations (rounding: ~1e-15, asserted 1e-12 as in the layer tests)
and ``check_grads`` in reverse mode (JAX's float64 defaults) for both methods.
"""

import numpy as np
import pytest
from jax.test_util import check_grads
from test_nn_layers import rand_signal, tp_reference

import s2scatter
from s2scatter import nn

RTOL = 1e-12  # see the module docstring
ROT = 20  # random rotations per equivariance check
METHODS = ("outer", "matmul")


def real_signal(rng, L, C, batch=2):
    flm = np.stack([s2scatter.sampling.random_flm(L, reality=True, rng=rng) for _ in range(batch * C)])
    return nn.from_flm(flm.reshape(batch, C, L, 2 * L - 1))


def max_rel_diff(ys, refs):
    scale = max(float(np.max(np.abs(np.asarray(r)), initial=0.0)) for r in refs)
    diff = max(float(np.max(np.abs(np.asarray(y) - np.asarray(r)), initial=0.0)) for y, r in zip(ys, refs))
    return diff / scale


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("degrees", ["full", "mst", [(1, 2), (0, 3, 3)]])
@pytest.mark.parametrize("channels", ["channelwise", "full"])
@pytest.mark.parametrize("spec", [nn.SignalSpec.s2(5, 3), nn.SignalSpec.so3(4, 3, 2)], ids=["s2", "so3"])
def test_each_method_matches_the_reference(rng, spec, channels, degrees, method):
    x = rand_signal(rng, spec)
    plan = nn.tensor_product_plan(spec, L_out=spec.L + 2, degrees=degrees, channels=channels, method=method)
    assert plan.method == method
    y = nn.tensor_product(x, plan)
    assert y.spec == plan.spec_out
    ref = tp_reference(x, plan.triples, channels)
    ref += [np.zeros(np.shape(y[l])) for l in range(len(ref), plan.L_out)]  # degrees no triple reaches
    assert max_rel_diff(y.fragments, ref) <= RTOL


@pytest.mark.parametrize("reality", [False, True])
@pytest.mark.parametrize("channels", ["channelwise", "full"])
def test_matmul_equals_outer(rng, channels, reality):
    """The two orders agree on real fields (``reality``: m >= 0 computed, m < 0 by symmetry) and
    complex ones, with output degrees beyond the input's (L_out = 2L - 1)."""
    L = 5
    x = real_signal(rng, L, 3)
    mk = dict(L_out=2 * L - 1, degrees="full", channels=channels, reality=reality)
    y_outer = nn.tensor_product(x, nn.tensor_product_plan(x.spec, method="outer", **mk))
    y_matmul = nn.tensor_product(x, nn.tensor_product_plan(x.spec, method="matmul", **mk))
    assert y_matmul.spec == y_outer.spec
    assert max_rel_diff(y_matmul.fragments, y_outer.fragments) <= RTOL


@pytest.mark.parametrize("method", METHODS)
def test_each_method_is_equivariant(rng, record_error, method):
    L = 5
    x = real_signal(rng, L, 3)
    so3 = nn.SignalSpec.so3(4, 2, 2)
    for name, layer, inp in (
        ("s2_full", nn.TensorProduct(x.spec, L_out=2 * L - 1, degrees="full", channels="full", method=method), x),
        ("s2_full_reality", nn.TensorProduct(x.spec, L_out=L, degrees="mst", channels="full", reality=True,
                                             method=method), x),
        ("so3_channelwise", nn.TensorProduct(so3, L_out=5, degrees="full", method=method), rand_signal(rng, so3)),
    ):
        errs = s2scatter.assert_equivariant(layer, inp, rotations=ROT, rtol=1e-12)
        record_error(f"equivariance_f64_tensor_product_{method}_{name}", float(errs.max()))


@pytest.mark.parametrize("method", METHODS)
def test_check_grads_reverse(rng, method):
    x = rand_signal(rng, nn.SignalSpec.s2(3, 2), batch=(1,))
    for channels, reality in (("full", False), ("channelwise", False), ("full", True)):
        plan = nn.tensor_product_plan(x.spec, L_out=3, degrees="full", channels=channels, reality=reality,
                                      method=method)
        check_grads(lambda s: nn.tensor_product(s, plan), (x,), 1, modes=("rev",))


@pytest.mark.parametrize("method", METHODS)
def test_output_rows_read_each_entry_once(method):
    """The output gather promises unique indices (its transpose is a scatter without
    collisions); a repeated index would give wrong gradients silently."""
    for spec in (nn.SignalSpec.s2(5, 3), nn.SignalSpec.so3(4, 2, 2)):
        for channels in ("full", "channelwise"):
            for reality in (False, True):
                plan = nn.tensor_product_plan(spec, L_out=2 * spec.L - 1, degrees="full", channels=channels,
                                              reality=reality, method=method)
                idx = np.concatenate([i.ravel() for i in plan.out_index])
                assert len(np.unique(idx)) == len(idx)


def test_auto_picks_matmul_with_several_fragments_per_degree():
    s2, so3 = nn.SignalSpec.s2(4, 3), nn.SignalSpec.so3(4, 2, 3)
    assert nn.tensor_product_plan(s2, L_out=4, channels="full").method == "matmul"
    assert nn.tensor_product_plan(s2, L_out=4, channels="channelwise").method == "outer"
    assert nn.tensor_product_plan(so3, L_out=4, channels="channelwise").method == "matmul"
    assert nn.tensor_product_plan(nn.SignalSpec.s2(4, 1), L_out=4, channels="full").method == "outer"
    assert nn.TensorProduct(s2, L_out=4, channels="full", method="outer").plan.method == "outer"
    assert "method='matmul'" in repr(nn.tensor_product_plan(s2, L_out=4, channels="full"))
    with pytest.raises(ValueError, match="method must be one of"):
        nn.tensor_product_plan(s2, L_out=4, method="dense")
