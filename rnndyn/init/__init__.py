"""Initializers for RNN/LSTM/GRU recurrent weights, in the ``torch.nn.init`` style.

- the zoo: ``orthogonal_``, ``identity_``, ``np_rnn_``, ``chrono_``, ``chain_``, ``lru_ring_``, …:
  one 2-D block (or bias vector) in, filled in place, returned;
- ``apply_(module, name, generator=g, **options)``: every layer, direction and gate block of an
  ``nn.RNN``/``nn.LSTM``/``nn.GRU``;
- ``registry``: names, papers, options (``registry.get(name)``, ``registry.names()``);
- the eigen initializer: ``EigenInitParams`` (the law), ``EigenInitFitter`` (fit it to trained
  spectra), ``eigen_`` (sample it into a weight); ``capped_radius``, ``slow_radius`` and ``map_radii``
  reshape a fitted law's radii (how the shipped law files were made).

Everything is imported on first use, so ``import rnndyn.init`` is cheap.
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

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
    "capped_radius": "rnndyn.init.transforms",
    "slow_radius": "rnndyn.init.transforms",
    "map_radii": "rnndyn.init.transforms",
}
_SUBPACKAGES = ("registry",)
__all__ = [*_EXPORTS, *_SUBPACKAGES]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBPACKAGES)
