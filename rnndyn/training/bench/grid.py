"""The bench grid: presets, cells, and the validation that expands arguments into a grid."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from rnndyn.errors import UsageError, did_you_mean

ARCHS = ("rnn", "lstm", "gru")
#: Vanilla RNNs with a fixed unit, whatever the initializer pairs with: compare inits within one
#: nonlinearity (plain ``rnn`` takes the init's own unit: ReLU for irnn / np_rnn, else tanh).
FIXED_UNIT = {"rnn_tanh": "tanh", "rnn_relu": "relu"}
BENCH_ARCHS = (*ARCHS, *FIXED_UNIT)
KINDS = ("regression", "classification")


@dataclass(frozen=True)
class Preset:
    """A named grid with its training sizes; ``None`` settings mean each task's own defaults."""

    name: str
    tasks: tuple[str, ...]
    archs: tuple[str, ...]
    inits: tuple[str, ...]
    seeds: int
    epochs: int | None
    hidden: int | None
    task_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)
    note: str = ""


PRESETS = {
    "quick": Preset(
        "quick",
        tasks=("tomita5", "parity", "adding", "sine"),
        archs=ARCHS,
        inits=("default", "xavier_uniform", "kaiming", "orthogonal", "irnn", "spectral_margin"),
        seeds=3,
        epochs=10,
        hidden=32,
        task_params={"parity": {"T": 20}, "adding": {"T": 30}, "sine": {"T": 40}},
        sizes={"n_train": 800, "n_val": 200, "n_test": 400},
        note="216 runs, shortened sequences and data: ≈1.1 CPU-s per run (≈4 CPU-min in all); "
        "measured wall time with --jobs 2 on 2 shared cores in docs/commands/bench.md",
    ),
    "full": Preset(
        "full",
        tasks=(
            *("tomita3", "tomita4", "tomita5", "tomita6", "parity", "digits"),
            *("adding", "copy", "sine", "mackey_glass", "narma10"),
        ),
        archs=ARCHS,
        inits=(
            *("default", "xavier_uniform", "xavier_normal", "kaiming", "orthogonal", "identity"),
            *("irnn", "np_rnn", "chrono", "chain", "fbchain", "lru_ring", "spectral_margin"),
            "glorot_rescaled",
        ),
        seeds=5,
        epochs=None,
        hidden=None,
        note="2255 runs at each task's default sizes: ≈25 CPU-s per run from a 5-run sample, "
        "≈16 CPU-hours in all (≈8 h with --jobs 2 on 2 idle cores, ≈1 h with --jobs 16)",
    ),
    "eigen": Preset(
        "eigen",
        tasks=("tomita3", "tomita4", "tomita5", "parity", "adding", "sine"),
        archs=ARCHS,
        inits=(
            *("default", "xavier_uniform", "kaiming", "orthogonal", "irnn", "np_rnn", "chrono"),
            "lru_ring",
        ),
        seeds=5,
        epochs=15,
        hidden=32,
        task_params={
            "parity": {"T": 20},
            "adding": {"T": 100},
            "sine": {"T": 40},
        },
        sizes={"n_train": 800, "n_val": 200, "n_test": 400},
        note="the eigen-initializer comparison (data/bench/EIGEN_BENCH.md): 690 baseline runs, "
        "+90 with --init-params; ≈2 CPU-s per run (adding at T=100 ≈4)",
    ),
    "eigen3": Preset(
        "eigen3",
        tasks=("adding", "tomita5", "digits_perm"),
        archs=("rnn_tanh", "rnn_relu", "lstm", "gru"),
        inits=(
            *("default", "xavier_uniform", "kaiming", "orthogonal", "irnn", "np_rnn", "chrono"),
            "lru_ring",
        ),
        seeds=5,
        epochs=30,
        hidden=32,
        task_params={"adding": {"T": 100}, "tomita5": {"T": 50}},
        sizes={"n_train": 1197, "n_val": 200, "n_test": 400},  # all 1797 digits
        note="round 3 of the eigen comparison (data/bench/EIGEN_BENCH.md): long-memory tasks "
        "where initializers differ, vanilla RNNs at a fixed unit; 450 baseline runs, "
        "+60 per eigen law; ≈6 CPU-s per run (GRU on adding ≈15)",
    ),
}


