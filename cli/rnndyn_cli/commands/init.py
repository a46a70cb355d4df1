"""`rnndyn init`: the initializer zoo and the eigen law (list, show, fit, sample)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.render import info, print_json, print_table, warnings_to_stderr

init_app = typer.Typer(
    help="Initializers: the zoo, and the eigen law (fit it to trained networks, sample it).",
    no_args_is_help=True,
)
MAX_N = 8192


def _guard(path: Path, force: bool, ours: Callable[[Path], bool], what: str) -> None:
    """Refuse to replace a file unless ``--force`` and ``ours(path)`` (rnndyn wrote it)."""
    from rnndyn.errors import OutputError

    if path.is_dir():
        raise OutputError("is a folder", path=path, hint=f"Give a file name for the {what}.")
    if not path.exists():
        return
    if not force:
        raise OutputError("already exists", path=path, hint="Pass --force to replace it.")
    if not ours(path):
        raise OutputError(
            f"exists and is not a {what} rnndyn wrote, so it is left alone",
            path=path,
            hint="Choose another output path.",
        )


def _is_law(path: Path) -> bool:
    from rnndyn.errors import InvalidInputError
    from rnndyn.init.law import load_json

    try:
        doc = load_json(path)
    except InvalidInputError:
        return False
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("rnndyn.eigen-init/")


def _is_npy(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


@init_app.command("list")
@boundary
def list_(
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """The initializer zoo: names, what each sets, and its paper."""
    from rnndyn.init import registry

    entries = [registry.get(n) for n in registry.names()]
    if json_:
        print_json({"schema": "rnndyn.init-list/1", "initializers": [e.to_dict() for e in entries]})
        return
    rows = [[e.name, e.summary, e.paper] for e in entries]
    print_table("initializers (rnndyn train --init NAME)", ["id", "summary", "paper"], rows)


def _law_rows(params: Any) -> list[list[Any]]:
    diag = params.diagnostics or {}
    rows = []
    for t, law in params.targets.items():
        d = diag.get(t) or {}
        rr = law.real_radius.family if law.real_radius is not None else "(= radius)"
        rows.append(
            [
                t,
                _describe(law.radius),
                _describe(law.phase),
                law.real_fraction,
                law.positive_fraction,
                rr,
                (d.get("radius") or {}).get("ks_statistic"),
                (d.get("phase") or {}).get("ks_statistic"),
            ]
        )
    return rows


def _describe(dist: Any) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, tuple):
            return "[" + ", ".join(f"{x:.3g}" for x in v[:4]) + (", …]" if len(v) > 4 else "]")
        return f"{v:.4g}"

    return f"{dist.family}(" + ", ".join(f"{k}={fmt(v)}" for k, v in dist.params.items()) + ")"


_COLUMNS = [
    "target",
    "radius",
    "phase (pairs, θ∈[0,π])",
    "real frac",
    "positive frac",
    "real radius",
    "KS radius",
    "KS phase",
]


@init_app.command("show")
@boundary
def show(
    file: Path = typer.Argument(..., help="Eigen-init parameter file (JSON)."),
    out: Path | None = typer.Option(None, "--out", help="Write the law's table, JSON and figure."),
    json_: bool = typer.Option(False, "--json", help="Print the validated law as JSON."),
    format_: str = typer.Option("pdf,png", "--format", help="Figure formats for --out."),
    force: bool = typer.Option(False, "--force", help="Replace rnndyn's own previous outputs."),
    n: int = typer.Option(512, "--n", help="Size of the sample drawn for the figure."),
) -> None:
    """Validate a law file and describe it (per target: radius, phase, real fraction)."""
    from rnndyn.init.law import EigenInitParams

    params = EigenInitParams.load(file)
    if out is not None:
        _write_show(out, params, file, format_, force, n)
    if json_:
        print_json(params.to_dict())
        return
    print_table(
        f"{file}: eigen law {params.name!r} ({params.description})", _COLUMNS, _law_rows(params)
    )
    prov = params.provenance or {}
    basis = "orthogonal (normal W)" if params.condition == 1 else f"κ(P) = {params.condition:g}"
    info(
        f"basis: {params.basis}, {basis}; fitted from {prov.get('n_checkpoints', 0)} checkpoint(s)"
        + (f", group {prov['group_by']}={prov['group']}" if prov.get("group") else "")
    )
    if out is not None:
        info(f"wrote the law's table, JSON and figure to {out}")


def _write_show(out: Path, params: Any, file: Path, format_: str, force: bool, n: int) -> None:
    import pandas as pd
    import torch

    from rnndyn.init.sample import sample_eigenvalues
    from rnndyn.io.outputs import staged_output
    from rnndyn.plots.init import law_overview
    from rnndyn.plots.style import style_context
    from rnndyn_cli.render import parse_formats

    formats = parse_formats(format_)
    g = torch.Generator().manual_seed(0)
    samples = {
        t: sample_eigenvalues(params, _check_n(n), target=t, generator=g) for t in params.targets
    }
    frame = pd.DataFrame(
        _law_rows(params),
        columns=[
            "target",
            "radius",
            "phase",
            "real_fraction",
            "positive_fraction",
            "real_radius",
            "ks_radius",
            "ks_phase",
        ],
    )
    with staged_output(out, force=force, formats=formats, protect=[file]) as stage:
        stage.write_json("law.json", params.to_dict())
        stage.write_table("law", frame)
        with style_context():
            stage.write_figure("law", law_overview(params, samples))


def _check_n(n: int) -> int:
    from rnndyn.errors import UsageError

    if not 1 <= n <= MAX_N:
        raise UsageError(f"--n {n} must be between 1 and {MAX_N}")
    return n


def _group_path(output: Path, group: str) -> Path:
    """``law.json`` + group ``regression`` → ``law.regression.json``."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", group).strip("_") or "group"
    return output.with_name(f"{output.stem}.{safe}{output.suffix or '.json'}")


