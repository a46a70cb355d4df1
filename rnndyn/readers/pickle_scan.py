"""Static listing of the globals a pickle imports: for error messages only, never as a gate.

The security boundary is torch's weights-only unpickler (an allowlist). This scanner only finds
*what* a refused file wanted (``posix.system``, ``torch.nn.modules.rnn.LSTM``) so the refusal
can say so.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, Any

from rnndyn._util.text import printable

MAX_OPS = 2_000_000
MAX_PICKLE_BYTES = 64 << 20

_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}
_CODE_MODULES = (
    "os",
    "posix",
    "nt",
    "sys",
    "subprocess",
    "socket",
    "shutil",
    "importlib",
    "runpy",
    "pickle",
    "_pickle",
    "marshal",
    "ctypes",
    "code",
    "types",
    "pty",
    "webbrowser",
    "torch.jit",
    "torch.hub",
    "torch.ops",
    "torch._ops",
)
_CODE_NAMES = {
    "functools.partial",
    "operator.attrgetter",
    "operator.itemgetter",
    "operator.methodcaller",
    "torch.load",
    "torch.storage._load_from_bytes",
}
_SAFE_BUILTINS = {"builtins." + n for n in ("set", "frozenset", "bytearray", "complex", "slice")}


def scan_stream(f: IO[bytes]) -> list[str]:
    """Globals (``module.name``) referenced by one pickle read from ``f``, in order, unique."""
    import pickletools  # here: files that hold no pickle do not import it (start-up time)

    found: list[str] = []
    strings: list[str] = []
    memo: dict[int, str] = {}
    for i, (op, arg, _pos) in enumerate(pickletools.genops(f)):
        if i >= MAX_OPS:
            break
        name = op.name
        if name in _STRING_OPS:
            strings.append(arg.decode("latin-1") if isinstance(arg, bytes) else str(arg))
        elif name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
            memo[int(arg or 0)] = strings[-1]
        elif name == "MEMOIZE" and strings:
            memo[len(memo)] = strings[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET") and int(arg or 0) in memo:
            strings.append(memo[int(arg or 0)])
        elif name in ("GLOBAL", "INST"):
            found.append(str(arg).replace(" ", "."))
        elif name == "STACK_GLOBAL" and len(strings) >= 2:
            found.append(f"{strings[-2]}.{strings[-1]}")
        if name == "STOP":
            break
    return list(dict.fromkeys(found))


MEMO_BYTES_PER_INDEX = 16  # CPython's C unpickler grows its memo array to twice the highest index


class _Capped:
    """A read-only view of ``f`` whose ``read(n)`` never asks for more than ``left`` bytes (so a
    declared length of 2⁶⁰ is never allocated: ``pickletools`` then reports the shortfall)."""

    def __init__(self, f: IO[bytes], left: int) -> None:
        self.f, self.left = f, left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.f.readline(self.left)
        self.left -= len(data)
        return data


def check_pickle(f: IO[bytes], nbytes: int, path: Path, what: str = "the pickle") -> None:
    """Walk one pickle of ``nbytes`` bytes from ``f`` without building anything and refuse it
    (``CheckpointError``, exit 4) before a real unpickler allocates for it: a memo index beyond
    the pickle's own opcode count (the C unpickler allocates 16 bytes per index value first), a
    length or frame larger than the data, or a memo larger than the memory budget."""
    import pickletools

    from rnndyn._util import budget
    from rnndyn.errors import CheckpointError

    n_ops, top = 0, -1
    try:
        arg: Any
        for op, arg, _ in pickletools.genops(_Capped(f, nbytes)):  # type: ignore[arg-type]
            n_ops += 1
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                top = max(top, int(arg))
            elif op.name == "MEMOIZE":
                top += 1
            elif op.name == "FRAME" and int(arg) > nbytes:
                raise ValueError(f"a frame of {int(arg)} bytes in {nbytes} bytes of data")
            if op.name == "STOP":
                break
    except (ValueError, TypeError, EOFError, OverflowError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{what} is truncated or corrupt ({printable(str(err), 100)})", path=path
        ) from None
    memo = float(MEMO_BYTES_PER_INDEX) * (top + 1)
    if top >= n_ops:
        raise CheckpointError(
            f"{what} stores an object under memo index {top} although it holds only {n_ops} "
            f"opcodes, which no pickler writes; unpickling it would allocate "
            f"{budget.size(memo)} first",
            path=path,
            hint="The file is crafted or damaged; nothing was unpickled.",
        )
    budget.check(memo, f"{what}'s memo (highest index {top})", input_path=path)


def scan_file(path: Path, kind: str) -> list[str]:
    """Globals in a file of ``kind`` (``zip``, ``torch-legacy``, ``pickle``); [] if unreadable."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                entry = next(
                    n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")
                )
                if zf.getinfo(entry).file_size > MAX_PICKLE_BYTES:
                    return []
                with zf.open(entry) as f:
                    return scan_stream(f)
        with open(path, "rb") as f:
            found: list[str] = []
            # legacy torch files are 4 pickles in a row (magic, protocol, sys info, data)
            for _ in range(4 if kind == "torch-legacy" else 1):
                found += scan_stream(f)
            return list(dict.fromkeys(found))
    except Exception:  # a diagnosis tool: a broken pickle simply yields what was found so far
        return []


def data_protocol(path: Path, kind: str) -> int | None:
    """The pickle protocol of a torch file's object pickle (``None`` if unreadable)."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                entry = next(
                    n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")
                )
                head = zf.read(entry)[:2]
        else:
            with open(path, "rb") as f:
                head = f.read(2)
        return head[1] if len(head) == 2 and head[0] == 0x80 else 0
    except Exception:
        return None


def allowed_globals() -> set[str]:
    """Names torch's weights-only unpickler accepts (empty if its private API moved)."""
    try:
        from torch import _weights_only_unpickler as wou

        return set(wou._get_allowed_globals())
    except Exception:
        return set()


def unsafe_globals(found: list[str]) -> list[str]:
    """The subset of ``found`` that the weights-only unpickler would not accept."""
    allowed = allowed_globals()
    ok_prefixes = ("torch._utils._rebuild_", "torch.serialization._get_layout")
    return [g for g in found if g not in allowed and not g.startswith(ok_prefixes)]


def runs_code(name: str) -> bool:
    """True for globals that signal a file that runs code (``posix.system``, ``builtins.eval``)."""
    if name in _CODE_NAMES:
        return True
    if name.startswith("builtins.") or name.startswith("__builtin__."):
        return name.replace("__builtin__.", "builtins.") not in _SAFE_BUILTINS
    return any(name == m or name.startswith(m + ".") for m in _CODE_MODULES)


def describe(found: list[str]) -> str:
    """A clause for the refusal message: what the file references, worst first."""
    found = [printable(g, 80) for g in found]
    code = [g for g in found if runs_code(g)]
    if code:
        return (
            f"it references {code[0]}, which can run commands or code, so loading it would "
            "execute code hidden in the file"
        )
    cls = [g for g in found if g.rsplit(".", 1)[-1][:1].isupper()]
    if cls:
        return (
            f"it holds a pickled {cls[0]} object (a whole object saved with torch.save, not plain "
            "weights), which can only be rebuilt by running code from the file"
        )
    return f"it references {found[0]}, which plain weight loading does not allow"
