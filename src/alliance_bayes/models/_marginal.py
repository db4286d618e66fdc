"""Therapist and patient effects integrated out of the normal likelihood, and drawn back.

Per patient ``p`` the ratings are ``y_p ~ N(m_p + Z_p a_t, D_p + Z_p S Z_p')`` given its
therapist's effect ``a_t``, where ``m_p`` is the mean without random effects, ``D_p`` the
diagonal residual variances and row ``i`` of ``Z_p`` is ``e_(2r) + x_i e_(2r+1)`` for rater ``r``
at coded time ``x_i``. With ``W = D^-1``, ``A_p = Z_p' W Z_p`` and ``c_p = Z_p' W (y_p - m_p)``
(2R x 2R and 2R), Woodbury and the determinant lemma give at ``a_t = 0``

    log N(y_p) = -1/2 [n_p log 2 pi + log|D_p| + r'Wr + log|S| + log|M_p| - c_p' M_p^-1 c_p],
    M_p = S^-1 + A_p,

and as a function of ``a_t`` the log-density is that plus ``a_t' d_p - a_t' B_p a_t / 2`` with
``B_p = A_p - A_p M_p^-1 A_p`` and ``d_p = c_p - A_p M_p^-1 c_p``. Summing ``B_p`` and ``d_p``
over a therapist's patients, the same Gaussian integral integrates ``a_t ~ N(0, T)`` out
(``T^-1 + B_t``, again 2R x 2R), so the sampler sees the population parameters only.
Afterwards the effects are drawn from their exact conditionals, ``a_t | y`` then
``b_p | a_t, y ~ N(M_p^-1 c_p, M_p^-1)`` (with ``a_t`` in ``m_p``).

The mean is linear in time per (patient, rater), ``m_p = l_pr + g_pr x``, so ``A_p``, ``c_p`` and
``r'Wr`` follow from six data sums per (patient, rater) cell (:func:`rating_sums`; unequal lengths
and missing ratings need no padding), and one evaluation costs work per patient, not per rating.
The 2R x 2R algebra is unrolled into elementwise operations over patients and therapists
(R <= 2), which every PyTensor backend compiles and differentiates. (Batched ``pt.linalg``
Cholesky and triangular solves instead compiled in 143 s and sampled 2 x 400 steps in 279 s with
nutpie's numba backend here, against 82 s and 2 s unrolled, single-rater Nissen-Lie model.)
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytensor.tensor as pt
from scipy import sparse

Matrix = list[list[Any]]


RATING_SUMS = ("n", "x", "xx", "y", "xy", "yy")
LINE_NAMES = ("line_level", "line_growth")  # each patient's line per rater, in the graph


def rating_sums(
    y: np.ndarray,
    time: np.ndarray,
    rater: np.ndarray,
    patient: np.ndarray,
    n_patients: int,
    n_raters: int,
) -> np.ndarray:
    """(6, P, R) sums over the ratings of each (patient, rater) cell, in ``RATING_SUMS`` order:
    their count and the sums of ``x``, ``x^2``, ``y``, ``x y`` and ``y^2`` (``x`` coded time,
    ``y`` the rating). They are data: the model takes them as such, so no evaluation of the
    log-density (or of its gradient) passes over single ratings."""
    cell = np.asarray(patient) * n_raters + np.asarray(rater)
    columns = [np.ones_like(time), time, time**2, y, time * y, y**2]
    return np.stack(
        [
            np.bincount(cell, column, minlength=n_patients * n_raters).reshape(n_patients, n_raters)
            for column in columns
        ]
    ).astype(float)


def design_patterns(sums: np.ndarray) -> np.ndarray:
    """(P,) index of each patient's design pattern: patients with the same count, sum of times
    and sum of squared times per rater (exactly) share ``A_p`` and every matrix built from it."""
    design = np.asarray(sums)[:3].transpose(1, 0, 2).reshape(np.shape(sums)[1], -1)
    return np.unique(design, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _by_name(sums: Any) -> SimpleNamespace:
    """The (6, P, R) rating sums (tensor or array) as ``.n``, ``.x``, ... by ``RATING_SUMS``."""
    return SimpleNamespace(**{name: sums[i] for i, name in enumerate(RATING_SUMS)})


def check_rating_sums(model: Any) -> None:
    """Raise if ``rating_sums`` no longer match the model's ratings.

    The integrated likelihood reads the ratings through their sums only, so a rating swapped in
    by hand (``pm.set_data`` on ``alliance_observed``, ``pm.observe``, tools such as simuk) would
    be ignored. Build the model again from the new data instead.
    """
    values = {name: model[name].get_value() for name in ("time", "rater_idx", "patient_idx")}
    expected = rating_sums(
        model["alliance_observed"].get_value(),
        values["time"],
        values["rater_idx"],
        values["patient_idx"],
        len(model.coords["patient"]),
        len(model.coords["rater"]),
    )
    same_sums = np.allclose(model["rating_sums"].get_value(), expected, rtol=1e-10, atol=1e-8)
    if not same_sums or not np.array_equal(
        model["design_pattern"].get_value(), design_patterns(expected)
    ):
        raise ValueError(
            "this model's ratings were changed after it was built (rating_sums do not match "
            "alliance_observed): its likelihood reads the ratings through their sums, so build "
            "it again with growth_model(new_data), or use marginal=False to swap data by hand."
        )


def rater_terms(
    s: Any, r: int, w: Any, level: Any, growth: Any
) -> tuple[tuple[Any, Any, Any], tuple[Any, Any]]:
    """Rater ``r``'s block of ``A = Z'WZ`` (level-level, level-growth, growth-growth) and its
    part of ``c = Z'W(y - m)``, from the rating sums ``s`` and the patients' line.

    ``w`` is the rater's ``sigma^-2``; tensors or numpy arrays that broadcast with ``s.n[:, r]``.
    """
    n, x, xx = s.n[:, r], s.x[:, r], s.xx[:, r]
    a = (w * n, w * x, w * xx)
    c = (w * (s.y[:, r] - level * n - growth * x), w * (s.xy[:, r] - level * x - growth * xx))
    return a, c


def cholesky(m: Matrix) -> Matrix:
    """Lower Cholesky factor of a small symmetric positive-definite matrix, unrolled.

    Entries are tensors or numpy arrays of one shape (a batch of matrices, elementwise).
    """
    k = len(m)
    low: Matrix = [[None] * k for _ in range(k)]
    for j in range(k):
        diagonal = m[j][j] - sum((low[j][q] ** 2 for q in range(j)), start=0.0)
        low[j][j] = diagonal**0.5
        for i in range(j + 1, k):
            off = m[i][j] - sum((low[i][q] * low[j][q] for q in range(j)), start=0.0)
            low[i][j] = off / low[j][j]
    return low


def forward_solve(low: Matrix, b: list[Any]) -> list[Any]:
    """``L^-1 b`` for lower-triangular ``L``, unrolled."""
    out: list[Any] = []
    for i in range(len(b)):
        out.append((b[i] - sum((low[i][q] * out[q] for q in range(i)), start=0.0)) / low[i][i])
    return out


def backward_solve(low: Matrix, b: list[Any]) -> list[Any]:
    """``L'^-1 b`` for lower-triangular ``L``, unrolled."""
    k = len(b)
    out: list[Any] = [None] * k
    for i in reversed(range(k)):
        known = sum((low[q][i] * out[q] for q in range(i + 1, k)), start=0.0)
        out[i] = (b[i] - known) / low[i][i]
    return out


