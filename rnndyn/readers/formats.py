"""One reader per format, and the one boundary turning deserialiser exceptions into rnndyn errors.

Every ``torch.load`` passes ``map_location="cpu"`` and ``weights_only`` explicitly: an explicit
``weights_only=True`` ignores ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. ``weights_only=False`` (and
``pickle.load``/``torch.jit.load``) run only with ``trust=True``, and only after the safe load
refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnndyn._util.text import printable
from rnndyn.errors import CheckpointError, RefusedError
from rnndyn.readers import pickle_scan

_TRUST_HINT = (
    "Nothing from the file was run. Only if you trust its source, rerun with --trust-pickle "
    "(API: rnndyn.load(path, trust=True)), which loads full pickles and runs any code inside them; "
    "better, re-save the weights with torch.save(model.state_dict(), PATH) or as safetensors."
)
_DANGER_HINT = (
    "Nothing from the file was run. Do not use --trust-pickle (API: trust=True) on it unless you "
    "trust its source completely: that loads full pickles and would run this code."
)
_GLOBAL_IN_TORCH_TEXT = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")

# Metadata objects seen in real checkpoints (Lightning hparams) that rnndyn never needs. Their names
# are mapped to rnndyn's own inert classes for the weights-only load: nothing foreign is imported or
# run, and the stand-ins are dropped with the rest of the non-weight entries.
DICT_STANDINS = frozenset(
    {
        "pytorch_lightning.utilities.parsing.AttributeDict",
        "lightning.pytorch.utilities.parsing.AttributeDict",
        "lightning_fabric.utilities.data.AttributeDict",
        "lightning.fabric.utilities.data.AttributeDict",
    }
)
OBJECT_STANDINS = frozenset(
    {
        "argparse.Namespace",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "omegaconf.dictconfig.DictConfig",
        "omegaconf.listconfig.ListConfig",
        "omegaconf.base.ContainerMetadata",
        "omegaconf.base.Metadata",
        "omegaconf.nodes.AnyNode",
    }
)


class Standin:
    """An inert placeholder for a metadata object: keeps nothing, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "<rnndyn stand-in>"


def read_torch(path: Path, kind: str, *, trust: bool, torchscript: bool = False) -> tuple[Any, str]:
    """Unpickle a torch zip or legacy file. Returns ``(object, format)``.

    ``format`` is ``"torch-zip"``/``"torch-legacy"`` for a weights-only load, ``"pickle-trusted"``
    when the full unpickler (or ``torch.jit.load``) ran because ``trust=True``.
    """
    import torch

    if torchscript:  # check_zip already refused it unless trusted
        with _boundary(path, kind, trusted=True), _quiet(), open(path, "rb") as f:
            return torch.jit.load(f, map_location="cpu"), "pickle-trusted"
    try:
        with _boundary(path, kind), _quiet(), _standins(path, kind), open(path, "rb") as f:
            obj = torch.load(f, map_location="cpu", weights_only=True)
        return obj, "torch-zip" if kind == "zip" else "torch-legacy"
    except RefusedError:
        if not trust:
            raise
    with _boundary(path, kind, trusted=True), _quiet(), open(path, "rb") as f:
        return torch.load(f, map_location="cpu", weights_only=False), "pickle-trusted"


def read_pickle(path: Path, *, trust: bool) -> tuple[Any, str]:
    """A raw Python pickle (not written by torch.save).

    Containers of numpy arrays and scalars are read by numpy_reader's restricted unpickler; anything
    else is never unpickled unless trusted.
    """
    from rnndyn.readers.numpy_reader import NotArrays, has_arrays, read_array_pickle

    try:
        obj = read_array_pickle(path)
    except NotArrays as err:
        if not trust:
            raise _pickle_refusal(path, err.found, err.is_global) from None
    else:
        if has_arrays(obj):
            return obj, "pickle-arrays"
        if not trust:
            raise CheckpointError(
                "it is a raw Python pickle holding no arrays or tensors, not a checkpoint",
                path=path,
                hint="Save the weights with torch.save(model.state_dict(), PATH), np.savez or "
                "as safetensors.",
            )
    with _boundary(path, "pickle", trusted=True), open(path, "rb") as f:
        return pickle.load(f), "pickle-trusted"  # the user vouched for this file


def _pickle_refusal(path: Path, what: str, is_global: bool) -> RefusedError:
    found = pickle_scan.unsafe_globals(pickle_scan.scan_file(path, "pickle"))
    found = [g for g in found if "numpy" not in g and g != "collections.OrderedDict"] or found
    if not is_global or not found:  # an object array or a malformed array, not a foreign global
        return RefusedError(
            f"refused to load: it holds {what}, which only the full unpickler could rebuild",
            path=path,
            hint=_TRUST_HINT,
        )
    return refusal(path, found)


