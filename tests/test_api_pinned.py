"""The public API, pinned: every package's ``__all__`` (and ``dir()``, which lists it once).

A change to the public surface must show up as a diff of ``tests/data/public_api.txt``. After a
deliberate change, regenerate it with ``python tests/test_api_pinned.py`` and commit the diff.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import rnndyn

PINNED = Path(__file__).parent / "data" / "public_api.txt"


def packages() -> list[str]:
    """``rnndyn`` and every public sub-package (names not starting with ``_``)."""
    found = [m.name for m in pkgutil.walk_packages(rnndyn.__path__, "rnndyn.") if m.ispkg]
    return ["rnndyn", *sorted(p for p in found if not any(s.startswith("_") for s in p.split(".")))]


def surface() -> list[str]:
    lines = []
    for name in packages():
        module = importlib.import_module(name)
        lines += [f"{name}.{n}" for n in sorted(module.__all__)]
    return lines


def test_every_package_declares_all_and_dir_lists_it_once():
    for name in packages():
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        names = list(module.__all__)
        assert len(names) == len(set(names)), f"{name}.__all__ lists a name twice"
        public_dir = [n for n in dir(module) if not n.startswith("_")]
        expected = sorted(n for n in set(names) if not n.startswith("_"))
        assert public_dir == expected, f"dir({name}) differs from its __all__"
        for n in names:
            assert getattr(module, n) is not None or n.isupper(), f"{name}.{n} does not resolve"


def test_public_surface_is_pinned():
    current = surface()
    pinned = PINNED.read_text().split()
    added = sorted(set(current) - set(pinned))
    removed = sorted(set(pinned) - set(current))
    assert not added and not removed, (
        f"public API changed: added {added}, removed {removed}; if deliberate, run "
        "`python tests/test_api_pinned.py` and commit tests/data/public_api.txt"
    )


if __name__ == "__main__":  # regenerate the pinned list
    PINNED.write_text("\n".join(surface()) + "\n")
    sys.stdout.write(f"{PINNED}: {len(surface())} public names\n")
