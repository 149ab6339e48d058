"""Tests of batch feature extraction (``s2scatter.batch``): store layout, provenance,
atomic writes, resume, failures, and Dask against the serial path.

Inputs are small red-spectrum maps (L = 16, MW) saved as ``.npy`` files and read
back through :func:`s2scatter.io.read_map`, so every test exercises the real
reader, network and writers.
"""

import hashlib
import json
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import s2scatter
from s2scatter import batch
from s2scatter.batch import BatchError, FeatureJob, ReadOptions, compute_features, run_batch, store_info
from s2scatter.io import read_map

L = 16
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READ = ReadOptions(input_sampling="mw")


def _map(seed, L=L):
    flm = s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=np.random.default_rng(seed))
    return np.asarray(s2scatter.inverse(flm, L, reality=True))


@pytest.fixture
def map_file_args(inputs):
    """`s2scatter features` argv for the first input (L = 16, quiet); add `-o OUT` and options."""
    return ["features", inputs[0], "--L", str(L), "--input-sampling", "mw", "--quiet"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three map files: one channel, two channels, one channel."""
    d = tmp_path_factory.mktemp("maps")
    paths = []
    for i, arr in enumerate([_map(0), np.stack([_map(1), _map(2)]), _map(3)]):
        p = d / f"map{i}.npy"
        np.save(p, arr)
        paths.append(str(p))
    return paths


def _job(**kw):
    cfg = dict(L=L, J_min=2, max_order=2, output=kw.pop("output", "maps"))
    return FeatureJob(s2scatter.ScatteringConfig(**cfg), read=READ, **kw)


def _zarr_arrays(out):
    import zarr

    root = zarr.open_group(out, mode="r")
    return {name: {k: a[...] for k, a in g.arrays()} for name, g in root.groups()}


def _files(directory):
    """{relative path: (inode, mtime_ns)} of every file under ``directory``."""
    out = {}
    for base, _, files in os.walk(directory):
        for f in files:
            st = os.stat(os.path.join(base, f))
            out[os.path.relpath(os.path.join(base, f), directory)] = (st.st_ino, st.st_mtime_ns)
    return out


def _no_tmp(directory):
    """No temporary entry left: none in the store, and no workspace next to it."""
    directory = str(directory)
    return (not any(".tmp-" in p for p in _files(directory))
            and not any(e.startswith(".tmp-") for e in os.listdir(directory))
            and not os.path.lexists(batch._lock.workspace_dir(directory)))


# --------------------------------------------------------------------------
# Layout, values, provenance.
# --------------------------------------------------------------------------
def test_zarr_store_layout_values_and_provenance(inputs, tmp_path):
    import zarr

    job = _job()
    out = tmp_path / "features.zarr"
    report = run_batch(inputs, out, job, progress=False)
    assert report.exit_code == 0 and not report.failed
    assert report.done == inputs
    assert report.groups == {p: f"map{i}" for i, p in enumerate(inputs)}

    root = zarr.open_group(out, mode="r")  # the groups are visible without consolidation
    assert sorted(root.group_keys()) == ["map0", "map1", "map2"]
    assert root.attrs["config"]["L"] == L and root.attrs["s2scatter_store"] == batch.STORE_VERSION == 2

    net = s2scatter.Scattering(job.config)
    for i, path in enumerate(inputs):
        g = root[f"map{i}"]
        data = read_map(path, L=L, input_sampling="mw").data
        # The reader resamples through harmonic space (exact to ~1e-15 here) ...
        np.testing.assert_allclose(data.reshape(np.load(path).shape), np.load(path), rtol=0, atol=1e-12)
        # ... and the stored features are the same float64 program as a direct call:
        # identical, not just close.
        np.testing.assert_array_equal(g["maps"][...], np.asarray(net(data)))
        assert g["maps"].shape == (data.shape[0], len(net.paths), 4, 7)  # L_scal = 4 on MW
        assert list(g["path_order"][...]) == [len(p) for p in net.paths]
        assert [tuple(int(j) for j in row if j >= 0) for row in g["path_scales"][...]] == list(net.paths)
        a = g.attrs.asdict()
        assert a["complete"] is True
        assert a["source"] == os.path.abspath(path)
        with open(path, "rb") as fh:
            assert a["sha256"] == hashlib.sha256(fh.read()).hexdigest()
        assert len(a["channels"]) == data.shape[0]
        assert a["output"] == {"kind": "maps", "L_scal": 4, "sampling": "mw", "nside": None,
                               "map_shape": [4, 7]}
        assert a["config"]["L"] == L and a["read"]["input_sampling"] == "mw"
        assert set(a["versions"]) >= {"s2scatter", "jax", "ducc0", "numpy", "healpy", "zarr"}
        assert a["versions"]["s2scatter"] == s2scatter.__version__
        assert isinstance(a["reader_meta"], dict)
        assert [p["scales"] for p in a["paths"]] == [list(p) for p in net.paths]
    assert _no_tmp(out)

    info = store_info(out)
    assert info["format"] == "zarr" and sorted(info["groups"]) == ["map0", "map1", "map2"]
    assert info["groups"]["map1"]["arrays"]["maps"]["shape"] == [2, len(net.paths), 4, 7]


def test_npz_format_and_invariants_match_zarr(inputs, tmp_path):
    job_z = _job(output="invariants")
    job_n = _job(output="invariants", format="npz")
    run_batch(inputs, tmp_path / "z", job_z, progress=False)
    report = run_batch(inputs, tmp_path / "n", job_n, progress=False)
    assert report.exit_code == 0
    assert sorted(os.listdir(tmp_path / "n")) == ["map0.npz", "map1.npz", "map2.npz", "store.json"]
    zarrs = _zarr_arrays(tmp_path / "z")
    for name, arrays in zarrs.items():
        assert set(arrays) == {"mean", "power", "path_order", "path_scales"}
        with np.load(tmp_path / "n" / f"{name}.npz") as z:
            meta = json.loads(str(z["metadata"]))
            assert meta["output"]["kind"] == "invariants" and meta["complete"] is True
            for k, v in arrays.items():
                np.testing.assert_array_equal(z[k], v)
    assert zarrs["map1"]["power"].shape == (2, zarrs["map1"]["mean"].shape[1], 4)
    for i, path in enumerate(inputs):  # and both are the network's output
        direct = _direct(path, job_z)
        for k in ("mean", "power"):
            np.testing.assert_array_equal(zarrs[f"map{i}"][k], direct[k])
    info = store_info(tmp_path / "n")
    assert info["format"] == "npz" and info["groups"]["map0"]["arrays"]["mean"]["shape"][0] == 1


def test_store_opens_as_an_xarray_tree(inputs, tmp_path):
    """Before: `xarray.open_datatree(OUT, engine="zarr")` failed: the arrays had no dimension names."""
    xr = pytest.importorskip("xarray")
    out = tmp_path / "maps.zarr"
    run_batch(inputs, out, _job(), progress=False)
    # The store has no consolidated metadata (it grows while it is written): xarray says so and
    # reads it group by group; consolidated=False skips the attempt.
    with pytest.warns(RuntimeWarning, match="consolidated metadata"):
        tree = xr.open_datatree(out, engine="zarr")
    tree = xr.open_datatree(out, engine="zarr", consolidated=False)
    assert sorted(tree.children) == ["map0", "map1", "map2"]
    assert tree.attrs["config"]["L"] == L
    ds = tree["map1"].to_dataset()
    P = len(s2scatter.Scattering(_job().config).paths)
    assert dict(ds.sizes) == {"channel": 2, "path": P, "theta": 4, "phi": 7, "level": 2}
    assert ds["maps"].dims == ("channel", "path", "theta", "phi")
    assert ds["path_scales"].dims == ("path", "level") and ds["path_order"].dims == ("path",)
    np.testing.assert_array_equal(ds["maps"].values, _direct(inputs[1])["maps"])
    np.testing.assert_array_equal(ds["path_scales"].values[0], [-1, -1])  # no masking of the padding
    assert ds["maps"].attrs["long_name"] == "scattering coefficients" and ds["maps"].attrs["L"] == 4
    assert ds.attrs["source"] == inputs[1] and ds.attrs["complete"] is True

    inv = tmp_path / "inv.zarr"
    run_batch(inputs[:1], inv, _job(output="invariants"), progress=False)
    ds = xr.open_datatree(inv, engine="zarr", consolidated=False)["map0"].to_dataset()
    assert ds["mean"].dims == ("channel", "path") and ds["power"].dims == ("channel", "path", "ell")
    np.testing.assert_array_equal(ds["power"].values, _direct(inputs[0], _job(output="invariants"))["power"])


def test_healpix_store_dimensions(tmp_path):
    xr = pytest.importorskip("xarray")
    nside = 8
    flm = s2scatter.sampling.random_flm(L, reality=True, slope=1.0, rng=np.random.default_rng(0))
    np.save(tmp_path / "sky.npy", np.asarray(s2scatter.inverse(flm, L, sampling="healpix", nside=nside,
                                                                reality=True)))
    job = FeatureJob(s2scatter.ScatteringConfig(L=L, sampling="healpix", nside=nside),
                     read=ReadOptions(input_sampling="healpix", input_nside=nside))
    run_batch([tmp_path / "sky.npy"], tmp_path / "out", job, progress=False)
    ds = xr.open_datatree(tmp_path / "out", engine="zarr", consolidated=False)["sky"].to_dataset()
    assert ds["maps"].dims == ("channel", "path", "pixel")
    assert ds["maps"].attrs["sampling"] == "healpix" and ds.sizes["pixel"] == 12 * ds["maps"].attrs["nside"] ** 2


def test_array_units_follow_the_input():
    """Scattering maps and means are in the input's units, power in their square; unknown: none."""
    attrs = {"output": {"sampling": "mw", "L_scal": 4, "nside": None},
             "reader_meta": {"input": {"units": ["K", "K"]}}}
    assert batch._store._array_attributes("maps", attrs)["units"] == "K"
    assert batch._store._array_attributes("mean", attrs)["units"] == "K"
    assert batch._store._array_attributes("power", attrs)["units"] == "K^2"
    assert "units" not in batch._store._array_attributes("path_order", attrs)
    attrs["reader_meta"]["input"]["units"] = "W m-2"
    assert batch._store._array_attributes("power", attrs)["units"] == "(W m-2)^2"
    attrs["reader_meta"]["input"]["units"] = ["K", "mK"]  # channels disagree: not recorded
    assert "units" not in batch._store._array_attributes("maps", attrs)


def test_features_are_float64_and_the_callers_x64_setting_is_kept():
    """compute_features runs in JAX's 64-bit mode for its own call only (issue 14): a caller
    with x64 off gets the same float64 features, bit for bit, and still has x64 off after."""
    import jax

    data, job = np.stack([_map(0), _map(1)]), _job()
    ref = batch.compute_array_features(data, job, source="x64")  # the suite runs with x64 on
    with jax.enable_x64(False):
        res = batch.compute_array_features(data, job, source="x64")
        assert not jax.config.jax_enable_x64
    assert jax.config.jax_enable_x64
    for key, arr in ref["arrays"].items():
        assert res["arrays"][key].dtype == arr.dtype
        np.testing.assert_array_equal(res["arrays"][key], arr)
    assert ref["arrays"]["maps"].dtype == np.float64


def test_group_names_are_unique_and_safe(tmp_path):
    paths = []
    for sub, name in [("a", "x y.npy"), ("b", "x y.npy"), ("c", ".hidden.npy"), ("d", "zarr.npy"),
                      ("e", "X Y.npy")]:
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / name, _map(0))
        paths.append(str(tmp_path / sub / name))
    report = run_batch(paths + [paths[0]], tmp_path / "out", _job(), progress=False)
    # Names that differ only in case are different names too (case-insensitive file systems).
    assert list(report.groups.values()) == ["x_y", "x_y-2", "hidden", "zarr_", "X_Y-3"]
    assert report.done == paths  # the duplicate is processed once
    assert sorted(store_info(tmp_path / "out")["groups"]) == ["X_Y-3", "hidden", "x_y", "x_y-2", "zarr_"]


