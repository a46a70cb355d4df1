"""Modes from data: dynamic mode decomposition of hidden states, matched to the Jacobian spectra.

- ``fit``: ``fit_dmd`` → ``DMDFit`` (exact DMD, DMD with control, delay embedding; own numpy code);
- ``match``: ``match_spectra`` → ``SpectrumMatch`` (optimal pairing with a reference spectrum);
- ``run``: ``dmd`` → ``DMDResult`` (a checkpoint on a probe, or recorded states; schema
  ``rnndyn.dmd/1``).
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "dmd": "rnndyn.modes.run",
    "DMDResult": "rnndyn.modes.run",
    "fit_dmd": "rnndyn.modes.fit",
    "DMDFit": "rnndyn.modes.fit",
    "match_spectra": "rnndyn.modes.match",
    "SpectrumMatch": "rnndyn.modes.match",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