@dataclass(frozen=True)
class Cell:
    """One training run of the grid."""

    task: str
    arch: str
    init: str
    seed: int
    kind: str = ""

    @property
    def id(self) -> str:
        return f"{self.task}__{self.arch}__{self.init}__s{self.seed}"


class GridSettings(TypedDict):
    """What every run in one bench folder must share (JSON-ready)."""

    epochs: int | None
    hidden: int | None
    sizes: dict[str, int]
    tasks: dict[str, dict[str, object]]  # task parameters by task name (numbers and strings)
    init_params: dict[str, str]  # sha256 of the eigen law file by task kind


#: A grid's axes: ``task``/``arch``/``init`` names and ``seed`` numbers, each sorted.
GridAxes = dict[str, list[str | int]]


@dataclass(frozen=True)
class Grid:
    """A validated grid: its cells, the cells that make no sense, and the training settings."""

    cells: tuple[Cell, ...]
    not_applicable: tuple[str, ...]
    epochs: int | None
    hidden: int | None
    task_params: Mapping[str, Mapping[str, Any]]
    sizes: Mapping[str, int]
    init_params: Mapping[str, str]
    law_sha256: Mapping[str, str]

    def settings(self) -> GridSettings:
        """What every run in one folder must share (JSON-ready)."""
        return {
            "epochs": self.epochs,
            "hidden": self.hidden,
            "sizes": dict(self.sizes),
            "tasks": {k: dict(v) for k, v in self.task_params.items()},
            "init_params": dict(self.law_sha256),
        }

    def describe(self) -> GridAxes:
        """The grid's axes (JSON-ready)."""
        return {
            axis: sorted({getattr(c, axis) for c in self.cells})
            for axis in ("task", "arch", "init", "seed")
        }


def model_arch(arch: str) -> str:
    """The model behind a bench arch: ``rnn_tanh`` / ``rnn_relu`` are ``rnn``."""
    return "rnn" if arch in FIXED_UNIT else arch


def unit(arch: str, paired: str | None) -> str:
    """The nonlinearity of a bench arch whose initializer pairs with ``paired`` (None: any)."""
    if arch in FIXED_UNIT:
        return FIXED_UNIT[arch]
    return paired if arch == "rnn" and paired else "tanh"


def _choose(kind: str, given: Sequence[str] | None, default: Sequence[str] | None) -> list[str]:
    items = list(dict.fromkeys(str(x).strip() for x in (given or default or ()) if str(x).strip()))
    if not items:
        raise UsageError(f"no {kind} given", hint=f"Pass --{kind} or a --preset.")
    return items


def resolve_grid(
    tasks: Sequence[str] | None,
    archs: Sequence[str] | None,
    inits: Sequence[str] | None,
    seeds: int | Iterable[int] | None,
    *,
    preset: str | None = None,
    epochs: int | None = None,
    hidden: int | None = None,
    init_params: Any = None,
    jobs: int = 1,
) -> Grid:
    """Validate the arguments of ``run_bench`` and expand the grid.

    ``UsageError`` (exit 2) names the valid choices for an unknown task, arch, initializer, preset
    or kind; ``InvalidInputError`` for a missing or unreadable law file. Vanilla-RNN cells of a
    gates-only initializer (``chrono``) are listed in ``not_applicable`` instead of run.
    """
    from rnndyn.init import registry
    from rnndyn.tasks import get_task

    if preset is not None and preset not in PRESETS:
        raise UsageError(
            f"unknown preset {preset!r}{did_you_mean(preset, PRESETS)}",
            hint=f"Choose one of: {', '.join(PRESETS)}.",
        )
    p = PRESETS[preset] if preset else None
    for name, value in (("jobs", jobs), ("epochs", epochs), ("hidden", hidden)):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not (whole and value >= 1):
            raise UsageError(f"{name}={value!r} must be a whole number ≥ 1")
    specs = {
        t: get_task(t, **(p.task_params.get(t, {}) if p else {})).spec
        for t in _choose("tasks", tasks, p.tasks if p else None)
    }
    archs = [a.lower() for a in _choose("archs", archs, p.archs if p else None)]
    if bad := [a for a in archs if a not in BENCH_ARCHS]:
        raise UsageError(f"unknown arch {bad[0]!r}", hint=f"Choose from: {', '.join(BENCH_ARCHS)}.")
    names = [registry.get(i).name for i in _choose("inits", inits, p.inits if p else None)]
    if p is not None and inits is None and init_params is not None and "eigen" not in names:
        names.append("eigen")  # a preset runs the eigen law too when one is given
    given = p.seeds if seeds is None and p else seeds
    _check_size(
        specs,
        archs,
        names,
        given,
        hidden if hidden is not None else (p.hidden if p else None),
        dict(p.sizes) if p else {},
    )
    seed_list = _seeds(given)
    laws = _laws(init_params, "eigen" in names, {s.kind for s in specs.values()})
    cells, na = [], []
    for t, a, i in itertools.product(specs, archs, dict.fromkeys(names)):
        if model_arch(a) == "rnn" and registry.get(i).gated_only:
            na.append(f"{t}__{a}__{i}")
        else:
            cells += [Cell(t, a, i, s, specs[t].kind) for s in seed_list]
    return Grid(
        cells=tuple(cells),
        not_applicable=tuple(na),
        epochs=epochs if epochs is not None else (p.epochs if p else None),
        hidden=hidden if hidden is not None else (p.hidden if p else None),
        task_params={t: dict(s.params) for t, s in specs.items()},
        sizes=dict(p.sizes) if p else {},
        init_params={k: path for k, (path, _) in laws.items()},
        law_sha256={k: sha for k, (_, sha) in laws.items()},
    )