# --------------------------------------------------------------------------
# Failures.
# --------------------------------------------------------------------------
def test_bad_inputs_are_reported_and_the_rest_written(inputs, tmp_path):
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY garbage")
    unknown = tmp_path / "notes.xyz"
    unknown.write_text("not a map")
    missing = tmp_path / "missing.npy"
    wrong = tmp_path / "wrong_shape.npy"
    np.save(wrong, np.zeros((5, 7)))
    bad = [str(corrupt), str(unknown), str(missing), str(wrong)]
    report = run_batch([inputs[0], *bad, inputs[2]], tmp_path / "out", _job(), progress=False)
    assert report.done == [inputs[0], inputs[2]]
    assert sorted(report.failed) == sorted(bad)
    for path, message in report.failed.items():
        assert os.path.basename(path) in message  # each message names its file
    assert report.exit_code == 1
    assert sorted(store_info(tmp_path / "out")["groups"]) == ["map0", "map2"]
    np.testing.assert_array_equal(_zarr_arrays(tmp_path / "out")["map2"]["maps"], _direct(inputs[2])["maps"])
    assert _no_tmp(tmp_path / "out")

    only_bad = run_batch(bad, tmp_path / "out2", _job(), progress=False)
    assert only_bad.exit_code == 3 and not only_bad.done
    # Some failed, every other input already complete: something was done (1), not nothing (3).
    again = run_batch([inputs[0], str(corrupt)], tmp_path / "out", _job(), resume=True, progress=False)
    assert again.skipped == [inputs[0]] and list(again.failed) == [str(corrupt)] and not again.done
    assert again.exit_code == 1


