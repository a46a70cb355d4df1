"""Train networks and sweep over them: the model, the training loop, the initializer benchmark
(studies built on them live in ``rnndyn.studies``).

- ``model``: ``SequenceModel`` (``nn.RNN``/``LSTM``/``GRU`` + linear readout, PyTorch's keys);
- ``train``: the training loop behind ``rnndyn train`` (and every worker of ``bench``/``study``);
- ``bench/``: the resumable grid runner over tasks × archs × inits × seeds;
- ``track``: one network followed through training (``rnndyn track``).
"""

from __future__ import annotations

from rnndyn._lazy import lazy_exports

_EXPORTS = {
    "SequenceModel": "rnndyn.training.model",
    "TrainResult": "rnndyn.training.train",
    "TrackResult": "rnndyn.training.track",
}
_SUBPACKAGES = ("bench",)
__all__ = [*_EXPORTS, *_SUBPACKAGES]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBPACKAGES)
