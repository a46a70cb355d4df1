"""Imports flow one way: parse every module of rnndyn/ and cli/ (ast, nothing is imported).

The layers, lowest first. A module may import its own package and any lower layer, never a higher
layer or a peer on its own layer:

 0. ``rnndyn._version`` (the version string; nothing imports the package root for it)
 1. ``rnndyn.errors``: the exceptions and their exit codes
 2. ``rnndyn.naming``: the vocabulary (gate lists, operator ids)
 3. ``rnndyn._util``: private helpers (message text, threads, atomic writes, JSON reading)
 3. ``rnndyn.parallel``: the process / Dask runner used by compare, bench and study
 3. ``rnndyn.readers``: reading checkpoints (never writes)
 4. ``rnndyn.tasks``: the bundled tasks (data generators; ``decay --probe task:NAME`` uses them)
 5. ``rnndyn.operators``: recurrent modules and their operators
 6. ``rnndyn.spectrum``: eigendecomposition
 6b. ``rnndyn.arnoldi``: top eigenpairs of a matrix (ARPACK), the kernel of ``topk``
 6c. ``rnndyn.topk``: partial spectra of large operators (Arnoldi), the memory check for full ones
 6d. ``rnndyn._early_start``: ``analyze``'s gate blocks decomposed while torch loads the file
 7. ``rnndyn.dynamics``: running the network, Jacobians, fixed points
 8. ``rnndyn.analysis``: one checkpoint's spectral analysis (optionally fixed-point Jacobians)
 9. ``rnndyn.decay``: predicted vs measured decay, Lyapunov, memory
    ``rnndyn.modes``: DMD of hidden states, matched to the Jacobian spectra
    ``rnndyn.dsa``: DSA-style distances between networks' dynamics (uses ``modes``)
10. ``rnndyn.compare``: populations of networks, statistics
11. ``rnndyn.init``: the eigen initializer (fitted with ``compare``'s per-network spectra)
12. ``rnndyn.outputs``: writing output folders (staging, manifest, tables, figure files)
12. ``rnndyn.training``: models, training, tracking, bench
    ``rnndyn.studies``: labelled experiments (one module each, a frozen settings object), just
    above training (they train networks and compare them)
13. ``rnndyn.plots``: figures of results
14. ``rnndyn.report``: result → output folder (tables, JSON, figures, manifest)
15. ``rnndyn``: the package root's re-exports (matches only exactly, so a new module must be
    given a layer here)
16. ``rnndyn_cli``: the command line, above the library; nothing in rnndyn imports it except
17. ``rnndyn.__main__``: ``python -m rnndyn``, which is the command line.

Also: no import cycle between modules (lazy imports inside functions count; ``if TYPE_CHECKING``
imports do not), and compute never draws: only ``rnndyn.plots``, ``rnndyn.report`` and the figure
saver ``rnndyn.outputs.staging`` may import matplotlib or seaborn, and only ``rnndyn.report`` and the
CLI may import ``rnndyn.plots`` (besides ``rnndyn.plots`` itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: list[tuple[str, ...]] = [
    ("rnndyn._version", "rnndyn._lazy"),
    ("rnndyn.errors",),
    ("rnndyn.naming",),
    ("rnndyn.conditioning", "rnndyn.eigenvalues", "rnndyn.pseudospectra", "rnndyn.workload"),
    ("rnndyn._util",),
    ("rnndyn.parallel",),
    ("rnndyn.readers",),
    ("rnndyn.tasks",),
    ("rnndyn.operators",),
    ("rnndyn.spectrum",),
    ("rnndyn.arnoldi",),
    ("rnndyn.topk",),
    ("rnndyn._early_start",),
    ("rnndyn.dynamics",),
    ("rnndyn.analysis",),
    ("rnndyn.decay",),
    ("rnndyn.modes",),
    ("rnndyn.dsa",),
    ("rnndyn.compare",),
    ("rnndyn.init",),
    ("rnndyn.outputs",),
    ("rnndyn.training",),
    ("rnndyn.studies",),
    ("rnndyn.plots",),
    ("rnndyn.report",),
    ("rnndyn",),
    ("rnndyn_cli",),
    ("rnndyn.__main__",),
]
PLOTTING = ("matplotlib", "seaborn")
EXACT = ("rnndyn", "rnndyn.__main__")  # entries that do not cover sub-modules
MAY_DRAW = ("rnndyn.plots", "rnndyn.report", "rnndyn.outputs.figures")
MAY_USE_PLOTS = ("rnndyn.plots", "rnndyn.report", "rnndyn_cli")
#: Known violations, each with the issue that removes it. Nothing may be added here.
KNOWN: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    """Dotted name → file, for every module of rnndyn/ and cli/rnndyn_cli/."""
    found = {}
    for base, pkg in ((ROOT, "rnndyn"), (ROOT / "cli", "rnndyn_cli")):
        for path in sorted((base / pkg).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, known: dict[str, Path]) -> set[str]:
    """Absolute names imported anywhere in ``tree`` (outside ``if TYPE_CHECKING`` blocks)."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")
                is_pkg = known.get(module, Path()).name == "__init__.py"
                pkg = pkg[: len(pkg) - node.level + (1 if is_pkg else 0)]
                base = ".".join([*pkg, base] if base else pkg)
            for a in node.names:  # ``from rnndyn import naming`` imports the module rnndyn.naming
                sub = f"{base}.{a.name}"
                found.add(sub if sub in known else base)
        stack.extend(ast.iter_child_nodes(node))
    return found


