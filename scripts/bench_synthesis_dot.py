"""Paired A/B of the Legendre synthesis contraction of the ``"jax"`` method with its kernel
passed as an argument (eager calls, ``s2scatter.jit``, ``net.apply``): the einsum it used
until stop 20 against ``harmonic._jax._synth_dot`` (the data as the left operand of one
batched ``dot_general``), both compiled in one process, alternating order each of 7
rounds; prints medians (us) and the median per-round ratio.  Figures: docs/performance.md.

Usage: ``python scripts/bench_synthesis_dot.py [--L 64 128 256 512]``
"""
import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from s2scatter.harmonic._jax import _synth_dot  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--L", type=int, nargs="+", default=[64, 128, 256, 512])
for L in ap.parse_args().L:
    T = L // 2  # the northern rings of a symmetric grid
    P = jnp.asarray(np.random.default_rng(0).standard_normal((L, L, T)))  # (m, l, t)
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 2, L, L)))  # (re/im, parity, l, m)
    old = jax.jit(lambda x, P: jnp.einsum("...klm,mlt->...ktm", x, P))
    new = jax.jit(_synth_dot)
    err = float(jnp.max(jnp.abs(old(x, P) - new(x, P))))
    res = {"einsum": [], "dot": []}
    n = max(3, int(3000 / (L / 64) ** 3))
    for r in range(7):
        for k, f in (("einsum", old), ("dot", new))[:: 1 if r % 2 else -1]:
            f(x, P).block_until_ready()
            t0 = time.perf_counter()
            for _ in range(n):
                f(x, P).block_until_ready()
            res[k].append((time.perf_counter() - t0) / n * 1e6)
    ratio = float(np.median(np.array(res["dot"]) / np.array(res["einsum"])))
    print(f"L={L:4d}  einsum {np.median(res['einsum']):9.0f} us  dot {np.median(res['dot']):9.0f} us  "
          f"dot/einsum {ratio:.2f}  max |diff| {err:.1e}", flush=True)
