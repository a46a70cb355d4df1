"""Sampling the eigen law into real matrices ``W = P·B·P⁻¹`` with exactly the sampled eigenvalues.

``B`` is block-diagonal: real eigenvalues on the diagonal and, per conjugate pair ``a ± ib``,
the block ``[[a, −b], [b, a]] = r[[cos θ, −sin θ], [sin θ, cos θ]]``. ``P`` is Haar-orthogonal
(the law's ``condition = 1``; ``W`` is then normal) or ``U·diag(σ)·Vᵀ`` with ``σ`` geometric from
1 to ``1/condition``, so ``κ₂(P) = condition`` exactly at every size. (A unit-triangular
``I + s·N`` would not do: its condition number grows exponentially with ``n`` for random ``N``.)
All randomness comes from ``generator``, in a fixed order per block: the eigenvalues
(:func:`sample_eigenvalues`), then the basis (:func:`sample_basis`). Maths in float64 on the CPU,
copied into the tensor's dtype.
"""

from __future__ import annotations

import math
from os import PathLike

import numpy as np
import torch
from torch import Tensor

from rnndyn.errors import UsageError
from rnndyn.init.law import EigenInitParams, TargetLaw
from rnndyn.init.zoo_basic import check_matrix, fill_, haar_orthogonal
from rnndyn.naming import GATES

LAYOUTS = GATES  # gate blocks of a stacked weight_hh, per architecture (PyTorch's order)


# -- eigenvalues, blocks, bases ------------------------------------------------------------------


def _uniforms(k: int, generator: torch.Generator | None) -> np.ndarray:
    return torch.rand(k, dtype=torch.float64, generator=generator).numpy()


