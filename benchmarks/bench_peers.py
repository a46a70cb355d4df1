"""rnndyn against its peers on the same work, in-process and whole-process (issue 29, item 4).

Prints, per comparison, the median seconds of each side over interleaved repeats and the ratio
``peer / rnndyn`` (≥ 1: rnndyn at least as fast). Installs nothing; a peer that is not importable
is reported as skipped.

- memory: ReservoirPy ``observables.memory_capacity`` on a tanh reservoir (H units, leak 1, no
  bias) vs rnndyn's torch-free simulation (``dynamics.numpy_rnn.run_rnn``) + lagged decoding
  (``decay.memory.memory_fit``) of the same network on the same series (``10·k_max`` steps, ``k_max = 2H``, one sequence). ReservoirPy scores a
  Ridge readout per lag on a 20 % test split; rnndyn cross-fits halves with a GCV-chosen ridge.
- lyapunov: lyapynov ``LCE`` (numpy QR per step) vs ``decay.lyapunov.rnn_lyapunov_spectrum`` (the
  torch-free float64 path for a vanilla RNN: simulation and QR method) on the same driven tanh RNN:
  the same steps, warm-up and number of exponents; an extra in-process row times the general path
  (``simulate`` + ``lyapunov_spectrum`` in float64, any architecture, torch).
- reading: ``rnndyn analyze FILE --json`` vs two plain scripts that read the recurrent weights with
  the framework's own library (onnx, h5py, numpy, safetensors): ``read+eig`` runs
  ``numpy.linalg.eig`` on each gate block and stops (less work than rnndyn); ``same-work`` also
  computes the diagnostics rnndyn reports (left vectors and eigenvalue condition numbers, κ₂(V),
  residuals, departure from normality, timescales) with plain numpy and prints them as one JSON
  document (rnndyn still does more: sha256, file checks, precision bounds). ``--read-hidden
  128,512`` repeats it per size.
- dmd: ``rnndyn.dmd(states, rank=16, center=False)`` (exact DMD plus per-mode residuals and
  amplitudes) vs ``pydmd.DMD(svd_rank=16).fit`` on the same recorded states (a noise-driven tanh RNN).
- similarity: ``rnndyn.similarity([A, B], rank=8)`` (DMD operators, then the best orthogonal
  alignment over its restarts) vs dsa-metric's ``DSA(A, B, n_delays=1, rank=8,
  score_method="angular", iters=--dsa-iters).fit_score()`` on the same two recordings.

Whole-process runs start a fresh interpreter for each side (imports included), one BLAS thread
(``OMP_NUM_THREADS=1`` etc.) unless ``--threads``. ``--rnndyn-path DIR`` runs rnndyn's
whole-process side from another source tree (e.g. an older commit, for before/after timings); the
tree is byte-compiled first, as an installed package is.

Usage: python benchmarks/bench_peers.py [--repeats 5]
       [--only memory,lyapunov,dmd,similarity,reading] [--hidden 100] [--threads 1]
       [--dsa-iters 1500] [--read-hidden 128,512] [--rnndyn-path DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def interleaved(sides: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per side, the sides alternating within each repeat (one warm-up each)."""
    for fn in sides.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(repeats):
        for name in list(sides)[:: 1 if r % 2 == 0 else -1]:
            t0 = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def report(what: str, med: dict[str, float]) -> None:
    rn, peer = med["rnndyn"], next(v for k, v in med.items() if k != "rnndyn")
    name = next(k for k in med if k != "rnndyn")
    print(f"{what:<44} rnndyn {rn:8.3f} s   {name:<12} {peer:8.3f} s   ratio {peer / rn:5.2f}")


def run_script(code: str, env: dict[str, str]) -> Callable[[], object]:
    def go() -> None:
        subprocess.run(
            [sys.executable, "-c", code], check=True, env=env, capture_output=True, cwd=env["CWD"]
        )

    return go


def run_cli(args: list[str], env: dict[str, str]) -> Callable[[], object]:
    def go() -> None:
        subprocess.run(
            [sys.executable, "-m", "rnndyn", *args],
            check=True,
            env=env,
            capture_output=True,
            cwd=env["CWD"],  # not the caller's folder: ``-m`` puts it first on sys.path
        )

    return go


# ---- the network ---------------------------------------------------------------------------------


