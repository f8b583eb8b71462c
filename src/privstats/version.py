"""The privstats version, importable from every layer (the hub and nodes report it)."""

__version__ = "0.1.0"