def real_count(fraction: float, n: int, u: float) -> int:
    """Number of real eigenvalues: ``fraction·n`` rounded stochastically (by ``u`` in ``[0, 1)``)
    to one of the two nearest counts with ``n``'s parity, so its mean is ``fraction·n`` exactly
    (unless clipped to ``[n mod 2, n]``)."""
    x, low = fraction * n, n % 2
    if x <= low:
        return low
    if x >= n:
        return n
    k = low + 2 * int((x - low) // 2)
    return k + 2 * int(u < (x - k) / 2)


def default_target(params: EigenInitParams) -> str:
    """The target of an unqualified draw: ``hh``, the only target, or ``UsageError``."""
    keys = list(params.targets)
    if len(keys) == 1 or "hh" in keys:
        return "hh" if "hh" in keys or keys == ["*"] else keys[0]
    raise UsageError(
        f"the eigen law {params.name!r} has several targets ({', '.join(keys)})",
        hint="Choose one target (--target on the command line, gate=… in Python), or "
        "layout='lstm'/'gru' for a stacked weight_hh.",
    )


def _law(params: EigenInitParams | TargetLaw, target: str | None) -> TargetLaw:
    if isinstance(params, TargetLaw):
        return params
    return params.law_for(target or default_target(params))


def sample_eigenvalues(
    params: EigenInitParams | TargetLaw,
    n: int,
    *,
    target: str | None = None,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Draw ``n`` eigenvalues ``(n,)`` complex128 from the law of ``target``: the pairs first, each
    ``r e^{iθ}`` followed by its conjugate, then the real ones.

    Draws, in order: 1 uniform (the real count), then ``m`` pair radii, ``m`` phases, ``k`` real
    moduli and ``k`` signs (``m`` pairs, ``k`` reals), all from ``generator``.
    """
    if not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    law = _law(params, target)
    if n == 0:
        return np.zeros(0, dtype=np.complex128)
    u = _uniforms(1, generator)
    k = real_count(law.real_fraction, n, float(u[0]))
    m = (n - k) // 2
    u = _uniforms(2 * m + 2 * k, generator)
    r = law.radius.ppf(u[:m])
    theta = law.phase.ppf(u[m : 2 * m])
    rr = (law.real_radius or law.radius).ppf(u[2 * m : 2 * m + k])
    sign = np.where(u[2 * m + k :] < law.positive_fraction, 1.0, -1.0)
    z = r * np.cos(theta) + 1j * (r * np.sin(theta))
    return np.concatenate([np.stack([z, z.conj()], 1).reshape(-1), (sign * rr).astype(complex)])


def block_matrix(eigenvalues: np.ndarray) -> np.ndarray:
    """Real block-diagonal ``(n, n)`` matrix with exactly these eigenvalues ``(n,)``.

    Conjugate pairs (``a ± ib``, ``b > 0``) become ``[[a, −b], [b, a]]`` blocks (pairs first), real
    ones the trailing diagonal. ``ValueError`` unless the multiset is closed under conjugation.
    """
    w = np.asarray(eigenvalues, dtype=np.complex128).reshape(-1)
    pos, neg, real = w[w.imag > 0], w[w.imag < 0], w[w.imag == 0].real
    if len(pos) != len(neg) or not np.allclose(
        np.sort_complex(pos), np.sort_complex(neg.conj()), rtol=1e-12, atol=0
    ):
        raise ValueError("eigenvalues of a real matrix must come in conjugate pairs")
    m, n = len(pos), len(w)
    b = np.zeros((n, n))
    i = 2 * np.arange(m)
    b[i, i] = b[i + 1, i + 1] = pos.real
    b[i, i + 1], b[i + 1, i] = -pos.imag, pos.imag
    j = np.arange(2 * m, n)
    b[j, j] = real
    return b


def sample_basis(
    n: int, *, basis: str = "haar", condition: float = 1.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``(P, P⁻¹)``, both ``(n, n)`` float64: ``I``; Haar ``Q`` (``condition = 1``); or
    ``U·diag(σ)·Vᵀ`` with ``σ = geomspace(1, 1/condition, n)``, so ``κ₂(P) = condition``."""
    if basis == "identity":
        eye = torch.eye(n, dtype=torch.float64)
        return eye, eye.clone()
    q = haar_orthogonal(n, generator=generator)
    if condition == 1.0 or n < 2:
        return q, q.T
    v = haar_orthogonal(n, generator=generator)
    sigma = torch.logspace(0.0, -math.log10(condition), n, dtype=torch.float64)
    return (q * sigma) @ v.T, (v / sigma) @ q.T


def sample_matrix(
    params: EigenInitParams,
    n: int,
    *,
    target: str | None = None,
    generator: torch.Generator | None = None,
    return_eigenvalues: bool = False,
) -> Tensor | tuple[Tensor, np.ndarray]:
    """One ``(n, n)`` float64 matrix ``W = P·B·P⁻¹`` from the law of ``target`` (and, optionally,
    its eigenvalues ``(n,)`` exactly as drawn)."""
    lam = sample_eigenvalues(params, n, target=target, generator=generator)
    p, p_inv = sample_basis(n, basis=params.basis, condition=params.condition, generator=generator)
    w = p @ torch.from_numpy(block_matrix(lam)) @ p_inv
    return (w, lam) if return_eigenvalues else w


def _draw(
    params: EigenInitParams, n: int, target: str, generator: torch.Generator | None
) -> Tensor:
    w = sample_matrix(params, n, target=target, generator=generator)
    assert isinstance(w, Tensor)
    return w


def _as_params(params: EigenInitParams | str | PathLike[str]) -> EigenInitParams:
    if isinstance(params, EigenInitParams):
        return params
    if isinstance(params, str | PathLike):
        return EigenInitParams.load(params)
    raise TypeError(f"params must be EigenInitParams or a path, got {type(params).__name__}")


def _targets(tensor: Tensor, params: EigenInitParams, layout, gate) -> tuple[str, ...]:
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} or None, got {layout!r}")
    if gate is not None:
        valid = LAYOUTS[layout] if layout else sum(LAYOUTS.values(), ())
        if gate not in valid:
            raise ValueError(f"gate {gate!r} is not one of {', '.join(valid)}")
        return (gate,)
    return LAYOUTS[layout] if layout else (default_target(params),)


def eigen_(
    tensor: Tensor,
    params: EigenInitParams | str | PathLike[str],
    *,
    layout: str | None = None,
    gate: str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill ``tensor`` in place (no autograd) from the eigen law; return it (``nn.init`` style).

    ``tensor``: ``(H, H)`` (one block: ``gate`` picks the target, else ``hh``/the only one), or with
    ``layout="lstm"``/``"gru"`` a stacked ``(4H, H)``/``(3H, H)`` ``weight_hh`` whose row blocks
    ``i, f, g, o``/``r, z, n`` each get their target's law. ``params``: a law or a law file.
    ``ValueError`` on a shape that does not fit; ``UsageError`` if the law lacks a target.
    """
    params = _as_params(params)
    rows, cols = check_matrix(tensor, "eigen_")
    targets = _targets(tensor, params, layout, gate)
    if rows != len(targets) * cols:
        want = "(H, H)" if len(targets) == 1 else f"({len(targets)}·H, H)"
        raise ValueError(
            f"eigen_ (layout={layout!r}, gate={gate!r}) needs a {want} tensor, got {(rows, cols)}"
        )
    blocks = [_draw(params, cols, t, generator) for t in targets]
    return fill_(tensor, torch.cat(blocks))


def eigen_bias_(
    bias: Tensor,
    params: EigenInitParams | str | PathLike[str],
    *,
    layout: str = "lstm",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Apply the law's ``gate_biases`` to a stacked bias ``(G·H,)``: gate ``t``'s slice gets
    ``N(mean, std²)``; slices of gates without a rule are left as they are. PyTorch adds
    ``bias_ih`` and ``bias_hh``: write the rule into one and zero the other."""
    params = _as_params(params)
    gates = _targets(bias, params, layout, None)
    if bias.ndim != 1 or bias.numel() % len(gates) or bias.numel() == 0:
        raise ValueError(
            f"eigen_bias_ ({layout}) needs a ({len(gates)}·H,) bias, got {tuple(bias.shape)}"
        )
    h = bias.numel() // len(gates)
    value = bias.detach().to("cpu", torch.float64).clone()
    for k, g in enumerate(gates):
        rule = params.gate_biases.get(g)
        if rule is not None:
            noise = torch.randn(h, dtype=torch.float64, generator=generator)
            value[k * h : (k + 1) * h] = rule["mean"] + rule["std"] * noise
    return fill_(bias, value)