@init_app.command("fit")
@boundary
def fit(
    checkpoints: list[Path] = typer.Argument(..., help="Trained checkpoints to fit the law to."),
    output: Path = typer.Option(..., "--output", "-o", help="Law file to write (JSON)."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Fit one law per value of this metadata key (e.g. task_kind): "
        "-o law.json writes law.<group>.json per group.",
    ),
    criterion: str = typer.Option("bic", "--criterion", help="Family choice: bic or aic."),
    biases: bool = typer.Option(False, "--biases", help="Also fit gate-bias rules N(mean, std²)."),
    condition: float = typer.Option(1.0, "--condition", help="κ(P) of the sampled basis."),
    seed: int = typer.Option(0, "--seed", help="Seed for the fitter's EM restarts."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow full pickles."),
    force: bool = typer.Option(False, "--force", help="Replace existing law files rnndyn wrote."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit the eigen law (per gate: radius, phase, real fraction) to trained spectra."""
    from rnndyn.init.fit import EigenInitFitter, fit_groups

    kw = dict(
        criterion=criterion,
        fit_biases=biases,
        condition=condition,
        trust=trust_pickle,
        seed=seed,
        name=output.stem,
    )
    with warnings_to_stderr():
        if by is None:
            fitted = {None: EigenInitFitter(**kw).fit(list(checkpoints))}
        else:
            fitted = fit_groups(list(checkpoints), by, **kw)
    dests = {g: output if g is None else _group_path(output, g) for g in fitted}
    inputs = {p.resolve() for p in checkpoints}
    for dest in dests.values():
        if dest.resolve() in inputs:
            from rnndyn.errors import OutputError

            raise OutputError(
                "is one of the input checkpoints", path=dest, hint="Choose another -o."
            )
        _guard(dest, force, _is_law, "law file")
    for g, f in fitted.items():
        f.params_.save(dests[g])
    if json_:
        print_json(
            {
                "schema": "rnndyn.eigen-init-fit/1",
                "files": [
                    {"group": g, "path": str(dests[g]), "law": f.params_.to_dict()}
                    for g, f in fitted.items()
                ],
            }
        )
        return
    for g, f in fitted.items():
        print_table(
            f"{dests[g]}: eigen law"
            + (f" for {by}={g}" if g else "")
            + f" from {f.n_sources_} checkpoint(s)",
            _COLUMNS,
            _law_rows(f.params_),
        )


@init_app.command("sample")
@boundary
def sample(
    file: Path = typer.Argument(..., help="Eigen-init parameter file (JSON)."),
    n: int = typer.Option(..., "--n", help="Hidden size H of each sampled H×H block."),
    target: str | None = typer.Option(
        None, "--target", help="One target (hh, i, f, g, o, r, z, n)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the torch generator."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write W to this .npy file."),
    force: bool = typer.Option(False, "--force", help="Replace an existing .npy file."),
    json_: bool = typer.Option(False, "--json", help="Print the drawn eigenvalues as JSON."),
) -> None:
    """Sample W = P·B·P⁻¹ from a law (stacked gate blocks when the law is per gate)."""
    import io

    import numpy as np
    import torch

    from rnndyn.init.law import EigenInitParams
    from rnndyn.init.sample import LAYOUTS, sample_matrix
    from rnndyn.io.atomic import atomic_write_bytes
    from rnndyn.io.checkpoint import file_sha256

    params = EigenInitParams.load(file)
    _check_n(n)
    if target is not None:
        params.law_for(target)  # UsageError naming the targets
        targets = (target,)
    else:
        stacked = [gs for gs in LAYOUTS.values() if len(gs) > 1 and set(gs) <= set(params.targets)]
        targets = stacked[0] if stacked else (None,)
    if output is not None:
        _guard(output, force, _is_npy, ".npy file")
    g = torch.Generator().manual_seed(seed)
    drawn = [
        sample_matrix(params, n, target=t, generator=g, return_eigenvalues=True) for t in targets
    ]
    if output is not None:
        buf = io.BytesIO()
        np.save(buf, torch.cat([w for w, _ in drawn]).numpy(), allow_pickle=False)
        atomic_write_bytes(output, buf.getvalue())
    names = [t or next(iter(params.targets)) for t in targets]
    if json_:
        print_json(
            {
                "schema": "rnndyn.eigen-sample/1",
                "law": {"path": str(file), "sha256": file_sha256(file)},
                "n": n,
                "seed": seed,
                "matrix_file": None if output is None else str(output),
                "note": "discrete-time eigenvalues, exactly as drawn (W has them to rounding)",
                "blocks": [
                    {"target": t, "eigenvalues": [[float(z.real), float(z.imag)] for z in lam]}
                    for t, (_, lam) in zip(names, drawn, strict=True)
                ],
            }
        )
        return
    rows = [
        [t, n, float(np.abs(lam).max()), int((lam.imag == 0).sum()), int((np.abs(lam) > 1).sum())]
        for t, (_, lam) in zip(names, drawn, strict=True)
    ]
    print_table(
        f"{file}: sampled blocks (seed {seed}; discrete-time eigenvalues)",
        ["target", "n", "ρ (max|λ|)", "#real", "#|λ|>1"],
        rows,
    )
    if output is not None:
        info(f"wrote W {tuple(int(s) for s in (n * len(targets), n))} to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(init_app, name="init")
