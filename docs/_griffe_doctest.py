"""Griffe extension for the API reference: docstrings written for ``help()`` and doctest
become Markdown that mkdocstrings renders well.

* the indented block under an ``Example:`` line is dedented to the line's level;
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


def _dedent_example_blocks(text: str) -> str:
    """Bring the indented block under an ``Example:`` / ``Examples:`` line back to the line's
    own indentation (Markdown would otherwise show it, fences and all, as literal code)."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() not in ("Example:", "Examples:"):
            continue
        base = len(line) - len(line.lstrip())
        block = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():  # trailing blank lines stay after the block
            block.pop()
            i -= 1
        indents = [len(b) - len(b.lstrip()) for b in block if b.strip()]
        cut = min(indents) - base if indents else 0
        out.extend(b[cut:] if b.strip() else "" for b in block)
    return "\n".join(out)


def rewrite(text: str) -> str:
    """Return ``text`` (a docstring) with doctests fenced and Sphinx roles as code."""
    return _ROLE.sub(r"`\1`", _fence_doctests(_dedent_example_blocks(text)))


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
