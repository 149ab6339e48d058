"""Wigner transforms on SO(3): ``s2scatter.wigner.forward`` / ``inverse``.

A thin public namespace over :mod:`s2scatter.harmonic._wigner` (same layer).
"""

from .harmonic._wigner import forward, inverse

__all__ = ["forward", "inverse"]