def _check_size(
    specs: Mapping[str, Any],
    archs: Sequence[str],
    inits: Sequence[str],
    seeds: Any,
    hidden: int | None,
    sizes: Mapping[str, int],
) -> None:
    """Refuse (UsageError with the estimate) a grid too large to plan, or a cell too large to
    train, before any list of runs or any network is built."""
    import dataclasses

    from rnndyn._util import budget
    from rnndyn.training.train import check_training, config

    if isinstance(seeds, (int, range)) and not isinstance(seeds, bool):
        n_seeds = seeds if isinstance(seeds, int) else len(seeds)
        n_runs = len(specs) * len(archs) * len(dict.fromkeys(inits)) * max(n_seeds, 0)
        budget.check_runs(n_runs, "the bench grid", hint="Use fewer --seeds, tasks, archs or inits")
    for spec in specs.values():
        spec = dataclasses.replace(spec, defaults={**spec.defaults, **sizes})
        cfg = config(spec, hidden=hidden)
        for arch in dict.fromkeys(model_arch(a) for a in archs):
            check_training(spec, arch, cfg, what="a bench cell training")


def _seeds(seeds: int | Iterable[int] | None) -> list[int]:
    if seeds is None:
        raise UsageError("no seeds given", hint="Pass --seeds N (N ≥ 1) or a --preset.")
    if isinstance(seeds, bool):
        raise UsageError(
            f"seeds={seeds!r} is not a number of seeds", hint="Pass --seeds N (N ≥ 1)."
        )
    if isinstance(seeds, int):
        if seeds < 1:
            raise UsageError(f"seeds={seeds} must be at least 1 (the number of seeds per cell)")
        return list(range(seeds))
    out = list(dict.fromkeys(int(s) for s in seeds))
    if not out or min(out) < 0:
        raise UsageError(f"seeds {out} must be a non-empty list of non-negative integers")
    return out


def _laws(init_params: Any, needed: bool, kinds: set[str]) -> dict[str, tuple[str, str]]:
    """``{kind: (absolute path, sha256)}`` of the eigen law files, each loaded once to check it."""
    if init_params is None:
        if needed:
            raise UsageError(
                "the eigen initializer needs a law file",
                hint="Pass --init-params FILE (or kind=FILE per task kind); fit one with "
                "`rnndyn init fit`.",
            )
        return {}
    if not needed:
        raise UsageError("--init-params is only used by the 'eigen' initializer; add it to --inits")
    if isinstance(init_params, (str, os.PathLike)):
        init_params = dict.fromkeys(KINDS, init_params)
    if bad := sorted(set(init_params) - set(KINDS)):
        raise UsageError(f"unknown task kind {bad[0]!r}", hint=f"Use one of: {', '.join(KINDS)}.")
    if missing := sorted(kinds - set(init_params)):
        raise UsageError(f"no eigen law file for {missing[0]} tasks", hint="Pass kind=FILE.")
    from rnndyn.training.train import load_init_params

    out = {}
    for kind in sorted(kinds):
        path = Path(init_params[kind]).resolve()
        out[kind] = (str(path), load_init_params(path)[1])
    return out
