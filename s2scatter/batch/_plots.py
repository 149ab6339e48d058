"""Mollweide PNGs of each input and of chosen feature paths, next to the store."""

from __future__ import annotations

import os

import numpy as np

from ._lock import Workspace
from ._store import _replace_dir

_MAX_INPUT_PLOTS = 8


def _write_plots(directory, name, result, job, workspace: Workspace):
    """Mollweide PNGs of the input channels and of chosen feature paths (channel 0).

    Written into a temporary directory in the workspace and renamed to
    ``directory/name`` (replacing an older one) when all are written.
    """
    from matplotlib.figure import Figure

    from .._files import save_figure
    from ..plotting import plot_mollweide

    attrs = result["attrs"]
    with workspace.temp(name) as tmp:
        os.makedirs(tmp)
        src = os.path.basename(attrs["source"])
        inp = attrs["input"]
        for c, ch in enumerate(attrs["channels"][:_MAX_INPUT_PLOTS]):
            plot_mollweide(result["input"][c], inp["L"], sampling=inp["sampling"], nside=inp["nside"],
                           title=f"{src} [{ch}], L = {inp['L']}",
                           path=os.path.join(tmp, f"input_c{c}.png"))
        paths = attrs["paths"]
        wanted = job.plot_paths if job.plot_paths is not None else tuple(range(min(4, len(paths))))
        o = attrs["output"]
        for p in (p for p in wanted if p < len(paths)):
            label = f"path {p}: scales {tuple(paths[p]['scales'])}"
            fname = os.path.join(tmp, f"features_c0_p{p:03d}.png")
            if o["kind"] == "maps":
                plot_mollweide(result["arrays"]["maps"][0, p], o["L_scal"], sampling=o["sampling"],
                               nside=o["nside"], title=f"{src} [{attrs['channels'][0]}] {label}", path=fname)
            else:
                power = result["arrays"]["power"][0, p]
                ell = np.arange(power.size)
                shown = power > 0
                ax = Figure(figsize=(6.0, 4.0), layout="constrained").add_subplot()
                ax.semilogy(ell[shown], power[shown], marker=".")
                ax.set_xlabel(r"$\ell$")
                ax.set_ylabel("power per degree")
                ax.set_title(f"{src} [{attrs['channels'][0]}] {label}\nmean = "
                             f"{result['arrays']['mean'][0, p]:.4g}")
                ax.grid(True, which="both", alpha=0.3)
                save_figure(ax.figure, fname)
        _replace_dir(tmp, os.path.join(directory, name), workspace)