def information(s: SimpleNamespace, w: Any, level: Any, growth: Any, n_raters: int, zero: Any):
    """``A = Z'WZ`` (k x k, block diagonal by rater) and ``c = Z'W(y - m)`` (k) per patient.

    ``s`` are the rating sums by name, ``w`` the raters' ``sigma^-2`` (indexed ``w[..., r]``),
    ``level`` and ``growth`` the patients' lines (``[..., r]``); entries are lists of tensors or
    arrays that broadcast with ``zero``.
    """
    k = 2 * n_raters
    a: Matrix = [[zero for _ in range(k)] for _ in range(k)]
    c: list[Any] = [zero for _ in range(k)]
    for r in range(n_raters):
        lvl, grw = 2 * r, 2 * r + 1
        block, c[lvl : grw + 1] = rater_terms(s, r, w[..., r], level[..., r], growth[..., r])
        a[lvl][lvl], a[lvl][grw], a[grw][grw] = block
        a[grw][lvl] = a[lvl][grw]
    return a, c


def information_about_therapist(
    low: Matrix, a: Matrix, c: list[Any], v: list[Any], scaled: Matrix | None = None
) -> tuple[Matrix, list[Any]]:
    """What one patient's ratings say about its therapist's effect, with its own integrated out.

    ``B = Z'V^-1 Z = A - A M^-1 A`` and ``d = Z'V^-1 (y - m) = c - A M^-1 c`` (``V = D + Z S Z'``,
    ``M = S^-1 + A``), so the patient's log-density is ``const + a'd - a'Ba / 2`` in the
    therapist effect ``a``. ``M^-1`` is given through a factor: either ``low`` is the Cholesky
    factor of ``M`` and ``scaled`` is None (``A`` itself), or ``M^-1 = L G^-1 L'`` with ``low``
    the Cholesky factor of ``G = I + L'AL`` and ``scaled = L'A``; ``v`` is ``low^-1`` times
    ``c`` (or ``L'c``). Returns ``B`` (k x k) and ``d``.
    """
    k = len(c)
    scaled = a if scaled is None else scaled
    u = [forward_solve(low, [scaled[i][j] for i in range(k)]) for j in range(k)]  # by column
    b = [
        [a[i][j] - sum((u[i][q] * u[j][q] for q in range(k)), start=0.0) for j in range(k)]
        for i in range(k)
    ]
    d = [c[i] - sum((u[i][q] * v[q] for q in range(k)), start=0.0) for i in range(k)]
    return b, d