@pytest.mark.parametrize("done, skipped, failed, code", [
    ([], [], {}, 0), (["a"], [], {}, 0), ([], ["a"], {}, 0), (["a"], ["b"], {"c": "x"}, 1),
    (["a"], [], {"c": "x"}, 1), ([], ["b"], {"c": "x"}, 1), ([], [], {"c": "x"}, 3)])
def test_exit_code_of_a_report(done, skipped, failed, code):
    report = batch.BatchReport(out="o", format="zarr", done=done, skipped=skipped, failed=failed)
    assert report.exit_code == code


def test_existing_output_needs_resume_or_overwrite(inputs, tmp_path):
    out = tmp_path / "out"
    run_batch(inputs[:1], out, _job(), progress=False)
    with pytest.raises(BatchError, match="already exists.*--resume.*--overwrite"):
        run_batch(inputs, out, _job(), progress=False)
    with pytest.raises(BatchError, match=r"different job \(config.max_order: 2 \(store\) vs 1"):
        run_batch(inputs, out, FeatureJob(s2scatter.ScatteringConfig(L=L, max_order=1), read=READ),
                  resume=True, progress=False)
    with pytest.raises(BatchError, match=r"different job \(read.nan: 'error' \(store\) vs 'zero'\)"):
        run_batch(inputs, out, FeatureJob(_job().config, read=ReadOptions(input_sampling="mw", nan="zero")),
                  resume=True, progress=False)
    with pytest.raises(BatchError, match="format 'zarr'"):
        run_batch(inputs, out, _job(format="npz"), resume=True, progress=False)
    report = run_batch(inputs[1:], out, _job(), overwrite=True, progress=False)
    assert sorted(store_info(out)["groups"]) == ["map1", "map2"]
    assert report.exit_code == 0

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(BatchError, match="not an s2scatter feature store"):
        run_batch(inputs, foreign, _job(), overwrite=True, progress=False)
    assert (foreign / "keep.txt").read_text() == "mine"


def _snapshot(*directories):
    """{path: (kind, size)} of everything under ``directories`` (entries themselves included)."""
    snap = {}
    for d in map(str, directories):
        for base, dirs, files in os.walk(d):
            for n in dirs + files:
                path = os.path.join(base, n)
                snap[path] = ("dir" if os.path.isdir(path) else "file", os.lstat(path).st_size)
    return snap


@pytest.mark.parametrize("mode", [{}, {"resume": True}, {"overwrite": True}])
def test_a_directory_that_is_not_a_store_is_never_touched(inputs, tmp_path, mode):
    """Before: `.tmp-*` entries in it and in `<OUT>_plots` were deleted, then the run refused."""
    out = tmp_path / "mine"
    (out / ".tmp-notes").mkdir(parents=True)
    (out / ".tmp-notes" / "draft.txt").write_text("keep")
    (out / ".tmp-list.txt").write_text("keep")
    (out / "data.csv").write_text("1,2")
    (tmp_path / "mine_plots" / ".tmp-figs").mkdir(parents=True)
    before = _snapshot(tmp_path)
    with pytest.raises(BatchError, match="not an s2scatter feature store; nothing in it was changed"):
        run_batch(inputs, out, _job(plot=True), progress=False, **mode)
    assert _snapshot(tmp_path) == before  # no workspace created next to it either


def test_empty_out_is_refused(inputs, tmp_path, monkeypatch, capsys):
    """`-o ""` meant the current directory."""
    from s2scatter.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(BatchError, match="out must name the store directory, got ''"):
        run_batch(inputs, "", _job(), progress=False)
    assert main(["features", inputs[0], "-o", "", "--L", str(L), "--input-sampling", "mw"]) == 2
    assert "argument -o/--out: expected a directory, got an empty path" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_overwrite_leaves_a_plots_directory_it_did_not_write(inputs, tmp_path):
    """Before: `--overwrite` deleted the user's `<OUT>_plots` although the store had no plots."""
    out = tmp_path / "sky.zarr"
    run_batch(inputs[:1], out, _job(), progress=False)
    mine = tmp_path / "sky_plots"
    mine.mkdir()
    (mine / "figure.png").write_bytes(b"mine")
    (mine / ".tmp-draft").mkdir()  # named like s2scatter's old temporary entries, but not its
    (mine / ".tmp-draft" / "notes.txt").write_text("mine")
    report = run_batch(inputs[1:], out, _job(), overwrite=True, progress=False)
    assert report.exit_code == 0 and sorted(store_info(out)["groups"]) == ["map1", "map2"]
    assert (mine / "figure.png").read_bytes() == b"mine"
    assert (mine / ".tmp-draft" / "notes.txt").read_text() == "mine"
    # A run that would write plots there is refused before it changes anything.
    before = _snapshot(tmp_path)
    for mode in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(BatchError, match="sky_plots' exists and was not written by s2scatter"):
            run_batch(inputs, out, _job(plot=True, plot_paths=(0,)), progress=False, **mode)
    assert _snapshot(tmp_path) == before


def test_overwrite_deletes_only_what_s2scatter_wrote(inputs, tmp_path):
    out = tmp_path / "out"
    job = _job(plot=True, plot_paths=(0,))
    run_batch(inputs[:2], out, job, progress=False)
    pdir = batch.plots_dir(out)
    assert sorted(os.listdir(pdir)) == [".s2scatter-plots", "map0", "map1"]
    (out / "README.txt").write_text("notes")  # someone else's file inside the store
    (out / "my_notes").mkdir()  # and directory: no zarr.json in it, so not a group
    (out / "my_notes" / "a.txt").write_text("notes")
    before = _snapshot(tmp_path)
    with pytest.raises(BatchError, match=r"store .* holds entries s2scatter did not write \(README.txt, "
                                         r"my_notes\); nothing was deleted"):
        run_batch(inputs[2:], out, job, overwrite=True, progress=False)
    assert _snapshot(tmp_path) == before
    os.remove(out / "README.txt")
    shutil.rmtree(out / "my_notes")
    (tmp_path / "out_plots" / "notes.txt").write_text("notes")
    before = _snapshot(tmp_path)
    with pytest.raises(BatchError, match=r"plots directory .* holds entries s2scatter did not write "
                                         r"\(notes.txt\)"):
        run_batch(inputs[2:], out, job, overwrite=True, progress=False)
    assert _snapshot(tmp_path) == before
    os.remove(tmp_path / "out_plots" / "notes.txt")
    # All s2scatter's: the store and its marked plots directory are replaced.
    report = run_batch(inputs[2:], out, job, overwrite=True, progress=False)
    assert report.exit_code == 0 and sorted(store_info(out)["groups"]) == ["map2"]
    assert sorted(os.listdir(pdir)) == [".s2scatter-plots", "map2"]


def test_overwrite_through_a_symbolic_link(inputs, tmp_path):
    """Before: `--overwrite` on a symlinked `-o` crashed in rmtree."""
    real = tmp_path / "real"
    link = tmp_path / "link"
    os.symlink(real, link)
    first = run_batch(inputs[:1], link, _job(), progress=False)
    assert first.out == str(real) and os.path.isfile(real / "zarr.json")
    report = run_batch(inputs[1:], link, _job(), overwrite=True, progress=False)
    assert report.exit_code == 0 and report.out == str(real)
    assert os.path.islink(link) and os.readlink(link) == str(real)
    assert sorted(store_info(link)["groups"]) == ["map1", "map2"]
    assert batch.plots_dir(link) == str(tmp_path / "real_plots")
    assert _no_tmp(real)


