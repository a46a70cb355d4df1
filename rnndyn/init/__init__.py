"""Initializers for RNN/LSTM/GRU recurrent weights, in the ``torch.nn.init`` style.

- the zoo: ``orthogonal_``, ``identity_``, ``np_rnn_``, ``chrono_``, ``chain_``, ``lru_ring_``, …:
  one 2-D block (or bias vector) in, filled in place, returned;
- ``apply_(module, name, generator=g, **options)``: every layer, direction and gate block of an
  ``nn.RNN``/``nn.LSTM``/``nn.GRU``;
- ``registry``: names, papers, options (``registry.get(name)``, ``registry.names()``);
- the eigen initializer: ``EigenInitParams`` (the law), ``EigenInitFitter`` (fit it to trained
  spectra), ``eigen_`` (sample it into a weight).

Everything is imported on first use, so ``import rnndyn.init`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_ZOO = (
    "chain_", "chrono_", "fbchain_", "glorot_rescaled_", "identity_", "kaiming_", "lru_ring_",
    "np_rnn_", "orthogonal_", "spectral_margin_", "xavier_normal_", "xavier_uniform_",
)  # fmt: skip
_EXPORTS = {
    **{name: "rnndyn.init.zoo" for name in _ZOO},
    "apply_": "rnndyn.init.apply",
    "Initializer": "rnndyn.init.registry",
    "eigen_": "rnndyn.init.sample",
    "EigenInitParams": "rnndyn.init.law",
    "EigenInitFitter": "rnndyn.init.fit",
}
_SUBMODULES = (
    "registry", "zoo", "apply", "sample", "law", "fit", "families", "fit_families", "files", "summary",
)  # fmt: skip

__all__ = [*_EXPORTS, "registry"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        try:
            module = importlib.import_module(_EXPORTS[name])
        except ModuleNotFoundError as err:
            if err.name != _EXPORTS[name]:
                raise
            raise AttributeError(
                f"rnndyn.init.{name} is not available: {_EXPORTS[name]} is not installed"
            ) from None
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f"rnndyn.init.{name}")
    raise AttributeError(f"module 'rnndyn.init' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
