"""Helpers shared by the tutorial scripts (``scripts/tutorial_*.py``); not part of the package."""

import io
import pathlib


def shrink_pngs(folder):
    """Re-encode every PNG in ``folder`` with a 256-colour palette (about 3x smaller), so the
    figures committed under ``docs/tutorials/figures/`` stay small. Returns the paths."""
    from PIL import Image

    paths = sorted(pathlib.Path(folder).glob("*.png"))
    for path in paths:
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        small.save(buf, format="PNG", optimize=True)
        path.write_bytes(buf.getvalue())
    return paths
