"""Everything that touches files: checkpoint readers, key normalisation, atomic output writers."""

from rnndyn.io.checkpoint import Checkpoint, load

__all__ = ["Checkpoint", "load"]