def network(h: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A tanh RNN (one input, no bias) with spectral radius 0.95: PyTorch's parameter names."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((h, h))
    w *= 0.95 / np.abs(np.linalg.eigvals(w)).max()
    u = rng.uniform(-1, 1, (h, 1))
    return {"weight_hh_l0": w, "weight_ih_l0": u}


# ---- memory capacity -----------------------------------------------------------------------------

MEMORY_RNNDYN = """
import numpy as np
from rnndyn.dynamics.numpy_rnn import run_rnn
from rnndyn.decay.memory import memory_fit
d = np.load(__PATH__)
x = np.load(__SERIES__)  # (T, 1)
states, _ = run_rnn(d["weight_hh_l0"], d["weight_ih_l0"], x)
mc = float(np.nansum(memory_fit(states, x[:, None], __KMAX__).r2[0][1:]))
"""

MEMORY_RNNDYN_TORCH = """
import numpy as np, torch
from rnndyn.dynamics.trajectories import simulate
from rnndyn.decay.memory import memory_fit
from rnndyn.readers import Checkpoint
d = np.load(__PATH__)
sd = {k: torch.from_numpy(d[k]) for k in d.files}
ckpt = Checkpoint(__PATH__, "0" * 64, "npz", sd, {"nonlinearity": "tanh"})
x = np.load(__SERIES__)[None]  # (1, T, 1)
traj = simulate(ckpt, x, dtype=torch.float64)
mc = float(np.nansum(memory_fit(traj.states(0, "forward"), traj.inputs, __KMAX__).r2[0][1:]))
"""


MEMORY_RESERVOIRPY = """
import numpy as np
from reservoirpy.nodes import Reservoir, Ridge
from reservoirpy.observables import memory_capacity
d = np.load(__PATH__)
res = Reservoir(__H__, lr=1.0, W=d["weight_hh_l0"], Win=d["weight_ih_l0"], bias=0.0, activation="tanh")
mc = memory_capacity(res >> Ridge(ridge=1e-6), k_max=__KMAX__, series=np.load(__SERIES__), seed=0)
"""


def _fill(code: str, **values: object) -> str:
    for k, v in values.items():
        code = code.replace(k, repr(v) if isinstance(v, str) else str(v))
    return textwrap.dedent(code)


def bench_memory(tmp: Path, h: int, repeats: int, env: dict[str, str]) -> None:
    if not have("reservoirpy"):
        print("memory capacity: skipped (reservoirpy is not installed)")
        return
    kmax = 2 * h
    sd = network(h)
    path = tmp / "rnn.npz"
    np.savez(path, **sd)
    series = np.random.default_rng(1).uniform(-0.8, 0.8, (10 * kmax, 1))
    np.save(tmp / "series.npy", series)
    values = {
        "__PATH__": str(path),
        "__SERIES__": str(tmp / "series.npy"),
        "__KMAX__": kmax,
        "__H__": h,
    }
    codes = {
        "rnndyn": _fill(MEMORY_RNNDYN, **values),
        "reservoirpy": _fill(MEMORY_RESERVOIRPY, **values),
    }
    if not (Path(env["CWD"]) / "rnndyn" / "dynamics" / "numpy_rnn.py").is_file():  # older tree
        codes["rnndyn"] = _fill(MEMORY_RNNDYN_TORCH, **values)
    if not have_readers():
        codes["rnndyn"] = codes["rnndyn"].replace("rnndyn.readers", "rnndyn.io.checkpoint")
    what = f"memory capacity H={h}, k_max={kmax}, T={10 * kmax}"
    ns: dict[str, dict] = {}
    report(what + " (in-process)", interleaved(_in_process(codes, ns), repeats))
    print(
        f"  values: MC rnndyn {ns['rnndyn']['mc']:.3f}, reservoirpy {ns['reservoirpy']['mc']:.3f}"
    )
    report(what + " (whole-process)", interleaved(_whole(codes, env), repeats))


def have_readers() -> bool:
    return have("rnndyn.readers")


def _in_process(
    codes: dict[str, str], spaces: dict[str, dict] | None = None
) -> dict[str, Callable[[], object]]:
    """One callable per side running its code in a fresh namespace (kept in ``spaces``)."""
    out = {}
    spaces = {} if spaces is None else spaces
    for name, code in codes.items():
        compiled = compile(code, f"<{name}>", "exec")

        def go(c=compiled, name=name) -> None:
            spaces[name] = {}
            exec(c, spaces[name])

        out[name] = go
    return out


def _whole(codes: dict[str, str], env: dict[str, str]) -> dict[str, Callable[[], object]]:
    return {name: run_script(code, env) for name, code in codes.items()}


# ---- Lyapunov spectrum ---------------------------------------------------------------------------

LYAP_RNNDYN = """
import numpy as np
from rnndyn.decay.lyapunov import rnn_lyapunov_spectrum
d = np.load(__PATH__)
x = np.load(__SERIES__)
ls = rnn_lyapunov_spectrum(d["weight_hh_l0"], d["weight_ih_l0"], x, __P__, warmup=__WARM__)
"""

LYAP_RNNDYN_TORCH = """
import numpy as np, torch
from rnndyn.dynamics.trajectories import simulate
from rnndyn.decay.lyapunov import lyapunov_spectrum
from rnndyn.dynamics.network import resolve_network
from rnndyn.readers import Checkpoint
d = np.load(__PATH__)
sd = {k: torch.from_numpy(d[k]) for k in d.files}
ckpt = Checkpoint(__PATH__, "0" * 64, "npz", sd, {"nonlinearity": "tanh"})
traj = simulate(ckpt, np.load(__SERIES__)[None], dtype=torch.float64)
p = resolve_network(ckpt).layer(0, "forward", input_size=1)
ls = lyapunov_spectrum(p, traj.trace(0, "forward"), __P__, warmup=__WARM__, dtype=torch.float64)
"""

LYAP_LYAPYNOV = """
import numpy as np
import lyapynov
d = np.load(__PATH__)
W, U = d["weight_hh_l0"], d["weight_ih_l0"][:, 0]
u = np.load(__SERIES__)[:, 0]
def f(x, t):
    return np.tanh(W @ x + U * u[int(t)])
def jac(x, t):
    return (1 - np.tanh(W @ x + U * u[int(t)]) ** 2)[:, None] * W
sys_ = lyapynov.DiscreteDS(np.zeros(__H__), 0, f, jac)
le = lyapynov.LCE(sys_, __P__, __WARM__, __STEPS__ - __WARM__, False)
"""


def bench_lyapunov(tmp: Path, h: int, repeats: int, env: dict[str, str]) -> None:
    if not have("lyapynov"):
        print("Lyapunov spectrum: skipped (lyapynov is not installed)")
        return
    steps, p = 1000, min(h, 32)
    path = tmp / "rnn.npz"
    np.savez(path, **network(h))
    np.save(tmp / "drive.npy", np.random.default_rng(2).uniform(-1, 1, (steps, 1)))
    values = {
        "__PATH__": str(path),
        "__SERIES__": str(tmp / "drive.npy"),
        "__P__": p,
        "__WARM__": steps // 4,
        "__STEPS__": steps,
        "__H__": h,
    }
    codes = {"rnndyn": _fill(LYAP_RNNDYN, **values), "lyapynov": _fill(LYAP_LYAPYNOV, **values)}
    src = Path(env["CWD"]) / "rnndyn" / "decay" / "lyapunov.py"
    if "def rnn_lyapunov_spectrum" not in src.read_text():  # an older tree: its torch path
        codes["rnndyn"] = _fill(LYAP_RNNDYN_TORCH, **values)
    if not have_readers():
        codes["rnndyn"] = codes["rnndyn"].replace("rnndyn.readers", "rnndyn.io.checkpoint")
    what = f"Lyapunov H={h}, {p} exponents, T={steps}"
    ns: dict[str, dict] = {}
    report(what + " (in-process)", interleaved(_in_process(codes, ns), repeats))
    a, b = ns["rnndyn"]["ls"].exponents, np.sort(ns["lyapynov"]["le"])[::-1]
    print(
        f"  values: top exponents rnndyn {a[:3].round(4)}, lyapynov {b[:3].round(4)}, "
        f"max |difference| over all {p}: {np.abs(a - b).max():.2g}"
    )
    if codes["rnndyn"] != _fill(LYAP_RNNDYN_TORCH, **values):
        general = {"rnndyn": _fill(LYAP_RNNDYN_TORCH, **values), "lyapynov": codes["lyapynov"]}
        report(what + " (in-process, any arch)", interleaved(_in_process(general), repeats))
    report(what + " (whole-process)", interleaved(_whole(codes, env), repeats))


# ---- DMD and similarity --------------------------------------------------------------------------


def recorded_states(h: int, steps: int, seed: int) -> np.ndarray:
    """``(T, h)`` states of a noise-driven tanh RNN (NumPy): a recording, no checkpoint."""
    sd = network(h, seed)
    w, u = sd["weight_hh_l0"], sd["weight_ih_l0"][:, 0]
    x = np.random.default_rng(seed + 10).standard_normal(steps)
    out = np.empty((steps, h))
    s = np.zeros(h)
    for t in range(steps):
        s = np.tanh(w @ s + u * x[t])
        out[t] = s
    return out


DMD_RNNDYN = """
import numpy as np, rnndyn
res = rnndyn.dmd(np.load(__STATES__), rank=__RANK__, center=False)
eigs = res.fit.eigenvalues
"""

DMD_PYDMD = """
import numpy as np
from pydmd import DMD
d = DMD(svd_rank=__RANK__).fit(np.load(__STATES__).T)
eigs = d.eigs
"""

SIM_RNNDYN = """
import numpy as np, rnndyn
res = rnndyn.similarity([np.load(__A__), np.load(__B__)], rank=__RANK__)
dist = float(res.angular[0, 1])
"""

SIM_DSA = """
import warnings
import numpy as np
from DSA import DSA
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    dsa = DSA(np.load(__A__), np.load(__B__), n_delays=1, rank=__RANK__, score_method="angular",
              iters=__ITERS__, device="cpu")
    dist = float(dsa.fit_score())
"""


def bench_dmd(tmp: Path, h: int, repeats: int, env: dict[str, str]) -> None:
    if not have("pydmd"):
        print("DMD: skipped (pydmd is not installed)")
        return
    steps, rank = 4000, 16
    np.save(tmp / "states.npy", recorded_states(h, steps, 0))
    values = {"__STATES__": str(tmp / "states.npy"), "__RANK__": rank}
    codes = {"rnndyn": _fill(DMD_RNNDYN, **values), "pydmd": _fill(DMD_PYDMD, **values)}
    what = f"DMD H={h}, T={steps}, rank {rank}"
    ns: dict[str, dict] = {}
    report(what + " (in-process)", interleaved(_in_process(codes, ns), repeats))
    a, b = ns["rnndyn"]["eigs"], ns["pydmd"]["eigs"]
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(a[:, None] - b[None, :])
    gap = cost[linear_sum_assignment(cost)].max()
    print(f"  values: {a.size} eigenvalues each, largest matched |difference| {gap:.2g}")
    report(what + " (whole-process)", interleaved(_whole(codes, env), repeats))


def bench_similarity(tmp: Path, h: int, repeats: int, env: dict[str, str], iters: int) -> None:
    if not have("DSA"):
        print("similarity: skipped (dsa-metric is not installed)")
        return
    steps, rank = 2000, 8
    np.save(tmp / "a.npy", recorded_states(h, steps, 0))
    np.save(tmp / "b.npy", recorded_states(h, steps, 1))
    values = {
        "__A__": str(tmp / "a.npy"),
        "__B__": str(tmp / "b.npy"),
        "__RANK__": rank,
        "__ITERS__": iters,
    }
    codes = {"rnndyn": _fill(SIM_RNNDYN, **values), "dsa-metric": _fill(SIM_DSA, **values)}
    what = f"similarity 2 nets H={h}, T={steps}, rank {rank}"
    ns: dict[str, dict] = {}
    report(what + " (in-process)", interleaved(_in_process(codes, ns), repeats))
    print(
        f"  values: angular distance rnndyn {ns['rnndyn']['dist']:.4f} (best of its restarts), "
        f"dsa-metric {ns['dsa-metric']['dist']:.4f} ({iters} Adam iterations)"
    )
    report(what + " (whole-process)", interleaved(_whole(codes, env), repeats))


# ---- reading -------------------------------------------------------------------------------------

READ = {  # the recurrent gate blocks as float64 (H, H) arrays, read with the framework's library
    "onnx": """
import numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(__PATH__)
inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
node = next(n for n in m.graph.node if n.op_type == "LSTM")
r = inits[node.input[2]][0].astype(np.float64)  # (4H, H), ONNX gate order i, o, f, c
h = r.shape[1]
blocks = [r[g * h:(g + 1) * h] for g in range(4)]
""",
    "npz": """
import numpy as np
d = np.load(__PATH__)
w = d["weight_hh_l0"].astype(np.float64)
h = w.shape[1]
blocks = [w[g * h:(g + 1) * h] for g in range(w.shape[0] // h)]
""",
    "safetensors": """
import numpy as np
from safetensors.numpy import load_file
d = load_file(__PATH__)
w = d["weight_hh_l0"].astype(np.float64)
h = w.shape[1]
blocks = [w[g * h:(g + 1) * h] for g in range(w.shape[0] // h)]
""",
    "keras": """
import io, zipfile, numpy as np, h5py
found = []
with zipfile.ZipFile(__PATH__) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
    f.visititems(lambda k, v: found.append(v[()]) if hasattr(v, "shape") and len(v.shape) == 2
                 and v.shape[1] == 4 * v.shape[0] else None)
r = found[0].T.astype(np.float64)  # recurrent kernel (H, 4H) → rows, Keras gate order i, f, c, o
h = r.shape[1]
blocks = [r[g * h:(g + 1) * h] for g in range(4)]
""",
}

#: the bare peer: eigenvalues and eigenvectors of each block, nothing else
BARE = """
out = [np.linalg.eig(b) for b in blocks]
"""

#: the same work as ``rnndyn analyze --json``, as a researcher would write it with numpy: per block
#: eigenpairs, left vectors (rows of V⁻¹) and the eigenvalue condition numbers they give, κ₂(V),
#: the relative residual max‖Av − λv‖/‖A‖F, Henrici's departure from normality, timescales, and
#: one JSON document on stdout. (rnndyn also hashes the file, checks it, sorts the eigenvalues and
#: bounds each one from the stored precision: still more work on its side.)
SAME_WORK = """
import json
mats = []
for g, a in enumerate(blocks):
    lam, v = np.linalg.eig(a)
    left = np.linalg.inv(v)  # rows: left eigenvectors y_i with y_i^H x_i = 1
    cond = np.linalg.norm(left, axis=1) * np.linalg.norm(v, axis=0)
    fro = np.linalg.norm(a)
    resid = np.linalg.norm(a @ v - v * lam, axis=0).max() / fro
    dep = np.sqrt(max(fro**2 - np.sum(np.abs(lam) ** 2), 0.0)) / fro
    with np.errstate(divide="ignore"):
        tau = -1.0 / np.log(np.abs(lam))
    mats.append({
        "gate": g,
        "eigenvalues": np.stack([lam.real, lam.imag], axis=1).tolist(),
        "spectral_radius": float(np.abs(lam).max()),
        "eigenvalue_condition": cond.tolist(),
        "eigvec_condition": float(np.linalg.cond(v)),
        "residual": float(resid),
        "departure_from_normality": float(dep),
        "timescales": [float(t) if np.isfinite(t) and t > 0 else None for t in tau],
    })
print(json.dumps({"path": __PATH__, "matrices": mats}, indent=2))
"""


def make_files(tmp: Path, h: int) -> dict[str, Path]:
    """An LSTM (input 3, hidden ``h``) saved as ONNX, Keras, .npz and safetensors (what the
    installed libraries allow)."""
    import torch

    torch.manual_seed(0)
    m = torch.nn.LSTM(3, h)
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    files = {"npz": tmp / "lstm.npz"}
    np.savez(files["npz"], **sd)
    if have("safetensors"):
        from safetensors.numpy import save_file

        files["safetensors"] = tmp / "lstm.safetensors"
        save_file({k: np.ascontiguousarray(v) for k, v in sd.items()}, files["safetensors"])
    if have("onnx"):
        import warnings

        files["onnx"] = tmp / "lstm.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (torch.randn(5, 1, 3),), str(files["onnx"]), dynamo=False)
    if have("keras") and have("h5py"):
        code = f"""
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM({h})])
model.save({str(tmp / "lstm.keras")!r})
"""
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        files["keras"] = tmp / "lstm.keras"
    return files


def bench_reading(tmp: Path, h: int, repeats: int, env: dict[str, str]) -> None:
    files = make_files(tmp, h)
    for fmt, path in files.items():
        need = {"onnx": "onnx", "keras": "h5py", "safetensors": "safetensors"}.get(fmt)
        if need and not have(need):
            print(f"reading {fmt}: skipped ({need} is not installed)")
            continue
        read = READ[fmt]
        sides = {
            "rnndyn": run_cli(["analyze", str(path), "--json", "--jobs", "1"], env),
            "read+eig": run_script(_fill(read + BARE, __PATH__=str(path)), env),
            "same-work": run_script(_fill(read + SAME_WORK, __PATH__=str(path)), env),
        }
        med = interleaved(sides, repeats)
        for peer in ("read+eig", "same-work"):
            report(
                f"analyze {fmt} LSTM H={h} (whole-process)",
                {"rnndyn": med["rnndyn"], peer: med[peer]},
            )
        med = interleaved(_reading_in_process(path, read), repeats)
        for peer in ("read+eig", "same-work"):
            report(
                f"analyze {fmt} LSTM H={h} (in-process)", {"rnndyn": med["rnndyn"], peer: med[peer]}
            )


def _reading_in_process(path: Path, read: str) -> dict[str, Callable[[], object]]:
    """The three sides in this process, imports done: ``rnndyn.analysis.analyze`` and its JSON
    document as ``analyze --json`` writes it, against the two scripts run with ``exec`` (their
    stdout discarded)."""
    import contextlib
    import io

    from rnndyn._util.atomic import dumps_json
    from rnndyn.analysis import analysis_document, analyze

    codes = {
        "read+eig": compile(_fill(read + BARE, __PATH__=str(path)), "read+eig", "exec"),
        "same-work": compile(_fill(read + SAME_WORK, __PATH__=str(path)), "same-work", "exec"),
    }

    def script(code: object) -> Callable[[], object]:
        def go() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, {"__name__": "__peer__"})  # our own benchmark script

        return go

    return {
        "rnndyn": lambda: dumps_json(analysis_document([analyze(path, jobs=1)])),
        **{name: script(code) for name, code in codes.items()},
    }


