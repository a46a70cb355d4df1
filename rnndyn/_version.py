"""The package version, in one place (library modules import it from here, not from the root)."""

__version__ = "0.1.0"