# --------------------------------------------------------------------------
# Interruption and resume.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["zarr", "npz"])
def test_interrupted_batch_leaves_finished_outputs_and_resumes(inputs, tmp_path, monkeypatch, fmt):
    out = tmp_path / "out"
    job = _job(format=fmt, plot=(fmt == "zarr"), plot_paths=(0,))
    calls = []
    real_compute = batch.compute_features

    def interrupted_at_second(path, job):
        calls.append(path)
        result = real_compute(path, job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return result

    # Ctrl-C while the second input is being computed.
    real_write = batch._store._write_zarr_group if fmt == "zarr" else batch._store._write_npz
    monkeypatch.setattr(batch._driver, "compute_features", interrupted_at_second)
    with pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, job, progress=False)
    monkeypatch.undo()

    written = ["map0"] if fmt == "zarr" else ["map0.npz"]
    marker = "zarr.json" if fmt == "zarr" else "store.json"
    assert sorted(os.listdir(out)) == sorted(written + [marker])
    assert _no_tmp(out)
    before = _files(out)

    # A kill inside a writer leaves at most a temporary entry in the workspace (outside the
    # store), removed by the next run.
    def killed_writer(out_dir, name, result, workspace):
        real_write(out_dir, name, result, workspace)
        os.makedirs(os.path.join(batch._lock.workspace_dir(out_dir), "999999-dead", name))
        raise KeyboardInterrupt

    monkeypatch.setattr(batch._driver, "_write_zarr_group" if fmt == "zarr" else "_write_npz", killed_writer)
    with pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, job, resume=True, progress=False)
    monkeypatch.undo()
    assert sorted(os.listdir(batch._lock.workspace_dir(str(out)))) == ["999999-dead", "S2SCATTER_WORKSPACE"]

    report = run_batch(inputs, out, job, resume=True, progress=False)
    assert report.skipped == inputs[:2] and report.done == inputs[2:] and not report.failed
    assert _no_tmp(out)
    after = _files(out)
    for rel, stamp in before.items():  # the finished group was not rewritten
        assert after[rel] == stamp, rel
    if fmt == "zarr":
        assert sorted(os.listdir(batch.plots_dir(out))) == [".s2scatter-plots", "map0", "map1", "map2"]
    for i, path in enumerate(inputs):  # finished before, after or across the interrupts: all right
        np.testing.assert_array_equal(_stored(out, f"map{i}", fmt)["maps"], _direct(path)["maps"])

    # Everything complete: a third run writes nothing.
    again = run_batch(inputs, out, job, resume=True, progress=False)
    assert again.skipped == inputs and not again.done
    assert _files(out) == after


def test_resume_recomputes_changed_inputs(tmp_path):
    src = tmp_path / "m.npy"
    np.save(src, _map(5))
    out = tmp_path / "out"
    run_batch([src], out, _job(), progress=False)
    first = _zarr_arrays(out)["m"]["maps"]
    np.save(src, _map(6))
    report = run_batch([src], out, _job(), resume=True, progress=False)
    assert report.done == [str(src)] and report.groups[str(src)] == "m"
    assert not np.array_equal(first, _direct(src)["maps"])
    np.testing.assert_array_equal(_zarr_arrays(out)["m"]["maps"], _direct(src)["maps"])
    assert sorted(os.listdir(out)) == ["m", "zarr.json"]


def _direct(path, job=None):
    """The arrays a store should hold for ``path``: the network called directly on the map."""
    job = job or _job()
    out = s2scatter.Scattering(job.config)(read_map(path, L=L, input_sampling="mw").data)
    return {"maps": np.asarray(out)} if job.config.output == "maps" else {
        k: np.asarray(v) for k, v in out.items()}


def _stored(out, name, fmt):
    if fmt == "zarr":
        return _zarr_arrays(out)[name]
    with np.load(os.path.join(out, f"{name}.npz")) as z:
        return {k: z[k] for k in z.files if k != "metadata"}


def _truncate(path):
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def _rewrite_npz_without_marker(path):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("metadata")))
    del meta["complete"]
    np.savez(path, metadata=np.array(json.dumps(meta)), **arrays)


def _rewrite_zarr_json_without_marker(path):
    with open(path) as fh:
        meta = json.load(fh)
    del meta["attributes"]["complete"]
    with open(path, "w") as fh:
        json.dump(meta, fh)


_DAMAGE = {  # (format, how) -> (damage the group "map1" in store `out`, reason `info` gives)
    ("zarr", "truncated zarr.json"): (lambda out: _truncate(out / "map1" / "zarr.json"),
                                      "unreadable zarr.json (JSONDecodeError"),
    ("zarr", "no completion marker"): (lambda out: _rewrite_zarr_json_without_marker(
        out / "map1" / "zarr.json"), "incomplete (no completion marker)"),
    ("zarr", "array missing"): (lambda out: shutil.rmtree(out / "map1" / "maps"),
                                "array 'maps': missing"),
    ("zarr", "chunk missing"): (lambda out: os.remove(out / "map1" / "maps" / "c" / "1" / "0" / "0" / "0"),
                                "array 'maps': chunk c/1/0/0/0 missing"),
    ("npz", "truncated file"): (lambda out: _truncate(out / "map1.npz"), "unreadable (BadZipFile"),
    ("npz", "no completion marker"): (lambda out: _rewrite_npz_without_marker(out / "map1.npz"),
                                      "incomplete (no completion marker)"),
}