def _group_sums(entries: list[Any], groups: Any, n_groups: int) -> list[Any]:
    """Sums of per-patient tensors (P,) within groups (therapists), one (n_groups,) each."""
    stacked = pt.stack(entries, axis=-1)
    totals = pt.inc_subtensor(pt.zeros((n_groups, len(entries)))[groups], stacked)
    return [totals[:, e] for e in range(len(entries))]


def _lower(chol: Any, k: int) -> Matrix:
    """The entries of a (k, k) lower-triangular tensor, ``0.0`` above the diagonal."""
    return [[chol[i, j] if j <= i else 0.0 for j in range(k)] for i in range(k)]


def _transpose_times(low: Matrix, b: Matrix) -> Matrix:
    """``L'B`` for lower-triangular ``L``, skipping the structural zeros (``0.0`` entries)."""
    k = len(low)
    return [
        [
            sum((low[q][i] * b[q][j] for q in range(i, k) if not _is_zero(b[q][j])), start=0.0)
            for j in range(k)
        ]
        for i in range(k)
    ]


def _is_zero(x: Any) -> bool:
    return isinstance(x, float) and x == 0.0


def _gaussian_integral(
    prior_chol: Any, b: Matrix, d: list[Any], k: int
) -> tuple[Any, Matrix, list[Any], Matrix]:
    """``log int exp(u'd - u'Bu/2) N(u; 0, S) du`` per group (elementwise), ``S = LL'`` given by
    its Cholesky factor ``L``.

    With ``G = I + L'BL = R R'`` and ``v = R^-1 L'd`` it is ``-(log|G| - v'v) / 2``: no inverse
    of ``L`` and no division before the Cholesky factor of ``G``. (The textbook form through
    ``S^-1 + B`` left PyTensor's algebraic rewrites running for minutes with four components.)
    Also returns ``R``, ``v`` and ``L'B`` for :func:`information_about_therapist`.
    """
    low = _lower(prior_chol, k)
    scaled = _transpose_times(low, b)  # L'B
    g = [
        [
            (1.0 if i == j else 0.0)
            + sum((scaled[i][q] * low[q][j] for q in range(j, k)), start=0.0)
            for j in range(k)
        ]
        for i in range(k)
    ]
    r = cholesky(g)
    h = [sum((low[q][i] * d[q] for q in range(i, k)), start=0.0) for i in range(k)]  # L'd
    v = forward_solve(r, h)
    log_det = 2 * sum((pt.log(r[i][i]) for i in range(k)), start=0.0)
    return -0.5 * (log_det - sum((vi**2 for vi in v), start=0.0)), r, v, scaled


def marginal_log_density(
    sums: Any,
    level: Any,
    growth: Any,
    sigma: Any,
    chol: Any,
    n_raters: int,
    therapist: tuple[Any, int, Any],
) -> Any:
    """Log-density of all ratings with the random effects integrated out (a scalar).

    ``sums`` are the ratings' :func:`rating_sums` (6, P, R); ``level`` and ``growth`` are (P, R):
    each patient's line without random effects, so the mean of a rating is
    ``level[p, r] + growth[p, r] x``; ``sigma`` is (R,) and ``chol`` the (2R, 2R) Cholesky factor
    of the patient effects' covariance. ``therapist`` is ``(therapist_of_patient, n_therapists,
    therapist_chol)``: the therapist effects are integrated out per therapist, from the sums over
    its patients of :func:`information_about_therapist`. The cost grows with patients, not with
    ratings.
    """
    k = 2 * n_raters
    s = _by_name(sums)
    w = sigma**-2  # (R,), broadcast over patients
    # r'Wr for the residuals r = y - level - growth x, from the sums
    rss = (
        s.yy
        - 2 * (level * s.y + growth * s.xy)
        + level**2 * s.n
        + 2 * level * growth * s.x
        + growth**2 * s.xx
    )
    own = -0.5 * pt.sum(s.n * (np.log(2 * np.pi) + 2 * pt.log(sigma)) + w * rss)
    a, c = information(s, w, level, growth, n_raters, 0.0)  # 0.0: no term across raters
    patients, r, v, scaled = _gaussian_integral(chol, a, c, k)
    therapist_of, n_therapists, therapist_chol = therapist
    b, d = information_about_therapist(r, a, c, v, scaled)
    upper = [(i, j) for i in range(k) for j in range(i, k)]
    summed = _group_sums([b[i][j] for i, j in upper] + d, therapist_of, n_therapists)
    b_t: Matrix = [[None] * k for _ in range(k)]
    for (i, j), value in zip(upper, summed, strict=False):
        b_t[i][j] = b_t[j][i] = value
    therapists, _, _, _ = _gaussian_integral(therapist_chol, b_t, summed[len(upper) :], k)
    return own + pt.sum(patients) + pt.sum(therapists)


