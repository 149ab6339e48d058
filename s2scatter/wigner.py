"""Wigner transforms on SO(3): ``s2scatter.wigner.forward`` / ``inverse``.

A thin public namespace over :func:`s2scatter.harmonic.wigner_forward` and
:func:`s2scatter.harmonic.wigner_inverse` (the same functions, same layer).
"""

from .harmonic import wigner_forward as forward
from .harmonic import wigner_inverse as inverse

__all__ = ["forward", "inverse"]