@pytest.mark.parametrize("fmt, how", list(_DAMAGE), ids=[f"{f}-{h}" for f, h in _DAMAGE])
def test_damaged_group_is_named_by_info_and_recomputed_by_resume(inputs, tmp_path, capsys, fmt, how):
    """Before: a truncated .npz crashed `info` and `--resume` (BadZipFile); a truncated zarr.json
    made `info` show one group fewer without a word."""
    from s2scatter.cli import main

    out = tmp_path / "out"
    job = _job(format=fmt)
    run_batch(inputs, out, job, progress=False)
    damage, reason = _DAMAGE[fmt, how]
    damage(out)

    info = store_info(out)
    assert sorted(info["groups"]) == ["map0", "map2"]
    assert list(info["damaged"]) == ["map1"] and info["damaged"]["map1"].startswith(reason)
    assert main(["info", str(out)]) == 1
    captured = capsys.readouterr()
    assert "1 damaged group(s): map1" in captured.err and "Traceback" not in captured.err
    assert f"map1: DAMAGED: {reason}" in captured.out
    assert main(["info", str(out), "--json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert sorted(listed["groups"]) == ["map0", "map2"] and listed["damaged"]["map1"].startswith(reason)

    report = run_batch(inputs, out, job, resume=True, progress=False)
    assert report.done == [inputs[1]] and report.skipped == [inputs[0], inputs[2]]
    assert report.groups[inputs[1]] == "map1" and not report.damaged
    info = store_info(out)
    assert sorted(info["groups"]) == ["map0", "map1", "map2"] and not info["damaged"]
    stored = _stored(out, "map1", fmt)
    np.testing.assert_array_equal(stored["maps"], _direct(inputs[1])["maps"])
    assert _no_tmp(out)


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["zarr", "npz"])
def test_changed_bytes_fail_the_checksum_and_verify_finds_them(inputs, tmp_path, capsys, fmt):
    """Before: a byte flipped inside a Zarr chunk read back as ~1e283 without an error."""
    import zarr

    from s2scatter.cli import main

    out = tmp_path / "out"
    job = _job(format=fmt)
    run_batch(inputs[:2], out, job, progress=False)
    if fmt == "zarr":
        chunk = out / "map1" / "maps" / "c" / "0" / "0" / "0" / "0"
        _flip_byte(chunk)
        with pytest.raises(ValueError, match="checksum"):
            zarr.open_group(out, mode="r")["map1"]["maps"][...]
        reason = "array 'maps': unreadable data (ValueError: Stored and computed checksum do not match"
    else:
        with np.load(out / "map1.npz") as z:  # flip a byte inside the maps member's data
            info = z.zip.getinfo("maps.npy")
        data = bytearray((out / "map1.npz").read_bytes())
        data[info.header_offset + 30 + len(info.filename) + info.file_size // 2] ^= 0x10
        (out / "map1.npz").write_bytes(bytes(data))
        reason = "unreadable (BadZipFile: Bad CRC-32 for file 'maps.npy')"
        # (members smaller than zipfile's read size are checked even without --verify)

    if fmt == "zarr":
        assert main(["info", str(out)]) == 0  # the layout is intact: only reading the data finds it
        capsys.readouterr()
    assert main(["info", str(out), "--verify"]) == 1
    captured = capsys.readouterr()
    assert f"map1: DAMAGED: {reason}" in captured.out and "1 damaged group(s): map1" in captured.err
    assert store_info(out, verify=True)["damaged"]["map1"].startswith(reason)

    if fmt == "zarr":  # a sound layout: without verify, --resume trusts it ...
        assert run_batch(inputs[:2], out, job, resume=True, progress=False).done == []
        # ... and `features --resume --verify` reads the data first and recomputes the group
        assert main(["features", *inputs[:2], "-o", str(out), "--L", str(L), "--input-sampling", "mw",
                     "--quiet", "--resume", "--verify"]) == 0
        assert "1 written, 1 skipped" in capsys.readouterr().out
    else:
        report = run_batch(inputs[:2], out, job, resume=True, verify=True, progress=False)
        assert report.done == [inputs[1]] and report.skipped == [inputs[0]]
    np.testing.assert_array_equal(_stored(out, "map1", fmt)["maps"], _direct(inputs[1])["maps"])
    assert not store_info(out, verify=True)["damaged"]


@pytest.mark.parametrize("fmt", ["zarr", "npz"])
def test_failed_rewrite_keeps_the_previous_group(tmp_path, monkeypatch, fmt):
    """A changed input whose new group fails to write (disk full) leaves the old group as it was."""
    import errno

    import zarr

    src = tmp_path / "m.npy"
    np.save(src, _map(5))
    out = tmp_path / "out"
    job = _job(format=fmt)
    run_batch([src], out, job, progress=False)
    old = _stored(out, "m", fmt)
    np.testing.assert_array_equal(old["maps"], _direct(src)["maps"])
    np.save(src, _map(6))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fmt == "zarr":
        real_create = zarr.Group.create_array

        def create_until_full(self, name, **kwargs):
            if name != "maps":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_create(self, name, **kwargs)

        monkeypatch.setattr(zarr.Group, "create_array", create_until_full)
    else:
        real_savez = np.savez

        def savez_until_full(fh, **arrays):
            real_savez(fh, **arrays)  # the whole file, then the disk fills before it is closed
            disk_full()

        monkeypatch.setattr(np, "savez", savez_until_full)
    report = run_batch([src], out, job, resume=True, progress=False)
    monkeypatch.undo()
    assert report.exit_code == 3 and "No space left on device" in report.failed[str(src)]
    stored = _stored(out, "m", fmt)
    assert stored.keys() == old.keys()
    for k in old:
        np.testing.assert_array_equal(stored[k], old[k])
    assert not store_info(out)["damaged"] and _no_tmp(out)

    report = run_batch([src], out, job, resume=True, progress=False)
    assert report.done == [str(src)]
    np.testing.assert_array_equal(_stored(out, "m", fmt)["maps"], _direct(src)["maps"])


def test_rewrite_deletes_the_old_group_only_once_the_new_one_is_in_place(tmp_path, monkeypatch):
    """A changed input's group is replaced by two renames; the old one is deleted after both."""
    src = tmp_path / "m.npy"
    np.save(src, _map(5))
    out = tmp_path / "out"
    run_batch([src], out, _job(), progress=False)
    old_sha = store_info(out)["groups"]["m"]["sha256"]
    np.save(src, _map(6))
    new_sha = hashlib.sha256(src.read_bytes()).hexdigest()
    real_rmtree = batch._store._rmtree
    deletions = []  # what the store held each time a copy of the old group was deleted

    def watched_rmtree(path):
        meta = os.path.join(path, "zarr.json")
        if os.path.isfile(meta):
            with open(meta) as fh:
                if json.load(fh).get("attributes", {}).get("sha256") == old_sha:
                    deletions.append(store_info(out)["groups"].get("m", {}).get("sha256"))
        real_rmtree(path)

    monkeypatch.setattr(batch._store, "_rmtree", watched_rmtree)
    report = run_batch([src], out, _job(), resume=True, progress=False)
    assert report.done == [str(src)]
    assert deletions == [new_sha]  # deleted once, when the new group was already in the store
    np.testing.assert_array_equal(_zarr_arrays(out)["m"]["maps"], _direct(src)["maps"])
    assert _no_tmp(out)


def test_killed_cli_process_leaves_no_partial_group(tmp_path):
    """SIGKILL a real `s2scatter features` run mid-batch; rerun with --resume."""
    paths = []
    for i in range(12):
        np.save(tmp_path / f"k{i:02d}.npy", _map(i))
        paths.append(str(tmp_path / f"k{i:02d}.npy"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "s2scatter", "features", *paths, "-o", str(out), "--L", str(L),
           "--input-sampling", "mw", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(e.startswith("k") for e in os.listdir(out))):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    import warnings

    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing but groups in the store: no warning either
        listed = dict(zarr.open_group(out, mode="r").groups())
    assert listed and all(g.attrs["complete"] is True for g in listed.values())
    assert sorted(listed) == sorted(e for e in os.listdir(out) if e != "zarr.json")
    done = subprocess.run(cmd + ["--resume"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{12 - len(listed)} written, {len(listed)} skipped" in done.stdout
    assert sorted(os.listdir(out)) == sorted([f"k{i:02d}" for i in range(12)] + ["zarr.json"])
    assert _no_tmp(out)
    np.testing.assert_array_equal(_zarr_arrays(out)["k11"]["maps"], _direct(paths[11])["maps"])


def _interrupt_when(proc, ready, delay=0.0, timeout=120):
    """Send SIGINT to ``proc`` ``delay`` s after ``ready()`` holds; return (exit code, stderr)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _assert_clean_after_interrupt(out):
    """Only finished groups in the store (Zarr lists nothing else, without warnings), no workspace."""
    import warnings

    import zarr

    assert _no_tmp(out)
    if (out / "zarr.json").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            groups = dict(zarr.open_group(out, mode="r").groups())
        assert all(g.attrs["complete"] is True for g in groups.values())
        assert not store_info(out)["damaged"]
    pdir = out.parent / f"{out.name}_plots"
    if pdir.exists():
        assert not [e for e in os.listdir(pdir) if e.startswith(".tmp-")]
        for entry in os.listdir(pdir):  # every plot directory is whole
            if entry != ".s2scatter-plots":
                assert sorted(os.listdir(pdir / entry)) == ["features_c0_p000.png", "input_c0.png"]


def test_sigint_is_recorded_deferred_and_never_lost():
    """The handler `run_batch` and the command line install (real signals, this process)."""
    import gc

    from s2scatter._interrupt import INTERRUPTS

    assert INTERRUPTS.install()
    try:
        steps = []
        with pytest.raises(KeyboardInterrupt):  # a write is not cut: it ends, then the run stops
            with INTERRUPTS.deferred():
                signal.raise_signal(signal.SIGINT)
                steps.append("write finished")
        assert steps == ["write finished"]
        INTERRUPTS.pending = False
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C cuts a computation at once
            with INTERRUPTS.deferred(second_cuts=True):
                signal.raise_signal(signal.SIGINT)
                steps.append("first deferred")
                signal.raise_signal(signal.SIGINT)
                steps.append("not reached")
        assert steps[1:] == ["first deferred"]
        INTERRUPTS.pending = False

        def callback(phase, info):  # like JAX's: the KeyboardInterrupt raised in it is swallowed
            if phase == "start":
                signal.raise_signal(signal.SIGINT)
                steps.append("callback went on")

        gc.callbacks.append(callback)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(callback)
        assert INTERRUPTS.pending  # lost by gc, but recorded ...
        with pytest.raises(KeyboardInterrupt):  # ... and raised at the next check
            INTERRUPTS.check()
    finally:
        INTERRUPTS.uninstall()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_mid_run_stops_cleans_up_and_exits_130(tmp_path):
    """A real SIGINT while groups (and plots) are computed and written. Before: the temporary group
    was left behind in 4 of 6 tries, with a "coroutine was never awaited" warning."""
    src = tmp_path / "m.npy"
    np.save(src, _map(0))
    paths = []
    for i in range(8):
        os.link(src, tmp_path / f"k{i:02d}.npy")
        paths.append(tmp_path / f"k{i:02d}.npy")
    out = tmp_path / "out"
    seen = []
    for extra, delay in ((["--plot", "--plot-paths", "0"], 0.0), (["--resume"], 0.03)):
        before = set(os.listdir(out)) if out.exists() else set()
        proc = subprocess.Popen(_cli(*paths, "-o", out, *extra), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        code, err = _interrupt_when(proc, lambda: out.is_dir() and len(set(os.listdir(out)) - before
                                                                         - {"zarr.json"}) > 0, delay)
        assert code == 130, err
        assert err == (f"s2scatter features: error: interrupted; finished outputs in {out} are kept "
                       "(rerun with --resume to add the rest)\n")  # one line: no warning, no traceback
        _assert_clean_after_interrupt(out)
        seen.append(len(os.listdir(out)) - 1)
    assert 1 <= seen[0] < seen[1] < 8
    report = run_batch([str(p) for p in paths], out, _job(), resume=True, progress=False)
    assert report.exit_code == 0 and len(report.skipped) == seen[1]
    np.testing.assert_array_equal(_zarr_arrays(out)["k07"]["maps"], _direct(src)["maps"])


def test_ctrl_c_in_the_first_moments_is_not_lost(tmp_path):
    """SIGINT while the command starts (imports, JIT). Before: swallowed inside JAX's
    garbage-collection callback, and the batch completed with exit code 0."""
    np.save(tmp_path / "m.npy", _map(0))
    inputs = [tmp_path / "m.npy"]
    for i in range(5):
        os.link(tmp_path / "m.npy", tmp_path / f"m{i}.npy")
        inputs.append(tmp_path / f"m{i}.npy")
    delays = (0.5, 0.9, 1.5, 2.5)
    procs = [subprocess.Popen(_cli(*inputs, "-o", tmp_path / f"out{k}"), cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(len(delays))]
    start = time.time()
    for proc, delay in zip(procs, delays):
        time.sleep(max(0.0, start + delay - time.time()))
        proc.send_signal(signal.SIGINT)
    codes = []
    for k, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        if "Fatal Python error: init_import_site" in err:  # Python's own start-up: not ours to handle
            continue
        # 130 from s2scatter; -SIGINT when the signal came before s2scatter's own code ran. Before:
        # 0 (swallowed, the batch completed), or -11 / -6 (raised inside jaxlib's C++ import code).
        assert proc.returncode in (130, -signal.SIGINT), (delays[k], proc.returncode, out, err)
        assert "written" not in out
        if proc.returncode == 130:
            assert err == "s2scatter: interrupted\n" or err.startswith(
                "s2scatter features: error: interrupted") and err.count("\n") == 1, err
        if (tmp_path / f"out{k}").exists():
            _assert_clean_after_interrupt(tmp_path / f"out{k}")
    assert codes.count(130) >= 2, codes  # the signals did reach s2scatter's start-up


# --------------------------------------------------------------------------
# One writer per store.
# --------------------------------------------------------------------------
def _cli(*args):
    """argv of a real `s2scatter features` process on this checkout (L = 16, MW .npy inputs)."""
    return [sys.executable, "-m", "s2scatter", "features", "--L", str(L), "--input-sampling", "mw",
            "--quiet", *map(str, args)]


def test_second_concurrent_process_is_refused(tmp_path):
    """Two real `s2scatter features` processes on one store: the second exits 3 and changes nothing.

    Before the lock, a concurrent `--resume` exited 0 and its clean-up deleted the first
    run's temporary group, and `--overwrite` emptied the store under the first run.
    """
    src = tmp_path / "m.npy"
    np.save(src, _map(0))
    many = []
    for i in range(200):  # hard links: 200 distinct inputs, one file's worth of disk
        os.link(src, tmp_path / f"a{i:03d}.npy")
        many.append(tmp_path / f"a{i:03d}.npy")
    out = tmp_path / "out"
    log = tmp_path / "first.log"
    with open(log, "w") as fh:
        first = subprocess.Popen(_cli(*many, "-o", out), cwd=REPO_ROOT, stdout=fh, stderr=fh)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out.is_dir() and "a000" in os.listdir(out)):
            time.sleep(0.02)
        assert first.poll() is None, log.read_text()
        seconds = [subprocess.Popen(_cli(*many[:3], "-o", out, *extra), cwd=REPO_ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for extra in (["--resume"], ["--overwrite", "--max-order", "1"])]
        errors = [p.communicate(timeout=120)[1] for p in seconds]
        results = [(p.returncode, err) for p, err in zip(seconds, errors)]
        assert first.poll() is None, "the first run ended before the second one tried the store"
        for code, err in results:
            assert code == 3, err
            assert f"is being written by another s2scatter run (pid {first.pid} on" in err, err
            assert "Traceback" not in err
        written = [e for e in os.listdir(out) if e != "zarr.json"]
        assert "a000" in written  # nothing was deleted under the first run
    finally:
        first.kill()  # kill -9: the kernel releases the lock
        first.wait()
    import zarr

    root = zarr.open_group(out, mode="r")
    assert root.attrs["config"]["max_order"] == 2
    for name, group in root.groups():
        assert group.attrs["complete"] is True and group.attrs["config"]["max_order"] == 2
    # The lock died with the killed writer: a new run takes the store and clears its leftovers.
    report = run_batch([str(p) for p in many[:3]], out, _job(), resume=True, progress=False)
    assert report.exit_code == 0 and len(report.done) + len(report.skipped) == 3
    assert _no_tmp(out)


def test_unmarked_directory_at_the_workspace_path_is_never_emptied(inputs, tmp_path):
    """Someone's `.<OUT>.s2scatter-tmp` without s2scatter's marker: the run is refused, nothing changes."""
    out = tmp_path / "out"
    work = batch._lock.workspace_dir(str(out))
    os.makedirs(os.path.join(work, "sub"))
    with open(os.path.join(work, "sub", "mine.txt"), "w") as fh:
        fh.write("keep")
    before = _snapshot(tmp_path)
    with pytest.raises(BatchError, match="exists but is not an s2scatter workspace"):
        run_batch(inputs[:1], out, _job(), progress=False)
    assert _snapshot(tmp_path) == before  # `out`, created for the lock, removed again


def test_second_writer_in_the_same_process_is_refused(inputs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_compute = batch.compute_features
    seen = []

    def compute_and_intrude(path, job):
        if not seen:
            with pytest.raises(BatchError, match="being written by another s2scatter run"):
                run_batch(inputs, out, job, resume=True, progress=False)
        seen.append(path)
        return real_compute(path, job)

    monkeypatch.setattr(batch._driver, "compute_features", compute_and_intrude)
    report = run_batch(inputs, out, _job(), progress=False)
    assert report.exit_code == 0 and report.done == inputs and seen == inputs
    assert sorted(store_info(out)["groups"]) == ["map0", "map1", "map2"]
    assert _no_tmp(out)


def test_group_is_complete_only_when_its_arrays_are_whole(inputs, tmp_path, monkeypatch):
    """An array lost between writing and marking (e.g. deleted by someone else) fails that input."""
    import zarr

    real_create = zarr.Group.create_array

    def create_then_lose_chunks(self, name, **kwargs):
        arr = real_create(self, name, **kwargs)
        if name == "maps" and "map1" in self.store.root.name:
            shutil.rmtree(os.path.join(str(self.store.root), name, "c"))
        return arr

    monkeypatch.setattr(zarr.Group, "create_array", create_then_lose_chunks)
    report = run_batch(inputs, tmp_path / "out", _job(), progress=False)
    assert report.done == [inputs[0], inputs[2]]
    assert list(report.failed) == [inputs[1]]
    assert ("array 'maps' was not written whole (chunk c/0/0/0/0 missing); the group is not marked "
            "complete") in report.failed[inputs[1]]
    assert sorted(store_info(tmp_path / "out")["groups"]) == ["map0", "map2"]
    assert _no_tmp(tmp_path / "out")


def test_zarr_listing_never_sees_temporary_groups(inputs, tmp_path, monkeypatch):
    """While a group is being written, and after a kill mid-write, Zarr lists only finished groups."""
    import warnings

    import zarr

    out = tmp_path / "out"
    listed = []
    real_check = batch._store._check_zarr_written

    def check_and_list(path, arrays):
        real_check(path, arrays)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a stray entry in the store would warn
            listed.append(sorted(k for k, _ in zarr.open_group(out, mode="r").groups()))

    monkeypatch.setattr(batch._store, "_check_zarr_written", check_and_list)
    run_batch(inputs, out, _job(), progress=False)
    assert listed == [[], ["map0"], ["map0", "map1"]]
    # What a kill -9 in the middle of a write leaves: a partial group in the workspace.
    partial = os.path.join(batch._lock.workspace_dir(str(out)), "999999-dead", "map3")
    zarr.open_group(partial, mode="w").create_array("maps", shape=(1, 2), dtype="f8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(k for k, _ in zarr.open_group(out, mode="r").groups()) == ["map0", "map1", "map2"]


# --------------------------------------------------------------------------
# Dask.
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # Worker processes are spawned with this process's sys.path, so they import this checkout.
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")  # any free port: parallel runs must not collide on 8787
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_matches_serial_bit_for_bit(inputs, tmp_path, dask_client):
    job = _job()
    serial = run_batch(inputs, tmp_path / "serial", job, progress=False)
    parallel = run_batch(inputs, tmp_path / "dask", job, scheduler=dask_client, progress=False)
    assert serial.exit_code == parallel.exit_code == 0
    assert sorted(parallel.done) == sorted(inputs) and parallel.groups == serial.groups
    a, b = _zarr_arrays(tmp_path / "serial"), _zarr_arrays(tmp_path / "dask")
    assert a.keys() == b.keys()
    for name in a:
        for k in a[name]:
            np.testing.assert_array_equal(a[name][k], b[name][k])
    # The workers ran in two other processes, on this checkout's code.
    pids = set(dask_client.run(os.getpid).values())
    assert os.getpid() not in pids and len(pids) == 2
    files = set(dask_client.run(lambda: os.path.abspath(batch.__file__)).values())
    assert files == {os.path.abspath(batch.__file__)}


def test_dask_scheduler_address_connects(inputs, tmp_path, dask_client):
    """The handshake check before `Client(address)` passes on a real scheduler."""
    report = run_batch(inputs[:1], tmp_path / "out", _job(), scheduler=dask_client.scheduler.address,
                       progress=False)
    assert report.exit_code == 0 and report.done == inputs[:1]
    np.testing.assert_array_equal(_zarr_arrays(tmp_path / "out")["map0"]["maps"], _direct(inputs[0])["maps"])


def test_dask_failures_are_reported(inputs, tmp_path, dask_client):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"nope")
    report = run_batch([inputs[0], str(bad)], tmp_path / "out", _job(), scheduler=dask_client,
                       progress=False)
    assert report.done == [inputs[0]] and list(report.failed) == [str(bad)]
    assert "bad.npy" in report.failed[str(bad)] and report.exit_code == 1


def test_bad_scheduler_address(inputs, tmp_path, monkeypatch):
    with pytest.raises(BatchError, match="bad Dask scheduler address 'localhost'"):
        run_batch(inputs, tmp_path / "out", _job(), scheduler="localhost", progress=False)
    monkeypatch.setattr(batch._driver, "_CONNECT_TIMEOUT", 0.5)
    with pytest.raises(BatchError, match="cannot connect to the Dask scheduler 'tcp://127.0.0.1:1'"):
        run_batch(inputs, tmp_path / "out", _job(), scheduler="tcp://127.0.0.1:1", progress=False)
    with pytest.raises(BatchError, match="scheduler must be None, an address"):
        run_batch(inputs, tmp_path / "out", _job(), scheduler=4, progress=False)
    assert not (tmp_path / "out").exists()  # checked before the store is created


@contextlib.contextmanager
def _tcp_server(reply):
    """A plain TCP server on 127.0.0.1 (not Dask): accepts, sends ``reply`` (None: nothing), stays open."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop, conns = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, socket.timeout):
                continue
            conns.append(conn)
            if reply:
                with contextlib.suppress(OSError):
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in conns:
            conn.close()
        server.close()


def _within(seconds, fn, *args):
    """``fn(*args)``, failing the test if it has not returned after ``seconds`` (it used to hang)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=fn(*args)), daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result["value"], time.monotonic() - start


@pytest.mark.parametrize("reply, cause", [
    (None, "no Dask handshake within 1 s (is a Dask scheduler listening there?)"),
    (b"SSH-2.0-OpenSSH_9.6\r\n", "the service there does not speak the Dask protocol (MemoryError: "),
    (bytes.fromhex("0100000000000000ffffffffffffff2f"), "the service there does not speak the Dask "
                                                        "protocol (error: "),
], ids=["silent", "ssh-banner", "short-frame"])
def test_scheduler_that_is_not_dask_is_exit_3_within_the_timeout(map_file_args, tmp_path, monkeypatch,
                                                                  capsys, reply, cause):
    """Before: a silent TCP service hung `features` for 10+ minutes; a talking one gave a 3 EiB
    allocation traceback."""
    from s2scatter.cli import main

    monkeypatch.setattr(batch._driver, "_CONNECT_TIMEOUT", 1.0)
    out = tmp_path / "out"
    with _tcp_server(reply) as address:
        code, seconds = _within(30, main, [*map_file_args, "-o", str(out), "--scheduler", address])
    assert code == 3 and seconds < 1.0 + 5.0
    err = capsys.readouterr().err
    assert err.startswith(f"s2scatter features: error: cannot connect to the Dask scheduler "
                          f"{address!r}: {cause}"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line
    assert not out.exists()


def test_tls_scheduler_without_tls_settings_is_exit_3(map_file_args, tmp_path, capsys):
    """Before: `tls://` without TLS settings gave a TypeError traceback."""
    from s2scatter.cli import main

    assert main([*map_file_args, "-o", str(tmp_path / "out"), "--scheduler", "tls://127.0.0.1:8786"]) == 3
    err = capsys.readouterr().err
    assert err == ("s2scatter features: error: Dask scheduler address 'tls://127.0.0.1:8786' needs TLS "
                   "settings and none are configured (set distributed.comm.tls.ca-file, .client.cert "
                   "and .client.key in the Dask configuration)\n")


def test_output_that_cannot_be_created_is_exit_3(map_file_args, tmp_path, monkeypatch, capsys):
    """Before: an OSError while preparing the store was a traceback with exit code 1."""
    import errno

    from s2scatter.cli import main

    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a directory")
    assert main([*map_file_args, "-o", str(blocker / "out")]) == 3
    err = capsys.readouterr().err
    assert err == (f"s2scatter features: error: cannot prepare the output store {str(blocker / 'out')!r}: "
                   f"File exists: {str(blocker)!r}\n")

    def disk_full(out, job, workspace):
        raise OSError(errno.ENOSPC, "No space left on device", os.path.join(out, "zarr.json"))

    monkeypatch.setattr(batch._store, "_create_store", disk_full)
    out = tmp_path / "out"
    assert main([*map_file_args, "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert err == (f"s2scatter features: error: cannot prepare the output store {str(out)!r}: No space "
                   f"left on device: {str(out / 'zarr.json')!r}\n")
    assert not out.exists() and not os.path.lexists(batch._lock.workspace_dir(str(out)))


def test_max_order_zero_store(inputs, tmp_path):
    """max_order = 0: one path (the low-pass alone), path_scales one column of -1, path_order [0]
    (a chunk of zeros, written like any other: a missing chunk file always means damage)."""
    job = FeatureJob(s2scatter.ScatteringConfig(L=L, J_min=2, max_order=0), read=READ)
    out = tmp_path / "out"
    report = run_batch(inputs[:1], out, job, progress=False)
    assert report.exit_code == 0 and report.done == inputs[:1]
    g = _zarr_arrays(out)["map0"]
    assert g["path_order"].tolist() == [0] and g["path_scales"].tolist() == [[-1]]
    net = s2scatter.Scattering(job.config)
    assert list(net.paths) == [()]
    np.testing.assert_array_equal(g["maps"], np.asarray(net(read_map(inputs[0], L=L, input_sampling="mw").data)))
    assert os.path.isfile(out / "map0" / "path_order" / "c" / "0")
    assert not store_info(out)["damaged"]


# --------------------------------------------------------------------------
# The pure function and the job.
# --------------------------------------------------------------------------
def test_compute_features_and_job_validation(inputs):
    res = compute_features(inputs[1], _job(plot=True))
    assert res["input"].shape == (2, L, 2 * L - 1) and res["arrays"]["maps"].shape[0] == 2
    np.testing.assert_array_equal(res["input"], read_map(inputs[1], L=L, input_sampling="mw").data)
    np.testing.assert_array_equal(res["arrays"]["maps"], _direct(inputs[1])["maps"])
    net = s2scatter.Scattering(_job().config)
    np.testing.assert_array_equal(res["arrays"]["path_order"], [len(p) for p in net.paths])
    assert res["attrs"]["arrays"] == ["maps", "path_order", "path_scales"]
    json.dumps(res["attrs"])  # JSON-able
    assert compute_features(inputs[1], _job())["input"] is None
    job = FeatureJob(s2scatter.ScatteringConfig(L=L), read={"input_sampling": "mw"})
    assert job.read == READ and hash(job)  # frozen, hashable
    with pytest.raises(ValueError, match="format must be one of"):
        _job(format="hdf5")
    with pytest.raises(ValueError, match="config must be a ScatteringConfig"):
        FeatureJob({"L": 16})
    with pytest.raises(TypeError):
        FeatureJob(s2scatter.ScatteringConfig(L=L), read={"bogus": 1})