# safetensors dtypes NumPy holds natively (the rest, e.g. BF16 and F8, are read through torch)
_NUMPY_SAFETENSORS = frozenset({"F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "BOOL"})


def read_safetensors(path: Path) -> tuple[dict[str, object], dict[str, object]]:
    """Arrays and the ``rnndyn`` block (a JSON string in ``__metadata__``, if present).

    Through safetensors' NumPy API (no torch) when every dtype is one NumPy holds; files with
    bfloat16/float8 tensors are read as torch tensors."""
    from safetensors import safe_open

    tensors: dict[str, object]
    with _boundary(path, "safetensors"), safe_open(path, framework="np") as f:
        keys = list(f.keys())
        header = f.metadata() or {}
        numpy_ok = all(f.get_slice(k).get_dtype() in _NUMPY_SAFETENSORS for k in keys)
        tensors = {k: f.get_tensor(k) for k in keys} if numpy_ok else {}
    if not numpy_ok:
        with _boundary(path, "safetensors"), safe_open(path, framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in keys}
    meta: dict[str, object] = {}
    with contextlib.suppress(ValueError, TypeError):
        block = json.loads(header.get("rnndyn", "null"))
        if isinstance(block, dict):
            meta = block
    return tensors, meta


def refusal(path: Path, found: list[str]) -> RefusedError:
    """The exit-3 error for a file that references the non-allowlisted globals ``found``."""
    danger = any(pickle_scan.runs_code(g) for g in found)
    return RefusedError(
        f"refused to load: {pickle_scan.describe(found)}",
        path=path,
        hint=_DANGER_HINT if danger else _TRUST_HINT,
    )


def _standins(path: Path, kind: str) -> contextlib.AbstractContextManager:
    """``torch.serialization.safe_globals`` mapping the file's known metadata names to stand-ins."""
    found = pickle_scan.unsafe_globals(pickle_scan.scan_file(path, kind))
    pairs: list[Any] = [(dict, n) for n in found if n in DICT_STANDINS]
    pairs += [(Standin, n) for n in found if n in OBJECT_STANDINS]
    if not pairs:
        return contextlib.nullcontext()
    import torch

    return torch.serialization.safe_globals(pairs)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's load-time warnings (pickle protocol notes, jit deprecation) are noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@contextlib.contextmanager
def _boundary(path: Path, kind: str, *, trusted: bool = False) -> Iterator[None]:
    """Turn the deserialisers' exceptions (EOFError, UnpicklingError, RuntimeError, OSError,
    SafetensorError and anything else) into RefusedError (3) or CheckpointError (4)."""
    try:
        yield
    except (CheckpointError, RefusedError):
        raise
    except Exception as err:
        if trusted and os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0") not in ("", "0"):
            raise RefusedError(
                "the environment variable TORCH_FORCE_WEIGHTS_ONLY_LOAD forbids the full "
                "unpickling that --trust-pickle asked for",
                path=path,
                hint="Unset TORCH_FORCE_WEIGHTS_ONLY_LOAD, or convert the file to a state dict.",
            ) from None
        raise _translate(path, kind, err, trusted) from None


def _translate(path: Path, kind: str, err: Exception, trusted: bool) -> Exception:
    if isinstance(err, MemoryError):
        return CheckpointError("the checkpoint is too large to load into memory", path=path)
    if isinstance(err, pickle.UnpicklingError):
        return _unpickling_error(path, kind, str(err), trusted)
    return _corrupt_error(path, kind, err, trusted)


def _unpickling_error(path: Path, kind: str, text: str, trusted: bool) -> Exception:
    if not trusted:
        found = pickle_scan.unsafe_globals(pickle_scan.scan_file(path, kind))
        found = [g for g in found if g not in DICT_STANDINS | OBJECT_STANDINS] or found
        if not found:
            found = _GLOBAL_IN_TORCH_TEXT.findall(text)
        if found:
            return refusal(path, found)
        if kind != "pickle" and (pickle_scan.data_protocol(path, kind) or 0) >= 4:
            return RefusedError(
                "refused to load: it was saved with pickle protocol 4 or 5, which PyTorch's "
                "weights-only loader cannot read, so only the full unpickler could load it",
                path=path,
                hint="Re-save it with torch.save's default protocol, or, only if you trust its "
                "source, rerun with --trust-pickle (API: rnndyn.load(path, trust=True)).",
            )
    detail = text.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler" in text else text
    if "weights_only" in detail or "Weights only load failed" in detail:
        detail = ""  # torch's advice to pass weights_only=False is not ours to give
    return CheckpointError(
        "the file is corrupt or not a checkpoint: its pickle data cannot be read"
        + (f" ({printable(detail, 100)})" if detail.strip() else ""),
        path=path,
        hint="Save or download the file again.",
    )


def _corrupt_error(path: Path, kind: str, err: Exception, trusted: bool) -> Exception:
    text = str(err)
    if "TorchScript" in text:  # a TorchScript archive that slipped past the zip check
        return RefusedError(
            "refused to load: it is a TorchScript archive, which holds program code",
            path=path,
            hint=_TRUST_HINT,
        )
    if isinstance(err, (ModuleNotFoundError, AttributeError)) and trusted:
        return CheckpointError(
            f"the pickled object needs code that is not importable here ({printable(text, 100)})",
            path=path,
            hint="Run where the model's code is importable, or re-save it as a state dict.",
        )
    what = {
        "zip": "PyTorch zip checkpoint",
        "torch-legacy": "legacy PyTorch checkpoint",
        "safetensors": "safetensors file",
    }.get(kind, "checkpoint")
    reason = "it ends unexpectedly" if isinstance(err, EOFError) else printable(text, 120)
    return CheckpointError(
        f"the {what} is truncated or corrupt ({reason or type(err).__name__})",
        path=path,
        hint="Save or download the file again.",
    )