def compile_tree(src: Path) -> None:
    """Byte-compile rnndyn's source tree once, as installing it does: otherwise, under
    ``PYTHONDONTWRITEBYTECODE`` or in a read-only tree, every whole-process run compiles rnndyn's
    modules again (~0.1 s), a cost an installed rnndyn does not pay (the peers' libraries are
    installed, hence compiled)."""
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(src / "rnndyn"), str(src / "cli")],
        capture_output=True,
        check=False,
    )
    if done.returncode:
        print(f"note: could not byte-compile {src} (its whole-process times include compiling)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="memory,lyapunov,dmd,similarity,reading")
    parser.add_argument("--dsa-iters", type=int, default=1500, help="dsa-metric's Adam iterations")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument(
        "--read-hidden",
        default="128",
        help="hidden size(s) of the read LSTM, comma-separated (e.g. 128,512: where start-up stops mattering)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rnndyn-path", default=None, help="source tree for rnndyn's side")
    args = parser.parse_args()
    threads = str(args.threads)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = threads
    src = Path(args.rnndyn_path).resolve() if args.rnndyn_path else ROOT
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(src / "cli"), env.get("PYTHONPATH", "")])
    env["CWD"] = str(src)
    compile_tree(src)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    from threadpoolctl import threadpool_limits

    only = set(args.only.split(","))
    print(f"medians of {args.repeats} interleaved runs, {threads} thread(s); ratio = peer / rnndyn")
    with tempfile.TemporaryDirectory() as d, threadpool_limits(args.threads):
        tmp = Path(d)
        if "memory" in only:
            bench_memory(tmp, args.hidden, args.repeats, env)
        if "lyapunov" in only:
            bench_lyapunov(tmp, args.hidden, args.repeats, env)
        if "dmd" in only:
            bench_dmd(tmp, args.hidden, args.repeats, env)
        if "similarity" in only:
            bench_similarity(tmp, args.hidden, args.repeats, env, args.dsa_iters)
        if "reading" in only:
            for h in (int(x) for x in args.read_hidden.split(",")):
                bench_reading(tmp, h, args.repeats, env)


if __name__ == "__main__":
    main()
