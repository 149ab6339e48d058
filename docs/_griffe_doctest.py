"""Griffe extension for the API reference: docstrings written for ``help()`` and doctest
become Markdown that mkdocstrings renders well.

* a run of doctest lines (``>>>``, ``...`` and their expected output) becomes a fenced
  ``pycon`` block;
* a reST literal-block marker (a line ending in ``::``) ends in a single colon: the
  indented block after it is already a Markdown code block;
* Sphinx roles (``:func:`forward```, ``:class:`~s2scatter.nn.Signal```) become code spans.

Only the rendering changes; the docstrings in the package stay as they are.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const|ref|term):`~?([^`]+)`")


def _fence_doctests(text: str) -> str:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out.append(indent + "```pycon")
            out.extend(block)
            out.append(indent + "```")
            if i < len(lines) and lines[i].strip():
                out.append("")
            continue
        if stripped.endswith("::") and not stripped.startswith(">>>"):
            line = line[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


def rewrite(text: str) -> str:
    """Return ``text`` (a docstring) with doctests fenced and Sphinx roles as code."""
    return _ROLE.sub(r"`\1`", _fence_doctests(text))


def _walk(obj, seen):
    if id(obj) in seen or obj.is_alias:
        return
    seen.add(id(obj))
    if obj.docstring is not None:
        obj.docstring.value = rewrite(obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _walk(member, seen)


class DoctestMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def __init__(self):
        super().__init__()
        self._done = set()

    def _rewrite_package(self, pkg):
        if pkg.path not in self._done:  # once per package, whichever hook griffe calls
            self._done.add(pkg.path)
            _walk(pkg, set())

    def on_package(self, *, pkg, **kwargs):  # griffe >= 2
        self._rewrite_package(pkg)

    def on_package_loaded(self, *, pkg, **kwargs):  # griffe 1.x
        self._rewrite_package(pkg)
