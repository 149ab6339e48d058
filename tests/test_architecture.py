"""The package's import structure: layers import downward, through named interfaces only.

Every module of ``s2scatter`` is read with :mod:`ast` (nothing is imported), and each
``import`` / ``from ... import`` is resolved to the module it names.  A *unit* is a
sub-package (``s2scatter.harmonic``) or a top-level module (``s2scatter.cli``); imports
inside one unit are free.  Across units:

* **no private names**: no private module (``s2scatter.harmonic._ducc``) and no private
  name (``from ..plotting import _save``) of another unit.  The floors above use the
  named interfaces a unit offers: its ``__init__`` and non-underscore modules such as
  :mod:`s2scatter.harmonic.host` (the ducc0 host kernels) and
  :mod:`s2scatter.harmonic.checks` (argument checks).
* **shared utilities**: the top-level private modules in ``SHARED`` hold package-wide
  internals (one table of limits, one version string, ...); any unit may import them,
  each for the reason given there.  The package's own ``__init__`` may import any
  top-level private module (it re-exports them).
* **no ``jax._src``**: only JAX's public API (STYLE.md, habit 15), with no exception.
* **downward only**: each unit has a rank in ``LAYERS``; a unit imports only units of a
  lower rank (``sampling -> harmonic -> wavelets / io -> scattering -> nn -> batch ->
  training -> cli``).  A new module needs a rank here.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "s2scatter"

# top-level private modules any unit may import, and why
SHARED = {
    "_config": "the one settings surface (s2scatter.config) and cache registry (clear_caches, bounded_cache) "
    "every layer registers its settings and caches with",
    "_limits": "the one process-wide table of resource limits every layer checks before it allocates",
    "_version": "the one source of the version string",
    "_interrupt": "Ctrl-C handling shared by the CLI, the batch driver and training",
    "_files": "atomic writes and file digests: one way to write a file, for every writer",
    "_dtypes": "the one real/complex dtype rule (float32 <-> complex64, else float64 <-> complex128)",
}

# rank of each unit: imports go from a higher rank to a strictly lower one
LAYERS = {
    "_config": 0,
    "_version": 0.5, "_limits": 0.5, "_interrupt": 0.5, "_files": 0.5, "_dtypes": 0.5,  # may use _config
    "sampling": 1,
    "harmonic": 2,
    "wavelets": 3, "io": 3, "wigner": 3, "plotting": 3, "datasets": 3,
    "scattering": 4,
    "nn": 5,
    "_equivariance": 6, "batch": 6,
    "<package>": 7,  # s2scatter/__init__.py: the facade over the layers below it
    "training": 7,
    "cli": 8,
    "__main__": 9,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
            package = parts
        else:
            package = parts[:-1]
        yield path, parts, package


def _unit(parts):
    return parts[1] if len(parts) > 1 else "<package>"


def _imports(path, package):
    """(line, target module parts, imported names) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = node.module.split(".")
            names = [a.name for a in node.names]
            if target == ["s2scatter"]:  # from .. import harmonic: each name is a unit
                for name in names:
                    yield node.lineno, ["s2scatter", name], []
            else:
                yield node.lineno, target, names
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split("."), []


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _scan():
    """(private-name violations, jax._src imports, upward imports, units without a rank)."""
    private, jax_src, upward, unranked = [], [], [], set()
    for path, parts, package in _modules():
        where = f"{'/'.join(parts)}.py"
        unit = _unit(parts)
        if unit not in LAYERS:
            unranked.add(unit)
        for line, target, names in _imports(path, package):
            if target[:2] == ["jax", "_src"]:
                jax_src.append(f"{where}:{line}: {'.'.join(target)}")
            if target[0] != "s2scatter":
                continue
            tunit = _unit(target)
            if tunit == unit:
                continue
            if unit == "<package>" and len(target) == 2:
                pass  # the package's __init__ re-exports its own top-level modules
            elif tunit not in SHARED:
                bad = [p for p in target[1:] if _private(p)] + [n for n in names if _private(n)]
                if bad:
                    private.append(f"{where}:{line}: {'.'.join(target)} ({', '.join(names) or '-'})")
            if unit in LAYERS and tunit in LAYERS and LAYERS[tunit] >= LAYERS[unit]:
                upward.append(f"{where}:{line}: {unit} (rank {LAYERS[unit]}) imports "
                              f"{tunit} (rank {LAYERS[tunit]})")
    return private, jax_src, upward, sorted(unranked)


@pytest.fixture(scope="module")
def scan():
    return _scan()


def test_no_private_import_across_units(scan):
    private = scan[0]
    assert not private, "imports of another unit's private module or name:\n" + "\n".join(private)


def test_no_jax_src(scan):
    """No JAX internals anywhere in the package: they change without notice on upgrades."""
    assert not scan[1], "imports of JAX internals (jax._src):\n" + "\n".join(scan[1])


def test_layers_import_downward(scan):
    assert not scan[3], f"units without a rank in LAYERS: {scan[3]}"
    assert not scan[2], "imports against the layer order:\n" + "\n".join(scan[2])


def test_scan_sees_the_imports():
    """The walker resolves relative imports (a scan that finds nothing proves nothing)."""
    seen = {(_unit(parts), _unit(target)) for path, parts, package in _modules()
            for _, target, _ in _imports(path, package) if target[0] == "s2scatter"}
    assert ("wavelets", "harmonic") in seen and ("scattering", "wavelets") in seen
    assert ("cli", "batch") in seen and ("datasets", "harmonic") in seen


def test_scan_sees_jax_src(tmp_path):
    """Both spellings of a JAX-internals import are caught (the rule above can fail)."""
    src = tmp_path / "m.py"
    src.write_text("from jax._src import xla_bridge\nimport jax._src.lib as lib\n")
    assert [t[:2] for _, t, _ in _imports(src, ["s2scatter"])] == [["jax", "_src"]] * 2