def draw_conditional_effects(
    level: np.ndarray,
    growth: np.ndarray,
    sigma: np.ndarray,
    sums: np.ndarray,
    cov: np.ndarray,
    rng: np.random.Generator,
    therapist: tuple[np.ndarray, int, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Draws of the integrated-out effects from their exact conditional, per posterior draw: the
    readable reference form (tests compare against it); ``fit`` uses the compiled twin
    :func:`._marginal_kernel.conditional_effect_draws`.

    ``level`` and ``growth`` are each patient's line without random effects (draws, P, R),
    ``sigma`` is (draws, R), ``sums`` the ratings' :func:`rating_sums` (6, P, R) and ``cov`` the
    patient effects' covariance (draws, k, k). ``therapist`` (``therapist_of_patient``,
    ``n_therapists``, their covariance (draws, k, k)), if given, means the therapist effects were
    integrated out too: they are drawn first, from ``a_t | y, rest``, and the patient effects
    then from ``b_p | a_t, y, rest``. Returns the therapist effects (draws, T, k) or None, and
    the patient effects (draws, P, k).

    With ``M = L L'`` a conditional precision and ``c`` the matching linear term,
    ``L'^-1 (L^-1 c + e)`` for standard normal ``e`` has mean ``M^-1 c`` and covariance
    ``M^-1``. Everything is elementwise over (draws, P) or (draws, T) with the k x k algebra
    unrolled: no pass over single ratings and no batched linalg (which took most of a
    100k-rating fit's time).
    """
    k = cov.shape[-1]
    s = _by_name(sums)
    w = sigma[:, None, :] ** -2  # (draws, 1, R)
    zero = np.zeros(level.shape[:2])
    a, c = information(s, w, level, growth, k // 2, zero)
    low = cholesky(_plus(np.linalg.inv(cov), a))
    therapist_effects = None
    if therapist is not None:
        therapist_of, n_therapists, therapist_cov = therapist
        b, d = information_about_therapist(low, a, c, forward_solve(low, c))
        to_therapists = sparse.csr_matrix(
            (np.ones(len(therapist_of)), (therapist_of, np.arange(len(therapist_of)))),
            shape=(n_therapists, len(therapist_of)),
        )
        per_therapist = lambda x: (to_therapists @ x.T).T  # noqa: E731
        b_t = [[per_therapist(b[i][j]) for j in range(k)] for i in range(k)]
        low_t = cholesky(_plus(np.linalg.inv(therapist_cov), b_t))
        therapist_effects = _gaussian_draw(low_t, [per_therapist(x) for x in d], rng)
        shift = therapist_effects[:, therapist_of]  # (draws, P, k)
        level, growth = level + shift[..., 0::2], growth + shift[..., 1::2]
        _, c = information(s, w, level, growth, k // 2, zero)
    return therapist_effects, _gaussian_draw(low, c, rng)


def _plus(prior_precision: np.ndarray, a: Matrix) -> Matrix:
    """``prior_precision`` (draws, k, k) plus ``a`` (k x k entries of shape (draws, n))."""
    k = len(a)
    return [[prior_precision[:, i, j, None] + a[i][j] for j in range(k)] for i in range(k)]


def _gaussian_draw(low: Matrix, c: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Draws of ``N(M^-1 c, M^-1)`` given ``M = L L'``, elementwise; (..., k)."""
    whitened = forward_solve(low, c)
    noise = rng.standard_normal((len(c), *np.shape(c[0])))
    return np.stack(backward_solve(low, [v + e for v, e in zip(whitened, noise, strict=True)]), -1)
