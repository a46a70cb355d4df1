"""``rnndyn similarity``: a DSA-style distance matrix between networks' dynamics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rnndyn_cli.errors import boundary
from rnndyn_cli.options import (
    DEFAULT_FORMATS,
    Cluster,
    FigureFormats,
    ForceFlag,
    Jobs,
    JsonFlag,
    OutFolder,
    Seed,
    StyleSheet,
    TrustPickle,
)
from rnndyn_cli.render import check_out, examples, finish, info, parse_formats, print_table

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dsa.matrix import SimilarityResult


def _render(res: SimilarityResult) -> None:
    names = res.names
    rows = [[n, *row] for n, row in zip(names, res.distances.tolist(), strict=True)]
    s = res.settings
    title = f"{res.score} distance (radians) between {len(names)} networks, from {s['from']}" + (
        f" (rank {s['rank']}, {s['delays']} delay(s))" if s["from"] == "trajectories" else ""
    )
    print_table(title, ["", *names], rows)
    pr = res.procrustes
    print_table(
        f"optimiser: {pr.restarts} starts per pair, stop at gradient norm ≤ {s['tol']:g}",
        ["a", "b", "converged", "grad norm", "iterations", "starts agreeing"],
        [
            [names[i], names[j], "yes" if c else "no", g, it, ag]
            for (i, j), c, g, it, ag in zip(
                res.pairs, pr.converged, pr.grad_norm, pr.iterations, pr.agreeing, strict=True
            )
        ],
    )
    for note in res.notes:
        info(note)


@boundary
def similarity(
    sources: list[Path] = typer.Argument(
        ..., help="Two or more checkpoints (or .npy recorded states)."
    ),
    from_: str = typer.Option(
        "trajectories",
        "--from",
        help="trajectories (delay-DMD operators) or jacobian (mean Jacobians).",
    ),
    delays: int = typer.Option(
        1, "--delays", min=1, help="Delay-embedding depth for --from trajectories."
    ),
    rank: int = typer.Option(
        None, "--rank", min=1, help="Common DMD rank [smallest state size × delays, at most 32]."
    ),
    score: str = typer.Option("angular", "--score", help="angular (radians) or euclidean."),
    restarts: int = typer.Option(
        8, "--restarts", min=1, help="Starting rotations per component of O(n)."
    ),
    max_iter: int = typer.Option(2000, "--max-iter", min=1, help="Most optimiser iterations."),
    probe: str = typer.Option("noise:1", "--probe", help="The drive, the same for every network."),
    length: int = typer.Option(1000, "--length", min=10, help="Probe steps."),
    batch: int = typer.Option(16, "--batch", min=1, help="Probe sequences."),
    jobs: Jobs = 1,
    cluster: Cluster = None,
    seed: Seed = 0,
    json_: JsonFlag = False,
    out: OutFolder = None,
    format_: FigureFormats = DEFAULT_FORMATS,
    force: ForceFlag = False,
    trust_pickle: TrustPickle = False,
    style: StyleSheet = None,
) -> None:
    """Distances between networks' dynamics up to an orthogonal change of basis (DSA-style).

    With --json the document's schema is rnndyn.similarity/1.
    """
    from rnndyn.dsa.matrix import similarity as run

    formats = parse_formats(format_)
    check_out(out, force=force, protect=list(sources))
    res = run(
        list(sources),
        from_=from_,
        delays=delays,
        rank=rank,
        score=score,
        restarts=restarts,
        max_iter=max_iter,
        probe=probe,
        length=length,
        batch=batch,
        jobs=jobs,
        cluster=cluster,
        seed=seed,
        trust=trust_pickle,
    )
    if out is not None:
        _write(res, out, formats, force, sources, style)
    finish(res.to_dict, lambda: _render(res), out, json_)


def _write(res, out: Path, formats, force: bool, sources, style: Path | None) -> None:
    from rnndyn.plots.modes import similarity_overview
    from rnndyn.report import Report, write_report

    report = Report(
        command="similarity",
        inputs=[{"path": n.source, "sha256": n.sha256} for n in res.networks],
    )
    report.document("similarity.json", res.to_dict())
    report.table("pairs", res.to_frame())
    report.table("distance_matrix", res.matrix_frame().reset_index(names="network"))
    report.figure("similarity", lambda: similarity_overview(res))
    write_report(report, out, force=force, formats=formats, protect=list(sources), style=style)


def register(app: typer.Typer) -> None:
    app.command(
        "similarity",
        epilog=examples(
            "rnndyn similarity data/examples/gru_tomita4.pt data/examples/rnn_adding.pt",
            "rnndyn similarity data/examples/*.pt --delays 3 --rank 12 --out similarity",
        ),
    )(similarity)
