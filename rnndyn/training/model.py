"""SequenceModel: one PyTorch recurrent layer stack (``rnn``) and a linear ``readout``.

Its ``state_dict`` keys are PyTorch's own (``rnn.weight_hh_l0``, ``rnn.bias_ih_l0``, …,
``readout.weight``, ``readout.bias``), so every rnndyn reader recognises the checkpoints it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnndyn.errors import UsageError

ARCHS = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "relu")
READOUTS = ("last", "every")


def check_arch(arch: str, nonlinearity: str = "tanh") -> str:
    """Normalise and validate ``arch`` / ``nonlinearity``; returns the lower-case arch."""
    key = str(arch).strip().lower()
    if key not in ARCHS:
        raise UsageError(f"unknown architecture {arch!r}", hint=f"valid: {', '.join(ARCHS)}.")
    if nonlinearity not in NONLINEARITIES:
        raise UsageError(
            f"unknown nonlinearity {nonlinearity!r}", hint=f"valid: {', '.join(NONLINEARITIES)}."
        )
    if key != "rnn" and nonlinearity != "tanh":
        raise UsageError(
            f"nonlinearity {nonlinearity!r} applies only to arch 'rnn'",
            hint="LSTM and GRU use PyTorch's fixed tanh/sigmoid gates; drop the option.",
        )
    return key


class SequenceModel(nn.Module):
    """``x (N, T, D)`` → logits/predictions ``(N, O)`` (readout ``"last"``) or ``(N, T, O)`` (``"every"``).

    ``rnn`` is ``nn.RNN`` (tanh/relu), ``nn.LSTM`` or ``nn.GRU`` (batch first, zero initial state).
    """

    def __init__(
        self,
        arch: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        readout: str = "last",
    ):
        super().__init__()
        arch = check_arch(arch, nonlinearity)
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            if int(value) < 1:
                raise UsageError(f"{name}={value} must be at least 1")
        if readout not in READOUTS:
            raise UsageError(f"unknown readout {readout!r}", hint=f"valid: {', '.join(READOUTS)}.")
        self.arch, self.readout_mode, self.nonlinearity = arch, readout, nonlinearity
        shape = {"num_layers": num_layers, "batch_first": True}
        if arch == "rnn":
            self.rnn: nn.RNNBase = nn.RNN(
                input_size, hidden_size, nonlinearity=nonlinearity, **shape
            )
        elif arch == "lstm":
            self.rnn = nn.LSTM(input_size, hidden_size, **shape)
        else:
            self.rnn = nn.GRU(input_size, hidden_size, **shape)
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        states, _ = self.rnn(x)  # (N, T, H)
        return self.readout(states[:, -1] if self.readout_mode == "last" else states)

    def describe(self) -> dict[str, str | int]:
        """The architecture fields of a checkpoint's ``rnndyn`` block."""
        return {
            "arch": self.arch,
            "nonlinearity": self.nonlinearity,
            "input_size": self.rnn.input_size,
            "hidden_size": self.rnn.hidden_size,
            "num_layers": self.rnn.num_layers,
            "output_size": self.readout.out_features,
            "readout": self.readout_mode,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> SequenceModel:
        """An untrained model shaped like the ``rnndyn`` block ``meta`` describes."""
        return cls(
            meta["arch"],
            int(meta["input_size"]),
            int(meta["hidden_size"]),
            int(meta["output_size"]),
            num_layers=int(meta.get("num_layers", 1)),
            nonlinearity=meta.get("nonlinearity") or "tanh",
            readout=meta.get("readout", "last"),
        )

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1024) -> Tensor:
        """Outputs for ``x (N, T, D)`` in eval mode, in chunks of ``batch_size`` sequences."""
        was_training = self.training
        self.eval()
        try:
            return torch.cat([self(chunk) for chunk in x.split(batch_size)])
        finally:
            self.train(was_training)
