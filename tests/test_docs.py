"""The documentation site: ``mkdocs build --strict`` passes and shows every public name.

Needs the ``docs`` extra (``pip install ".[docs]"``; CI installs it, see ``.ci/run``).
Without MkDocs the build tests are skipped and say so.
"""

import importlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# public modules: the top level, every subpackage it lists in __all__, and the modules
# outside the layers; each has an API page docs/api/<last name>.md
EXTRA_PUBLIC = ("s2scatter.batch", "s2scatter.plotting", "s2scatter.cli")


def public_modules():
    """``s2scatter``, the modules named in ``s2scatter.__all__`` and ``EXTRA_PUBLIC``."""
    import inspect

    import s2scatter

    names = ["s2scatter"]
    names += [f"s2scatter.{n}" for n in s2scatter.__all__ if inspect.ismodule(getattr(s2scatter, n))]
    return names + [m for m in EXTRA_PUBLIC if m not in names]


API_PAGES = {m: m.rsplit(".", 1)[-1] for m in public_modules()}


def _require_mkdocs():
    for mod in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(mod, reason=f"{mod} is not installed: pip install '.[docs]' to build the site")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once into a temporary directory (~20 s)."""
    _require_mkdocs()
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_mkdocs_build_strict(site):
    """The strict build passes (any warning fails it: broken links, bad docstrings, missing
    pages) and writes a page for every entry of the navigation."""
    assert (site / "index.html").is_file()
    for page in API_PAGES.values():
        assert (site / "api" / f"{page}.html").is_file(), page


def test_every_public_name_is_in_the_api_reference(site):
    """Every name in every public module's ``__all__`` has an entry on its module's page
    (the submodules listed by ``s2scatter.__all__`` have pages of their own)."""
    missing = []
    for module, page in API_PAGES.items():
        html = (site / "api" / f"{page}.html").read_text(encoding="utf-8")
        ids = set(re.findall(r'id="%s\.([A-Za-z_0-9]+)"' % re.escape(module), html))
        for name in importlib.import_module(module).__all__:
            if f"s2scatter.{name}" in API_PAGES:
                continue
            if name not in ids:
                missing.append(f"{module}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def test_every_image_in_the_pages_is_in_the_site(site):
    """Figures referenced by a page (tutorials, conventions) were built into the site."""
    refs = []
    for md in (ROOT / "docs").rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", md.read_text(encoding="utf-8")):
            refs.append((md, target))
    for md, target in refs:
        built = (site / md.relative_to(ROOT / "docs")).parent / target
        assert built.resolve().is_file(), f"{md.name}: {target} not in the built site"


def test_every_public_module_has_an_api_page():
    """A new public module (a subpackage added to ``s2scatter.__all__``) needs its page:
    ``docs/api/<name>.md`` with ``::: s2scatter.<name>``, listed in mkdocs.yml's nav."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for module, page in API_PAGES.items():
        path = ROOT / "docs" / "api" / f"{page}.md"
        assert path.is_file(), f"{module}: add {path.relative_to(ROOT)} (see docs/api/io.md)"
        assert f"::: {module}\n" in path.read_text(encoding="utf-8"), f"{path.name} must render {module}"
        assert f"api/{page}.md" in nav, f"add api/{page}.md to the nav in mkdocs.yml"


def test_docs_extra_lists_the_build_tools():
    """``pip install ".[docs]"`` brings what mkdocs.yml uses."""
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    for pkg in ("mkdocs", "mkdocs-material", "mkdocstrings", "mkdocstrings-python", "pymdown-extensions"):
        assert f'"{pkg}>=' in setup, pkg
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = 'pip install ".[test,docs]" && python -m pytest -q'
    assert command in ci and command in readme, "CI must run the README's second command verbatim"


def test_docstring_examples_render_as_code():
    """The Griffe extension turns doctest examples under ``Example:`` into fenced code and
    Sphinx roles into code spans (what the API pages show)."""
    pytest.importorskip("griffe", reason="griffe (mkdocstrings-python) is not installed: pip install '.[docs]'")
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from _griffe_doctest import rewrite
    finally:
        sys.path.remove(str(ROOT / "docs"))
    text = "Sum.\n\nSee :func:`~s2scatter.forward`.\n\nExample:\n    >>> 1 + 1\n    2\n\nCost: none.\n"
    assert rewrite(text) == ("Sum.\n\nSee `s2scatter.forward`.\n\nExample:\n\n```pycon\n>>> 1 + 1\n2\n```\n\n"
                             "Cost: none.\n")
