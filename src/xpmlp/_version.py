"""The version of xpmlp (one place: the package, the command line and pyproject agree)."""

__version__ = "0.3.0"
