"""Per-step state Jacobians of RNN / LSTM / GRU layers in PyTorch's exact conventions, batched.

State: ``h`` (size H) for RNN and GRU; ``s = [h; c]`` (size P + H) for an LSTM (``P = proj_size`` or H).
Each arch's Jacobian is a sum of ``diag(coefficient) · fixed matrix`` terms, so one step needs only
elementwise coefficients ``(…, H)`` (from ``coefficients``) and one GEMM with the stacked ``weight_hh``:

- RNN: ``J = diag(φ'(pre)) W_hh``.
- GRU (PyTorch: ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = (1 − z) ⊙ n + z ⊙ h``):
  ``J = diag(z) + diag(c_r) W_hr + diag(c_z) W_hz + diag(c_n) W_hn`` with ``c_z = (h − n) z(1 − z)``,
  ``c_n = (1 − z)(1 − n²) r``, ``c_r = (1 − z)(1 − n²)(W_hn h + b_hn) r(1 − r)``.
- LSTM (``c' = f c + i g``, ``h' = W_hr (o ⊙ tanh c')``): ``∂c'/∂h = diag(g i(1−i)) W_hi +
  diag(c f(1−f)) W_hf + diag(i(1−g²)) W_hg``, ``∂c'/∂c = diag(f)``, and ``∂h'/∂(h, c) = W_hr
  [diag(o(1 − tanh²c')) ∂c'/∂(h, c) + diag(tanh(c') o(1−o)) (W_ho, 0)]``.

``apply`` pushes a batch of tangent matrices ``D`` ``(S, B, m)`` one step (the perturbation-propagation
kernel: one GEMM per step, no per-sample Jacobians); ``dense`` builds explicit ``(…, S, S)`` Jacobians.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from rnndyn.dynamics.network import LayerParams, Network, resolve_network
from rnndyn.errors import UsageError
from rnndyn.naming import JAC, JAC_FP
from rnndyn.operators import OperatorId, RecurrentModule, RecurrentOperator
from rnndyn.readers.checkpoint import Checkpoint

if TYPE_CHECKING:  # pragma: no cover
    from rnndyn.dynamics.trajectories import Trajectories


def step(
    p: LayerParams, h: torch.Tensor, c: torch.Tensor | None, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """One step for a batch of states: ``h`` ``(…, P)``, ``c`` ``(…, H)`` or None, ``x`` ``(…, D)``.

    Returns ``(h', c', coefficients)``; coefficients are ``(…, H)`` tensors (see module docstring).
    """
    gi = x @ p.w_ih.T + p.b_ih
    return step_pre(p, h, c, gi)


def step_pre(
    p: LayerParams, h: torch.Tensor, c: torch.Tensor | None, gi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """``step`` with the input term ``gi = W_ih x + b_ih`` ``(…, kH)`` already computed."""
    gh = h @ p.w_hh.T + p.b_hh
    if p.arch in ("rnn", "custom"):
        pre = gi + gh
        if p.nonlinearity == "relu":
            h2 = torch.relu(pre)
            return h2, None, {"a": (pre > 0).to(pre.dtype)}
        h2 = torch.tanh(pre)
        return h2, None, {"a": 1 - h2 * h2}
    if p.arch == "gru":
        ir, iz, in_ = gi.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        h2 = (1 - z) * n + z * h
        dn = (1 - z) * (1 - n * n)
        coef = {"d": z, "r": dn * hn * r * (1 - r), "z": (h - n) * z * (1 - z), "n": dn * r}
        return h2, None, coef
    if c is None:
        raise UsageError("an LSTM step needs the cell state c")
    i, f, g, o = (gi + gh).chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c2 = f * c + i * g
    tc = torch.tanh(c2)
    hc = o * tc
    h2 = hc @ p.w_hr.T if p.w_hr is not None else hc
    coef = {
        "f": f,
        "i": g * i * (1 - i),
        "fg": c * f * (1 - f),
        "g": i * (1 - g * g),
        "a": o * (1 - tc * tc),
        "o": tc * o * (1 - o),
    }
    return h2, c2, coef


def apply(
    p: LayerParams,
    coef: dict[str, torch.Tensor],
    d: torch.Tensor,
    *,
    w_stack: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
):
    """``J_t D`` for tangent matrices ``d`` ``(S, B, m)``; ``coef`` values are ``(H, B)`` (state-major).

    One GEMM with the stacked ``weight_hh`` (two with ``proj_size``); ``p``'s weights set the dtype.
    ``w_stack`` = ``[weight_hh; R]`` (``R`` acting on ``h``) fuses a read-out ``R h`` of the *input*
    tangents into the same GEMM; then ``(J D, R D_h)`` is returned, the latter ``(r, B, m)``.
    ``out`` ``(rows of w_stack, B·m)``: a buffer for the GEMM (not ``d``'s own storage); for an RNN
    the result lives in it.
    """
    s, b, m = d.shape
    ph = p.out_size
    w = p.w_hh if w_stack is None else w_stack
    kh = p.w_hh.shape[0]
    full = torch.mm(w, d[:ph].reshape(ph, b * m), out=out)
    g, extra = full[:kh], full[kh:]
    if p.arch in ("rnn", "custom"):
        out = g.view(s, b, m).mul_(coef["a"][..., None])
    elif p.arch == "gru":
        g = g.view(3, s, b, m)
        out = d * coef["d"][..., None]
        out.addcmul_(g[0], coef["r"][..., None]).addcmul_(g[1], coef["z"][..., None])
        out.addcmul_(g[2], coef["n"][..., None])
    else:
        hsz = p.hidden_size
        g = g.view(4, hsz, b, m)
        dc2 = d[ph:] * coef["f"][..., None]
        dc2.addcmul_(g[0], coef["i"][..., None]).addcmul_(g[1], coef["fg"][..., None])
        dc2.addcmul_(g[2], coef["g"][..., None])
        dhc = (dc2 * coef["a"][..., None]).addcmul_(g[3], coef["o"][..., None])
        if p.w_hr is not None:
            dhc = (p.w_hr @ dhc.reshape(hsz, b * m)).view(ph, b, m)
        out = torch.cat([dhc, dc2], dim=0)
    return out if w_stack is None else (out, extra.view(-1, b, m))


def dense_terms(arch: str, coef: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Terms in which the explicit Jacobian is linear (so a mean Jacobian is ``dense`` of mean terms)."""
    if arch != "lstm":
        return dict(coef)
    a = coef["a"]
    return {
        "f": coef["f"],
        "i": coef["i"],
        "fg": coef["fg"],
        "g": coef["g"],
        "ai": a * coef["i"],
        "af": a * coef["fg"],
        "ag": a * coef["g"],
        "o": coef["o"],
        "hc": a * coef["f"],
    }


def dense(p: LayerParams, terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """Explicit Jacobians ``(…, S, S)`` from ``dense_terms`` ``(…, H)`` (LSTM state order ``[h; c]``)."""
    w = p.w_hh
    hsz = p.hidden_size

    def dw(t: torch.Tensor, block: int) -> torch.Tensor:  # diag(t) · W_h<block>
        return t[..., :, None] * w[block * hsz : (block + 1) * hsz]

    if p.arch in ("rnn", "custom"):
        return terms["a"][..., :, None] * w
    if p.arch == "gru":
        eye = torch.diag_embed(terms["d"])
        return eye + dw(terms["r"], 0) + dw(terms["z"], 1) + dw(terms["n"], 2)
    j_ch = dw(terms["i"], 0) + dw(terms["fg"], 1) + dw(terms["g"], 2)
    j_hh = dw(terms["ai"], 0) + dw(terms["af"], 1) + dw(terms["ag"], 2) + dw(terms["o"], 3)
    j_hc = torch.diag_embed(terms["hc"])
    if p.w_hr is not None:
        j_hh, j_hc = p.w_hr @ j_hh, p.w_hr @ j_hc
    j_cc = torch.diag_embed(terms["f"])
    return torch.cat([torch.cat([j_hh, j_hc], -1), torch.cat([j_ch, j_cc], -1)], -2)


def step_jacobians(
    p: LayerParams, h: torch.Tensor, c: torch.Tensor | None, x: torch.Tensor
) -> torch.Tensor:
    """Explicit per-step Jacobians ``∂s_t/∂s_{t-1}`` ``(…, S, S)`` at states ``h``/``c`` and inputs ``x``."""
    _, _, coef = step(p, h, c, x)
    return dense(p, dense_terms(p.arch, coef))


def split_state(p: LayerParams, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``s`` ``(…, S)`` → ``(h, c)`` (``c`` None for RNN/GRU)."""
    if p.arch != "lstm":
        return s, None
    return s[..., : p.out_size], s[..., p.out_size :]


def state_map(
    p: LayerParams, s: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``F(s, x)`` on the full state ``(…, S)``, with the explicit Jacobian ``(…, S, S)``."""
    h, c = split_state(p, s)
    h2, c2, coef = step(p, h, c, x)
    s2 = h2 if c2 is None else torch.cat([h2, c2], dim=-1)
    return s2, dense(p, dense_terms(p.arch, coef))


def coefficient_chunks(
    p: LayerParams,
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor | None,
    start: int = 0,
    stop: int | None = None,
    *,
    chunk: int = 64,
    state_major: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Per-step coefficients for steps ``start..stop-1``, ``chunk`` steps at a time (bounded memory).

    ``x`` ``(T, B, D)`` and ``h``/``c`` ``(T+1, …)`` in processing order (``Trajectories.trace``); step
    ``t`` maps state ``t`` to ``t+1``. Yields dicts of ``(t, H, B)`` tensors when ``state_major``
    (ready for ``apply``), else ``(t, B, H)``; computed in ``p``'s dtype.
    """
    stop = x.shape[0] if stop is None else stop
    dt = p.w_hh.dtype
    for s in range(start, stop, chunk):
        e = min(s + chunk, stop)
        gi = x[s:e].to(dt) @ p.w_ih.T + p.b_ih
        _, _, coef = step_pre(p, h[s:e].to(dt), None if c is None else c[s:e].to(dt), gi)
        yield {k: v.transpose(1, 2).contiguous() for k, v in coef.items()} if state_major else coef


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point ``s* = F(s*, x)`` of one layer: ``state`` ``(S,)``, relative residual, Newton steps."""

    state: torch.Tensor
    residual: float
    iterations: int
    converged: bool


def fixed_point(
    p: LayerParams, x: torch.Tensor, *, tol: float = 1e-10, max_iter: int = 100
) -> FixedPoint:
    """Fixed point of the layer map under constant input ``x`` ``(D,)``, by Newton from ``s = 0``.

    Each step solves ``(J − I) δ = s − F(s)`` with backtracking; a failed solve falls back to the
    plain iteration ``s ← F(s)``. ``residual`` is ``‖F(s) − s‖ / (1 + ‖s‖)``.
    """
    s = torch.zeros(p.state_size, dtype=p.w_hh.dtype)
    eye = torch.eye(p.state_size, dtype=s.dtype)

    def resid(v: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
        f, jac = state_map(p, v, x)
        return float(torch.linalg.vector_norm(f - v) / (1 + torch.linalg.vector_norm(v))), f, jac

    res, f, jac = resid(s)
    it = 0
    while res > tol and it < max_iter:
        it += 1
        try:
            delta = torch.linalg.solve(jac - eye, s - f)
        except RuntimeError:  # singular: plain iteration
            delta = f - s
        for scale in (1.0, 0.5, 0.25, 0.125, 0.0625):
            new = s + scale * delta
            r2, f2, j2 = resid(new)
            if r2 < res:
                break
        else:
            new = f
            r2, f2, j2 = resid(new)
        s, res, f, jac = new, r2, f2, j2
    return FixedPoint(s, res, it, bool(res <= tol))


class JacobianInfo(TypedDict, total=False):
    """What a Jacobian operator adds to a decay record: ``jacobian`` (``"mean"``/``"fixed_point"``),
    ``samples`` (mean), ``converged``/``residual``/``iterations`` (fixed point)."""

    jacobian: str
    samples: int
    converged: bool
    residual: float
    iterations: int


@dataclass(frozen=True)
class JacobianOperator(RecurrentOperator):
    """A state-Jacobian operator: identity gate ``jac`` (``kind`` ``"mean"``: time-averaged along a
    probe, over ``samples`` states) or ``jacfp`` (``kind`` ``"fixed_point"``: at the zero-input
    fixed point, with its Newton convergence report ``converged``/``residual``/``iterations``).
    """

    samples: int = 0
    converged: bool | None = None
    residual: float | None = None
    iterations: int | None = None

    @property
    def kind(self) -> str:
        """``"mean"`` or ``"fixed_point"``."""
        return self.identity.kind

    def info(self) -> JacobianInfo:
        """The Jacobian's own report, as the decay document lists it beside the operator."""
        if self.kind == "mean":
            return {"jacobian": "mean", "samples": self.samples}
        return {
            "jacobian": "fixed_point",
            "converged": bool(self.converged),
            "residual": float(self.residual if self.residual is not None else np.nan),
            "iterations": int(self.iterations or 0),
        }


MEAN_SOURCE = "mean Jacobian along probe"
FIXED_POINT_SOURCE = "Jacobian at zero-input fixed point"


def _mean_jacobian(p: LayerParams, trace, start: int) -> tuple[np.ndarray, int]:
    x, h, c = trace
    total: dict[str, torch.Tensor] = {}
    count = 0
    for coef in coefficient_chunks(p, x, h, c, start, state_major=False):
        terms = dense_terms(p.arch, coef)
        for k, v in terms.items():
            total[k] = total.get(k, 0) + v.sum(dim=(0, 1))
        count += next(iter(coef.values())).shape[0] * next(iter(coef.values())).shape[1]
    mean = {k: v / count for k, v in total.items()}
    return dense(p, mean).numpy(), count


def jacobian_operators(
    ckpt: Checkpoint | Network,
    module: RecurrentModule | str | None = None,
    traj: Trajectories | None = None,
    *,
    start: int = 0,
    kinds: tuple[str, ...] = ("mean", "fixed_point"),
) -> list[JacobianOperator]:
    """State-Jacobian operators of every layer and direction, in float64.

    ``"mean"``: the Jacobian averaged over steps ``start..T-1`` and the batch of ``traj`` (needs
    ``traj``); ``"fixed_point"``: the Jacobian at the zero-input fixed point (layer ``l > 0`` sees
    layer ``l − 1``'s fixed-point output), found by Newton with its convergence reported.
    Sizes: ``H`` (RNN, GRU), ``P + H`` (LSTM ``[h; c]``).
    """
    net = ckpt if isinstance(ckpt, Network) else resolve_network(ckpt, module)
    mod = net.module
    if "mean" in kinds and traj is None:
        raise UsageError("the mean Jacobian needs a trajectory (traj=simulate(...))")
    in_size = traj.inputs.shape[-1] if traj is not None else (mod.input_size or 1)
    ops: list[JacobianOperator] = []
    fp_input = torch.zeros(in_size, dtype=torch.float64)
    for layer in range(mod.num_layers):
        outs = []
        for direction in mod.directions:
            size = in_size if layer == 0 else fp_input.shape[0]
            run = traj.runs[(layer, direction)] if traj is not None else None
            p = run.params if run is not None and run.params is not None else None
            if p is None:  # no simulation, or trajectories built by hand
                p = net.layer(layer, direction, input_size=size)
            ident = partial(OperatorId, layer, direction, module=mod.name, arch=mod.arch)
            if traj is not None and "mean" in kinds:
                mat, count = _mean_jacobian(p, traj.runs[(layer, direction)].trace, start)
                ops.append(JacobianOperator(ident(JAC), mat, MEAN_SOURCE, samples=count))
            if "fixed_point" in kinds:
                fp = fixed_point(p, fp_input)
                _, jac = state_map(p, fp.state, fp_input)
                ops.append(
                    JacobianOperator(
                        ident(JAC_FP),
                        jac.numpy(),
                        FIXED_POINT_SOURCE,
                        converged=fp.converged,
                        residual=fp.residual,
                        iterations=fp.iterations,
                    )
                )
                outs.append(split_state(p, fp.state)[0])
        if outs:
            fp_input = torch.cat(outs)
    return ops