def graph() -> dict[str, set[str]]:
    """Module → the rnndyn/rnndyn_cli modules and third-party top-level names it imports."""
    known = modules()
    edges = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges[name] = _imports(tree, name, known)
    return edges


def owner(name: str) -> tuple[int, str]:
    """(layer index, layer entry) of a module: the longest matching entry wins."""
    best = (-1, "")
    for i, entries in enumerate(LAYERS):
        for e in entries:
            covers = name == e or (e not in EXACT and name.startswith(e + "."))
            if covers and len(e) > len(best[1]):
                best = (i, e)
    return best


def _ours(name: str) -> bool:
    return name == "rnndyn" or name.startswith(("rnndyn.", "rnndyn_cli"))


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    bad = []
    for src, targets in edges.items():
        layer, entry = owner(src)
        for dst in filter(_ours, targets):
            dst_layer, dst_entry = owner(dst)
            if dst_entry == entry:
                continue  # inside its own package
            if dst_layer >= layer and (src, dst) not in KNOWN:
                bad.append((src, dst))
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def edges():
    return graph()


def test_every_module_has_a_layer(edges):
    assert [m for m in edges if owner(m)[0] < 0] == []
    assert len(edges) > 50  # really parsed the tree


def test_no_upward_or_sideways_import(edges):
    bad = upward_imports(edges)
    assert bad == [], "imports against the layer order (see this file's docstring):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in bad
    )


def test_no_import_cycle(edges):
    # rnndyn_cli.app imports each command module, which register back on the app: not a cycle
    # since the commands never import app
    assert cycles(edges) == []


def test_nothing_imports_the_cli(edges):
    users = sorted(
        m
        for m, ts in edges.items()
        if not m.startswith("rnndyn_cli") and any(t.startswith("rnndyn_cli") for t in ts)
    )
    assert users == ["rnndyn.__main__"]


def test_known_exceptions_are_still_needed(edges):
    # an entry of KNOWN that no longer occurs must be deleted, so the list only shrinks
    stale = [k for k in KNOWN if k[1] not in edges.get(k[0], set())]
    assert stale == [], "fixed: delete these entries from KNOWN in tests/test_imports.py"


def test_compute_never_draws(edges):
    bad = sorted(
        (m, t)
        for m, ts in edges.items()
        for t in ts
        if (t.split(".")[0] in PLOTTING and not m.startswith(MAY_DRAW))
        or (t.startswith("rnndyn.plots") and not m.startswith(MAY_USE_PLOTS))
    )
    bad = [b for b in bad if b not in KNOWN]
    assert bad == [], f"compute modules that draw: {bad}"


def test_the_checker_catches_what_it_should():
    """The checker itself: an upward import, a peer import and a cycle are all found."""
    fake = {
        "rnndyn.readers.formats": {"rnndyn.spectrum"},  # upward
        "rnndyn.decay.measure": {"rnndyn.compare.stats", "numpy"},  # upward
        "rnndyn.errors": {"rnndyn.naming"},  # upward, between the base modules
        "rnndyn.spectrum": {"rnndyn.operators"},  # fine
        "rnndyn.init.law": {"rnndyn.init.sample"},
        "rnndyn.init.sample": {"rnndyn.init.law"},  # a cycle inside a package
    }
    assert upward_imports(fake) == [
        ("rnndyn.decay.measure", "rnndyn.compare.stats"),
        ("rnndyn.errors", "rnndyn.naming"),
        ("rnndyn.readers.formats", "rnndyn.spectrum"),
    ]
    assert cycles(fake) == [["rnndyn.init.law", "rnndyn.init.sample"]]
    known = modules()
    tree = ast.parse("from . import manifest\nfrom ..errors import OutputError\nimport numpy\n")
    assert _imports(tree, "rnndyn.outputs.staging", known) == {
        "rnndyn.outputs.manifest",
        "rnndyn.errors",
        "numpy",
    }
    assert owner("rnndyn.not_in_any_layer")[0] == -1
