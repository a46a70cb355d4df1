"""`rnndyn init`: the initializer zoo and the eigen law (list, show, fit, sample).

A thin layer: file naming, overwrite guards, tables and JSON documents live in
``rnndyn.init.files`` and ``rnndyn.init.summary``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    DEFAULT_FORMATS,
    FORMATS_READ,
    FigureFormats,
    ForceFlag,
    JsonFlag,
    OutFolder,
    Seed,
    StyleSheet,
    TrustPickle,
    finite,
)
from rnndyn_cli.render import check_out, examples, info, print_json, print_table, warnings_to_stderr

init_app = typer.Typer(
    epilog=examples("rnndyn init list", "rnndyn init fit data/examples/*.pt -o law.json"),
    help="Initializers: the zoo, and the eigen law (fit it to trained networks, sample it).",
    no_args_is_help=True,
)


@init_app.command(
    "list",
    epilog=examples(
        "rnndyn init list",
        "rnndyn init list --json",
    ),
)
@boundary
def list_(json_: JsonFlag = False) -> None:
    """The initializer zoo: names, what each sets, and its paper."""
    from rnndyn.init import registry

    entries = [registry.get(n) for n in registry.names()]
    if json_:
        print_json({"schema": "rnndyn.init-list/1", "initializers": [e.to_dict() for e in entries]})
        return
    rows = [[e.name, e.summary, e.paper] for e in entries]
    print_table("initializers (rnndyn train --init NAME)", ["id", "summary", "paper"], rows)


def _print_law(title: str, params: Any) -> None:
    from rnndyn.init.summary import LAW_COLUMNS, law_table

    rows = [list(r.values()) for r in law_table(params)]
    print_table(title, list(LAW_COLUMNS.values()), rows)


@init_app.command(
    "show",
    epilog=examples(
        "rnndyn init fit data/examples/*.pt -o law.json",
        "rnndyn init show law.json",
        "rnndyn init show law.json --n 1024 --out law-figures --format png",
    ),
)
@boundary
def show(
    file: Path = typer.Argument(..., help="Eigen-init parameter file (JSON)."),
    out: OutFolder = None,
    json_: JsonFlag = False,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    n: int = typer.Option(512, "--n", help="Size of the sample drawn for the figure."),
    style: StyleSheet = None,
) -> None:
    """Validate a law file and describe it (per target: radius, phase, real fraction)."""
    from rnndyn.init.law import EigenInitParams

    params = EigenInitParams.load(file)
    if out is not None:
        _write_show(out, params, file, format_, force, n, style=style)
    if json_:
        print_json(params.to_dict())
        return
    _print_law(f"{file}: eigen law {params.name!r} ({params.description})", params)
    prov = params.provenance or {}
    basis = "orthogonal (normal W)" if params.condition == 1 else f"κ(P) = {params.condition:g}"
    info(
        f"basis: {params.basis}, {basis}; fitted from {prov.get('n_checkpoints', 0)} checkpoint(s)"
        + (f", group {prov['group_by']}={prov['group']}" if prov.get("group") else "")
    )
    if out is not None:
        info(f"wrote the law's table, JSON and figure to {out}")


def _write_show(
    out: Path,
    params: Any,
    file: Path,
    format_: str,
    force: bool,
    n: int,
    *,
    style: Path | None = None,
) -> None:
    import pandas as pd

    from rnndyn._util.hashing import file_sha256
    from rnndyn.init.summary import law_table, sample_blocks
    from rnndyn.plots.init import law_overview
    from rnndyn.report import Report, write_report
    from rnndyn_cli.render import parse_formats

    formats = parse_formats(format_)
    check_out(out, force=force, protect=[file])
    samples = {
        t: sample_blocks(params, n, target=t, seed=k)[0].eigenvalues
        for k, t in enumerate(params.targets)
    }
    report = Report(command="init show", inputs=[{"path": str(file), "sha256": file_sha256(file)}])
    report.document("law.json", params.to_dict())
    report.table("law", pd.DataFrame(law_table(params)))
    report.figure("law", lambda: law_overview(params, samples, source=str(file)))
    write_report(report, out, force=force, formats=formats, protect=[file], style=style)


@init_app.command(
    "fit",
    epilog=examples(
        "rnndyn init fit data/examples/*.pt -o law.json",
        "rnndyn init fit data/examples/*.pt --by task_kind --biases -o laws.json --json",
    ),
)
@boundary
def fit(
    checkpoints: list[Path] = typer.Argument(
        ..., help=f"Trained checkpoints to fit the law to. {FORMATS_READ}"
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Law file to write (JSON)."),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Fit one law per value of this metadata key (e.g. task_kind): -o law.json writes "
        "law.<group>.json per group (a group name that is not a plain word gets a short hash).",
    ),
    criterion: str = typer.Option("bic", "--criterion", help="Family choice: bic or aic."),
    biases: bool = typer.Option(False, "--biases", help="Also fit gate-bias rules N(mean, std²)."),
    condition: float = typer.Option(
        1.0, "--condition", help="κ(P) of the sampled basis.", callback=finite
    ),
    seed: Seed = 0,
    trust_pickle: TrustPickle = False,
    force: ForceFlag = False,
    json_: JsonFlag = False,
) -> None:
    """Fit the eigen law (per gate: radius, phase, real fraction) to trained spectra."""
    from rnndyn.init.files import group_paths, write_laws
    from rnndyn.init.fit import EigenInitFitter, fit_groups
    from rnndyn.init.summary import fit_document

    kw: dict[str, Any] = dict(
        criterion=criterion,
        fit_biases=biases,
        condition=condition,
        trust=trust_pickle,
        seed=seed,
        name=output.stem,
    )
    fitted: dict[str | None, Any]
    with warnings_to_stderr():
        if by is None:
            fitted = {None: EigenInitFitter(**kw).fit(list(checkpoints))}
        else:
            groups = fit_groups(list(checkpoints), by, **kw)
            fitted = {g: f for g, f in groups.items()}
    laws = {g: f.params_ for g, f in fitted.items()}
    dests = {None: output} if by is None else group_paths(output, [str(g) for g in laws])
    paths = write_laws(laws, dests, force=force, inputs=checkpoints)
    if json_:
        print_json(fit_document(laws, paths))
        return
    for g, f in fitted.items():
        group = f" for {by}={g}" if g is not None else ""
        _print_law(f"{paths[g]}: eigen law{group} from {f.n_sources_} checkpoint(s)", f.params_)


@init_app.command(
    "sample",
    epilog=examples(
        "rnndyn init fit data/examples/*.pt -o law.json",
        "rnndyn init sample law.json --n 64 --target hh -o W.npy",
        "rnndyn init sample law.json --n 128 --target z --seed 3 --json",
    ),
)
@boundary
def sample(
    file: Path = typer.Argument(..., help="Eigen-init parameter file (JSON)."),
    n: int = typer.Option(..., "--n", help="Hidden size H of each sampled H×H block (≤ 8192)."),
    target: str | None = typer.Option(
        None, "--target", help="One target (hh, i, f, g, o, r, z, n)."
    ),
    seed: Seed = 0,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write W to this .npy file."),
    force: bool = typer.Option(False, "--force", help="Replace a .npy file rnndyn wrote."),
    json_: JsonFlag = False,
) -> None:
    """Sample W = P·B·P⁻¹ from a law (stacked gate blocks when the law is per gate)."""
    import numpy as np

    from rnndyn.init.files import check_destination, is_npy_file, write_matrix
    from rnndyn.init.law import EigenInitParams
    from rnndyn.init.summary import check_size, sample_blocks, sample_document, sample_rows

    params = EigenInitParams.load(file)
    check_size(n, seed)
    if output is not None:  # refuse before drawing
        check_destination(output, force=force, ours=is_npy_file, what=".npy file", inputs=[file])
    blocks = sample_blocks(params, n, target=target, seed=seed)
    if output is not None:
        w = np.concatenate([b.matrix for b in blocks])
        write_matrix(output, w, force=force, inputs=[file])
    if json_:
        print_json(sample_document(blocks, file, seed=seed, matrix_file=output))
        return
    print_table(
        f"{file}: sampled blocks (seed {seed}; discrete-time eigenvalues)",
        ["target", "n", "ρ (max|λ|)", "#real", "#|λ|>1"],
        [list(r.values()) for r in sample_rows(blocks)],
    )
    if output is not None:
        info(f"wrote W {(n * len(blocks), n)} to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(init_app, name="init")
