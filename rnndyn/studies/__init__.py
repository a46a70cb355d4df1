"""Labelled experiments built on the library: each study is one module with a frozen settings
object and one entry point that trains (or reuses) its networks, tests a pre-declared hypothesis
and writes a report.

- ``regression_vs_classification``: do networks trained for regression and for classification
  end with different spectra? (``rnndyn study regression-vs-classification``)
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_SUBPACKAGES = ("regression_vs_classification",)
__all__ = list(_SUBPACKAGES)

__getattr__, __dir__ = lazy_exports(__name__, {}, _SUBPACKAGES)
