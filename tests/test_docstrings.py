"""Every public name is documented, and every docstring example runs.

* ``test_public_name_has_a_docstring``: each name in the ``__all__`` of every public
  module (the modules of the API reference, ``docs/api/``) has a docstring: functions,
  classes (not the signature dataclasses make up) and their public methods and
  properties, modules, and constants (an attribute docstring, the string literal right
  after the assignment, which the API reference shows).
* ``test_doctests``: the examples in the docstrings of every module of the package run
  as doctests (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``; x64 on, as in the whole suite).
  Modules whose doctests already run in another test file are listed in
  ``DOCTESTED_ELSEWHERE`` and skipped here; ``test_doctested_elsewhere_is_true`` checks
  that those files still run them, so no module falls through.
* ``test_doctests_in_pages``: the ``>>>`` examples on the documentation pages run too.
"""

import ast
import doctest
import importlib
import inspect
import pathlib
import pkgutil
import types

import pytest

import s2scatter

ROOT = pathlib.Path(__file__).resolve().parents[1]

# the public modules of the API reference (tests/test_docs.py): s2scatter, the subpackages
# it lists in __all__, batch, plotting and cli
PUBLIC_MODULES = tuple(["s2scatter"] + [f"s2scatter.{n}" for n in s2scatter.__all__
                                        if inspect.ismodule(getattr(s2scatter, n))]
                       + ["s2scatter.batch", "s2scatter.plotting", "s2scatter.cli"])

# module -> the test file whose test_*doctests runs its doctests
DOCTESTED_ELSEWHERE = {
    "s2scatter._equivariance": "test_nn_layers.py",
    "s2scatter._limits": "test_scattering.py",
    "s2scatter.datasets._fields": "test_datasets.py",
    "s2scatter.datasets._idx": "test_datasets.py",
    "s2scatter.datasets._npz": "test_datasets.py",
    "s2scatter.datasets._project": "test_datasets.py",
    "s2scatter.harmonic._rotate": "test_nn_layers.py",
    "s2scatter.io._base": "test_io.py",
    "s2scatter.io._readers": "test_io.py",
    "s2scatter.io._resample": "test_io.py",
    "s2scatter.nn._clebsch_gordan": "test_nn_layers.py",
    "s2scatter.nn._degree_sets": "test_nn_layers.py",
    "s2scatter.nn._functional": "test_nn_layers.py",
    "s2scatter.nn._layers": "test_nn_layers.py",
    "s2scatter.nn._model": "test_nn_layers.py",
    "s2scatter.nn._signal": "test_nn_layers.py",
    "s2scatter.scattering._config": "test_scattering.py",
    "s2scatter.wavelets._filters": "test_wavelets.py",
    "s2scatter.wavelets._kernels": "test_wavelets.py",
    "s2scatter.wavelets._transforms": "test_wavelets.py",
}


def _all_modules():
    names = ["s2scatter"]
    for info in pkgutil.walk_packages(s2scatter.__path__, "s2scatter."):
        if info.name != "s2scatter.__main__":  # importing it runs the command line
            names.append(info.name)
    return sorted(names)


# ----------------------------------------------------------------------------- docstrings
def _module_file(name):
    return pathlib.Path(importlib.import_module(name).__file__)


def _attribute_docstrings(module_name):
    """Top-level names of a module followed by a string literal (attribute docstrings),
    and where each imported name comes from."""
    path = _module_file(module_name)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented, imported = set(), {}
    body = tree.body
    for node, nxt in zip(body, body[1:] + [None]):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            is_doc = (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                      and isinstance(nxt.value.value, str) and nxt.value.value.strip())
            if is_doc:
                documented.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom) and node.level:
            package = module_name if path.name == "__init__.py" else module_name.rsplit(".", 1)[0]
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                imported[alias.asname or alias.name] = (source, alias.name)
    return documented, imported


def _constant_is_documented(module_name, name, depth=0):
    if depth > 5:
        return False
    documented, imported = _attribute_docstrings(module_name)
    if name in documented:
        return True
    if name in imported:
        return _constant_is_documented(*imported[name], depth + 1)
    return False


def _own_doc(obj):
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None  # the signature that dataclasses / NamedTuple write when there is no docstring
    return doc


def _undocumented(module_name):
    module = importlib.import_module(module_name)
    missing = []
    if not (module.__doc__ or "").strip():
        missing.append(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        where = f"{module_name}.{name}"
        if isinstance(obj, types.ModuleType):
            if not (obj.__doc__ or "").strip():
                missing.append(where)
        elif inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj):
            if _own_doc(obj) is None:
                missing.append(where)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, property):
                        target = value.fget
                    elif isinstance(value, (classmethod, staticmethod)):
                        target = value.__func__
                    elif inspect.isfunction(value):
                        target = value
                    else:
                        continue  # fields, class constants
                    if not (getattr(target, "__doc__", None) or "").strip():
                        missing.append(f"{where}.{attr}")
        elif not _constant_is_documented(module_name, name):
            missing.append(f"{where} (constant: add a string literal after its assignment)")
    return missing


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_name_has_a_docstring(module_name):
    missing = _undocumented(module_name)
    assert not missing, f"public names without a docstring: {missing}"


def test_docstring_check_catches_a_missing_docstring(tmp_path, monkeypatch):
    """The check itself: an undocumented function, method and constant are named."""
    (tmp_path / "s2scatter_probe.py").write_text(
        '"""Probe."""\n__all__ = ["f", "C", "K", "D"]\n'
        "def f():\n    pass\n"
        'class C:\n    """A class."""\n    def m(self):\n        pass\n'
        'K = 3\nD = 4\n"""Documented."""\n', encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _undocumented("s2scatter_probe") == [
        "s2scatter_probe.f", "s2scatter_probe.C.m",
        "s2scatter_probe.K (constant: add a string literal after its assignment)"]


# ----------------------------------------------------------------------------- doctests
@pytest.mark.parametrize("module_name", [m for m in _all_modules() if m not in DOCTESTED_ELSEWHERE])
def test_doctests(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"


def test_doctested_elsewhere_is_true():
    """Each module skipped above is named in its test file's doctest test, and exists."""
    modules = set(_all_modules())
    for module_name, test_file in DOCTESTED_ELSEWHERE.items():
        assert module_name in modules, module_name
        text = (ROOT / "tests" / test_file).read_text(encoding="utf-8")
        start = text.find("doctests():")
        assert start >= 0, f"{test_file} has no doctest test"
        body = text[start:start + 1500]
        short = module_name.rsplit(".", 1)[1]
        assert short in body or module_name in body, f"{test_file} no longer doctests {module_name}"


# ----------------------------------------------------------------------------- pages
PAGES_WITH_EXAMPLES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")
                             if ">>> " in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_doctests_in_pages(page):
    """``pycon`` examples (``>>>``) on the documentation pages run too (conventions: the
    Condon-Shortley phase, normalisation, healpy / pyssht conversions)."""
    result = doctest.testfile(str(ROOT / page), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {page}"


def test_conventions_page_has_examples():
    assert "docs/conventions.md" in PAGES_WITH_EXAMPLES
