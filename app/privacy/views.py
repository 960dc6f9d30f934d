"""HTTP views (thin: parse, authorise, render)."""

from . import bp  # noqa: F401
