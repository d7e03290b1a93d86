"""The library's version (recorded in every run's ``metrics.json`` and export manifest)."""

__version__ = "0.1.0"
