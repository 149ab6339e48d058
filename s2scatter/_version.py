"""Single source of the package version (read by ``setup.py`` without importing)."""

__version__ = "0.1.0.dev0"
"""The package version (the only place it is written; ``setup.py`` reads it)."""
