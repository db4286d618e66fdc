"""The integrated log-density and its gradient as one compiled kernel (one graph node).

The same quantity as :func:`._marginal.marginal_log_density` (which stays as the readable
reference the tests compare against), written as loops over patients and therapists in numba.
Unrolled in PyTensor, the dual-rater Nissen-Lie model's gradient graph had 737 nodes, each a pass
over an array with its own overhead, and a gradient took about 1 ms in a nutpie run. With this
kernel the model's log-density and gradient take 0.23 ms (``pytensor.function`` in NUMBA mode,
scratch timing): patients of one design pattern (the same counts and sums of times per rater,
``design_pattern``; 33 patterns for 227 patients there) share every k x k matrix of their own
integral, so per patient only vectors are computed.

The gradient comes from Fisher's identity: the gradient of ``log p(y | theta)`` is the posterior
expectation, over the integrated-out effects, of the gradient of ``log p(y, effects | theta)``.
Every term of that is linear or quadratic in the effects, so it needs their exact posterior means
and covariances only:

* ``a_t | y ~ N(mu_t, Sigma_t)``, ``Sigma_t = L_t G_t^-1 L_t'`` with ``G_t = I + L_t' B_t L_t``;
* ``b_p | a_t, y ~ N(K_p (c_p - A_p a_t), K_p)``, ``K_p = L G_p^-1 L'``, so a patient's total
  effect ``e_p = a_t + b_p`` has mean ``mu_t + K_p (c_p - A_p mu_t)`` and covariance
  ``(I - K_p A_p) Sigma_t (I - K_p A_p)' + K_p``;
* for a covariance factor ``L`` the effects are written ``u = L eta`` with standard-normal
  ``eta`` (non-centred), so ``L`` appears in the joint density only through the data term
  ``exp(eta' L' v - eta' L' A L eta / 2)``: its gradient is ``E[v eta'] - A L E[eta eta']``
  (lower triangle), with no inverse of ``L``. ``L`` may then be singular: an SD of zero (no
  therapist slopes, ``ModelSpec.therapist_slopes=False``) is a zero row. For a therapist that is
  ``(d_t - B_t mu_t) xi_t' - B_t Q_t'`` (``xi_t = E[eta_t] = Q_t d_t``, ``Q_t = G_t^-1 L'``); for a
  patient, with ``v = c_p - A_p a_t`` (mean ``vbar``) and ``E[v v'] = vbar vbar' + A_p Sigma_t
  A_p``, it is ``(I - A_p K_p) E[v v'] Q_p' - A_p Q_p'``: per patient ``(vbar - A_p E[b_p])
  zeta_p'`` (``zeta_p = Q_p vbar``) and per design pattern ``(B_p S - n I) A_p Q_p'``, ``S`` the
  sum of its patients' ``Sigma_t``.

Notation as in ``_marginal``: ``A_p = Z_p' W Z_p`` and ``c_p = Z_p' W (y_p - m_p)`` from the
rating sums; ``B_p``, ``d_p`` what patient ``p`` says about its therapist's effect.

The algebra is grouped by concern, each group a function of ``k`` (the number of effect
components) that returns numba functions: :func:`_products` (k x k products),
:func:`_factorisations` (Cholesky factors, ``G = I + L'BL``, the covariance gradient, scaled
noise), :func:`_integrals` (the integrals shared by the log-density and the draws: per design
pattern, per patient, per therapist), then the two entry points, :func:`_log_density` and
:func:`_effect_draws`. :mod:`._marginal_kernel` wraps them as PyTensor Ops.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

import numba
import numpy as np

_LOG_2PI = float(np.log(2 * np.pi))


@cache
def compiled(k: int):
    """The kernel ``integrated_log_density`` and the effect sampler ``draw_effects`` for effects
    of ``k`` components (numba compiles each on its first call).

    ``k`` is a compile-time constant of every loop below, so LLVM unrolls the k x k algebra
    (a 4 x 4 product took 51 ns so, against 138 ns with ``k`` read from the shapes). The
    small-matrix helpers write into ``out``: at k <= 4 a BLAS call or a fresh array costs more
    than the arithmetic. The helpers are inlined into the two entry points (numba's
    ``inline="always"``), which took a dual-rater evaluation from 82-86 to 65-66 microseconds:
    a call per helper passed its array views along with their reference counts. A helper
    defined in one group's function and used in another's is inlined all the same: numba takes
    it as a constant of the closure. The stages are not inlined (``_patterns``, ``_patients``,
    ``_therapists``, ``_patient_moments``, ``_pattern_spreads``, each
    called once or twice per evaluation, and ``_factorise``, once per pattern and therapist):
    compiled once, they serve both entry points, and the smaller functions compile faster. In
    a fresh process (``benchmarks/probes/kernel_compile.py``, a loaded machine) the kernel's
    compile took 75 s instead of 96 and the draws' 8 s instead of 27, for 53.4 instead of 50.8
    microseconds per evaluation; not inlining the small helpers too saved 16 s more but cost
    another 20 % per evaluation.

    Examples
    --------
    >>> integrated_log_density, draw_effects = compiled(2)  # compiled on the first call
    """
    products, factors, integrals = stages(k)
    return (
        _log_density(k, products, factors, integrals),
        _effect_draws(k, products, factors, integrals),
    )


@cache
def stages(k: int) -> tuple[SimpleNamespace, SimpleNamespace, SimpleNamespace]:
    """The numba functions both entry points call, by group: products, factorisations and the
    integrals (compiled once per argument types and shared, so a second set of argument types,
    e.g. writable rating sums where the model hands read-only ones, is a second compile).

    Examples
    --------
    >>> products, factors, integrals = stages(2)
    >>> sorted(vars(integrals))
    ['cell', 'patients', 'patterns', 'therapists']
    """
    products, factors = _products(k), _factorisations(k)
    return products, factors, _integrals(k, products, factors)


def _products(k: int) -> SimpleNamespace:
    """Products of k x k matrices and k-vectors, written into ``out``."""

    @numba.njit(inline="always")
    def _mm(a, b, out):
        """``out = a b``."""
        for i in range(k):
            for j in range(k):
                s = 0.0
                for q in range(k):
                    s += a[i, q] * b[q, j]
                out[i, j] = s

    @numba.njit(inline="always")
    def _mv(a, v, out):
        """``out = a v``."""
        for i in range(k):
            s = 0.0
            for q in range(k):
                s += a[i, q] * v[q]
            out[i] = s

    @numba.njit(inline="always")
    def _lower_mv(low, v, out):
        """``out = low v`` for lower-triangular ``low``."""
        for i in range(k):
            s = 0.0
            for q in range(i + 1):
                s += low[i, q] * v[q]
            out[i] = s

    @numba.njit(inline="always")
    def _lower_sandwich(low, q, out):
        """``out = low q`` for lower-triangular ``low`` and a product known to be symmetric
        (``q = G^-1 low'``): the lower triangle is computed and mirrored."""
        for i in range(k):
            for j in range(i + 1):
                s = 0.0
                for p in range(i + 1):
                    s += low[i, p] * q[p, j]
                out[i, j] = s
                out[j, i] = s

    @numba.njit(inline="always")
    def _block_right(m, a, out):
        """``out = m a`` for ``a`` block diagonal in 2 x 2 blocks (one per rater: ``A_p`` has
        no terms across raters)."""
        for j in range(k):
            b = j - j % 2
            for i in range(k):
                out[i, j] = m[i, b] * a[b, j] + m[i, b + 1] * a[b + 1, j]

    @numba.njit(inline="always")
    def _block_mv(a, v, out):
        """``out = a v`` for ``a`` block diagonal in 2 x 2 blocks."""
        for i in range(k):
            b = i - i % 2
            out[i] = a[i, b] * v[b] + a[i, b + 1] * v[b + 1]

    @numba.njit(inline="always")
    def _add_mm_t(a, b, out):
        """``out += a b'``."""
        for i in range(k):
            for j in range(k):
                s = 0.0
                for q in range(k):
                    s += a[i, q] * b[j, q]
                out[i, j] += s

    @numba.njit(inline="always")
    def _add_sandwich(left, middle, tmp, out):
        """``out += left middle left'``."""
        _mm(left, middle, tmp)
        _add_mm_t(tmp, left, out)

    return SimpleNamespace(
        mm=_mm,
        mv=_mv,
        lower_mv=_lower_mv,
        lower_sandwich=_lower_sandwich,
        block_right=_block_right,
        block_mv=_block_mv,
        add_mm_t=_add_mm_t,
        add_sandwich=_add_sandwich,
    )


def _factorisations(k: int) -> SimpleNamespace:
    """Cholesky factors and inverses, the factorisation of ``G = I + L'BL``, and noise scaled to
    a conditional covariance."""

    @numba.njit(inline="always")
    def _cholesky(m, low):
        """``low`` = lower Cholesky factor of ``m``."""
        for j in range(k):
            s = m[j, j]
            for q in range(j):
                s -= low[j, q] ** 2
            low[j, j] = np.sqrt(s)
            for i in range(j + 1, k):
                s = m[i, j]
                for q in range(j):
                    s -= low[i, q] * low[j, q]
                low[i, j] = s / low[j, j]
            for i in range(j):
                low[i, j] = 0.0

    @numba.njit(inline="always")
    def _lower_inverse(low, out):
        """``out = low^-1`` (lower triangular)."""
        for j in range(k):
            for i in range(j):
                out[i, j] = 0.0
            out[j, j] = 1.0 / low[j, j]
            for i in range(j + 1, k):
                s = 0.0
                for q in range(j, i):
                    s += low[i, q] * out[q, j]
                out[i, j] = -s / low[i, i]

    @numba.njit(inline="always")
    def _symmetric_product(a, b, out, both_lower):
        """``out = a' b`` for a product known to be symmetric: the lower triangle is computed
        and mirrored. ``b`` is lower triangular, so the sum starts at row ``j``; at row ``i``
        when ``a`` is lower triangular too (``both_lower``, a constant once inlined)."""
        for i in range(k):
            for j in range(i + 1):
                s = 0.0
                for p in range(i if both_lower else j, k):
                    s += a[p, i] * b[p, j]
                out[i, j] = s
                out[j, i] = s

    @numba.njit
    def _factorise(low, b, work, g_inverse, q):
        """For ``G = I + L'BL``: fills ``G^-1`` and ``q = G^-1 L'``, returns ``log|G|``. Then
        ``L G^-1 L' = (S^-1 + B)^-1`` (``S = LL'``) with no inverse of ``L``. ``work`` is
        scratch, (4, k, k)."""
        lb, g, root, root_inverse = work[0], work[1], work[2], work[3]
        for i in range(k):  # L'B
            for j in range(k):
                s = 0.0
                for p in range(i, k):
                    s += low[p, i] * b[p, j]
                lb[i, j] = s
        _symmetric_product(lb.T, low, g, False)  # G = I + L'BL
        for i in range(k):
            g[i, i] += 1.0
        _cholesky(g, root)
        _lower_inverse(root, root_inverse)
        _symmetric_product(root_inverse, root_inverse, g_inverse, True)  # G^-1 = R'^-1 R^-1
        for i in range(k):  # Q = G^-1 L'
            for j in range(k):
                s = 0.0
                for p in range(j + 1):
                    s += g_inverse[i, p] * low[j, p]
                q[i, j] = s
        det = 1.0  # |G| >= 1: the product of the root's diagonal stays far from overflow
        for i in range(k):
            det *= root[i, i]
        return 2.0 * np.log(det)

    @numba.njit(inline="always")
    def _scaled_noise(low, root_inverse, noise, out):
        """``out = L R'^-1 e``: covariance ``L G^-1 L'`` for standard-normal ``e``."""
        for i in range(k):  # R'^-1 e (upper triangular)
            s = 0.0
            for q in range(i, k):
                s += root_inverse[q, i] * noise[q]
            out[i] = s
        for i in range(k - 1, -1, -1):  # L (lower triangular), in place from the bottom
            s = 0.0
            for q in range(i + 1):
                s += low[i, q] * out[q]
            out[i] = s

    return SimpleNamespace(
        cholesky=_cholesky,
        lower_inverse=_lower_inverse,
        factorise=_factorise,
        scaled_noise=_scaled_noise,
    )


def _integrals(k: int, products: SimpleNamespace, factors: SimpleNamespace) -> SimpleNamespace:
    """The integrals both entry points share: per design pattern (the k x k matrices), per
    patient (its own integral and ``c_p``) and per therapist (the effects' posterior moments)."""
    n_raters = k // 2
    _mv, _lower_mv, _block_mv = products.mv, products.lower_mv, products.block_mv
    _lower_sandwich, _block_right = products.lower_sandwich, products.block_right
    _factorise = factors.factorise

    @numba.njit(inline="always")
    def _cell(sums, p, r):
        """The six rating sums of (patient, rater) cell, in ``RATING_SUMS`` order."""
        return (
            sums[0, p, r],
            sums[1, p, r],
            sums[2, p, r],
            sums[3, p, r],
            sums[4, p, r],
            sums[5, p, r],
        )

    @numba.njit(inline="always")
    def _design(sums, w, p, a):
        """Fills ``A_p = Z_p' W Z_p`` (k x k, one 2 x 2 block per rater)."""
        for r in range(n_raters):
            i, j = 2 * r, 2 * r + 1
            n, x, xx = sums[0, p, r], sums[1, p, r], sums[2, p, r]
            a[i, i], a[i, j], a[j, i], a[j, j] = w[r] * n, w[r] * x, w[r] * x, w[r] * xx

    @numba.njit(inline="always")
    def _residual(sums, level, growth, w, p, c):
        """Fills ``c_p = Z_p' W (y_p - m_p)``; returns the log-density of the ratings at the
        lines without effects, but for its normalising terms ``-n (log 2 pi - log w) / 2``,
        which ``integrated_log_density`` adds once per rater (with the residual SD's gradient
        divisions, a logarithm per patient took about 5 % of the dual-rater kernel's time, 15 %
        of the single-rater one's)."""
        own = 0.0
        for r in range(n_raters):
            n, x, xx, y, xy, yy = _cell(sums, p, r)
            lv, gr = level[p, r], growth[p, r]
            rss = yy - 2 * (lv * y + gr * xy) + lv * lv * n + 2 * lv * gr * x + gr * gr * xx
            own += -0.5 * w[r] * rss
            c[2 * r] = w[r] * (y - lv * n - gr * x)
            c[2 * r + 1] = w[r] * (xy - lv * x - gr * xx)
        return own

    @numba.njit
    def _patterns(sums, w, low_p, pattern_of):
        """Per design pattern: A, G^-1, Q = G^-1 L', K = L G^-1 L' = M^-1, B = A - AKA, log|G|,
        the root of G inverted (R^-1, for draws), and the pattern's first patient."""
        n_patients = pattern_of.shape[0]
        n_patterns = pattern_of.max() + 1 if n_patients else 0
        work = np.zeros((5, k, k))
        a_pat = np.zeros((n_patterns, k, k))
        g_inv_pat = np.empty((n_patterns, k, k))
        q_pat = np.empty((n_patterns, k, k))
        k_pat = np.empty((n_patterns, k, k))
        b_pat = np.empty((n_patterns, k, k))
        root_inv_pat = np.empty((n_patterns, k, k))
        log_det_pat = np.empty(n_patterns)
        first = np.full(n_patterns, -1)
        for p in range(n_patients):
            if first[pattern_of[p]] < 0:
                first[pattern_of[p]] = p
        for m in range(n_patterns):
            a = a_pat[m]
            _design(sums, w, first[m], a)
            log_det_pat[m] = _factorise(low_p, a, work, g_inv_pat[m], q_pat[m])
            root_inv_pat[m] = work[3]
            _lower_sandwich(low_p, q_pat[m], k_pat[m])
            _block_right(k_pat[m], a, work[4])  # K A; A K A = (K A)' A (A, K symmetric)
            _block_right(work[4].T, a, b_pat[m])
            for i in range(k):
                for j in range(k):
                    b_pat[m, i, j] = a[i, j] - b_pat[m, i, j]
        return a_pat, g_inv_pat, q_pat, k_pat, b_pat, root_inv_pat, log_det_pat, first

    @numba.njit
    def _patients(sums, level, growth, w, pattern_of, therapist_of, n_therapists, patterns):
        """Each patient's own integral (summed; the ratings' normalising terms are added by the
        caller), its ``c_p``, and what the patients say about their therapists' effects: ``B_t``
        and ``d_t``."""
        a_pat, _, _, k_pat, b_pat, _, log_det_pat, _ = patterns
        n_patients = pattern_of.shape[0]
        value = 0.0
        c_all = np.zeros((n_patients, k))
        b_t = np.zeros((n_therapists, k, k))
        d_t = np.zeros((n_therapists, k))
        u, au = np.empty(k), np.empty(k)
        for p in range(n_patients):
            m, t, c = pattern_of[p], therapist_of[p], c_all[p]
            value += _residual(sums, level, growth, w, p, c)
            _mv(k_pat[m], c, u)  # M^-1 c
            _block_mv(a_pat[m], u, au)
            quadratic = 0.0
            for i in range(k):
                quadratic += c[i] * u[i]
                d_t[t, i] += c[i] - au[i]
                for j in range(k):
                    b_t[t, i, j] += b_pat[m, i, j]
            value += -0.5 * (log_det_pat[m] - quadratic)
        return value, c_all, b_t, d_t

    @numba.njit
    def _therapists(low_t, b_t, d_t):
        """The therapist effects' integral (summed) and posterior moments: means, covariances,
        the gradient with respect to their covariance factor ``L`` (full; its lower triangle
        counts), and each root of ``G_t`` inverted."""
        n_therapists = b_t.shape[0]
        work = np.zeros((4, k, k))
        value = 0.0
        mu_t = np.empty((n_therapists, k))
        sigma_t = np.empty((n_therapists, k, k))
        root_inv_t = np.empty((n_therapists, k, k))
        grad_t = np.zeros((k, k))
        g_inverse, q, xi, rest = np.empty((k, k)), np.empty((k, k)), np.empty(k), np.empty(k)
        for t in range(n_therapists):
            log_det = _factorise(low_t, b_t[t], work, g_inverse, q)
            root_inv_t[t] = work[3]
            _mv(q, d_t[t], xi)
            _lower_mv(low_t, xi, mu_t[t])
            _lower_sandwich(low_t, q, sigma_t[t])
            _mv(b_t[t], mu_t[t], rest)
            quadratic = 0.0
            for i in range(k):
                quadratic += d_t[t, i] * mu_t[t, i]
                rest[i] = d_t[t, i] - rest[i]
            # (d - B mu) xi' - B Q'
            for i in range(k):
                for j in range(k):
                    s = rest[i] * xi[j]
                    for p in range(k):
                        s -= b_t[t, i, p] * q[j, p]
                    grad_t[i, j] += s
            value += -0.5 * (log_det - quadratic)
        return value, mu_t, sigma_t, grad_t, root_inv_t

    return SimpleNamespace(
        cell=_cell, patterns=_patterns, patients=_patients, therapists=_therapists
    )


def _log_density(
    k: int, products: SimpleNamespace, factors: SimpleNamespace, integrals: SimpleNamespace
):
    """The entry point ``integrated_log_density`` and the two parts of its gradient."""
    n_raters = k // 2
    _mv, _block_mv = products.mv, products.block_mv
    _block_right, _add_sandwich = products.block_right, products.add_sandwich
    _mm, _add_mm_t = products.mm, products.add_mm_t
    _cell, _patterns = integrals.cell, integrals.patterns
    _patients, _therapists = integrals.patients, integrals.therapists

    @numba.njit
    def _patient_moments(
        sums, level, growth, w, pattern_of, therapist_of, patterns, c_all, mu_t, sigma_t
    ):
        """Per patient, from the mean of its total effect ``e = a_t + b_p``: the gradient of its
        lines and its residual sum of squares per rater (``grad_sigma``, not yet divided); its
        part of the gradient with respect to the covariance factor (``grad_p``) and, per
        pattern, the sum of its patients' ``Sigma_t`` and their number. Also the gradient with
        respect to the rating sums (``grad_sums``, (6, P, R)), from the mean and the
        covariance of ``e``: the sums are data for the normal model, but functions of latent
        values (a censored rating's value beyond the bound, a Student-t rating's weight) or of
        session terms in the models built on it."""
        a_pat, _, q_pat, k_pat, _, _, _, first = patterns
        n_patients, n_patterns = level.shape[0], first.shape[0]
        grad_level = np.zeros((n_patients, n_raters))
        grad_growth = np.zeros((n_patients, n_raters))
        grad_sigma = np.zeros(n_raters)
        grad_sums = np.zeros((6, n_patients, n_raters))
        grad_p = np.zeros((k, k))
        sigma_sum = np.zeros((n_patterns, k, k))
        count = np.zeros(n_patterns)
        keep_pat = np.empty((n_patterns, k, k))  # I - K A: how a therapist effect reaches e
        for m in range(n_patterns):
            _block_right(k_pat[m], a_pat[m], keep_pat[m])
            for i in range(k):
                for j in range(k):
                    keep_pat[m, i, j] = (1.0 if i == j else 0.0) - keep_pat[m, i, j]
        rest, zeta, mean, kept = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
        v_level, v_growth = np.empty(k), np.empty(k)
        for p in range(n_patients):
            m, t = pattern_of[p], therapist_of[p]
            _block_mv(a_pat[m], mu_t[t], rest)
            for i in range(k):
                rest[i] = c_all[p, i] - rest[i]
            _mv(q_pat[m], rest, zeta)  # E[eta_p], b_p = L eta_p
            _mv(k_pat[m], rest, mean)  # E[b_p]
            _block_mv(a_pat[m], mean, kept)
            count[m] += 1.0
            for i in range(k):
                kept[i] = rest[i] - kept[i]  # (I - A K) vbar
            for i in range(k):
                mean[i] += mu_t[t, i]
                for j in range(k):
                    grad_p[i, j] += kept[i] * zeta[j]
                    sigma_sum[m, i, j] += sigma_t[t, i, j]
            for r in range(n_raters):
                n, x, xx, y, xy, yy = _cell(sums, p, r)
                lv, gr = level[p, r] + mean[2 * r], growth[p, r] + mean[2 * r + 1]
                grad_level[p, r] = w[r] * (y - lv * n - gr * x)
                grad_growth[p, r] = w[r] * (xy - lv * x - gr * xx)
                rss = yy - 2 * (lv * y + gr * xy) + lv * lv * n + 2 * lv * gr * x + gr * gr * xx
                grad_sigma[r] += rss  # divided by sigma^3 below, once
                # Cov(e) = (I - KA) Sigma_t (I - KA)' + K, its rater-r block only
                i, j = 2 * r, 2 * r + 1
                _mv(sigma_t[t], keep_pat[m, i], v_level)
                _mv(sigma_t[t], keep_pat[m, j], v_growth)
                c_ll, c_lg, c_gg = k_pat[m, i, i], k_pat[m, i, j], k_pat[m, j, j]
                for q in range(k):
                    c_ll += keep_pat[m, i, q] * v_level[q]
                    c_lg += keep_pat[m, j, q] * v_level[q]
                    c_gg += keep_pat[m, j, q] * v_growth[q]
                grad_sums[0, p, r] = -0.5 * (w[r] * (lv * lv + c_ll) + _LOG_2PI - np.log(w[r]))
                grad_sums[1, p, r] = -w[r] * (lv * gr + c_lg)
                grad_sums[2, p, r] = -0.5 * w[r] * (gr * gr + c_gg)
                grad_sums[3, p, r] = w[r] * lv
                grad_sums[4, p, r] = w[r] * gr
                grad_sums[5, p, r] = -0.5 * w[r]
        return grad_level, grad_growth, grad_sigma, grad_p, sigma_sum, count, grad_sums

    @numba.njit
    def _pattern_spreads(sums, patterns, sigma_sum, count, grad_p, grad_sigma):
        """Adds the covariance parts, per pattern through the sum of its patients' ``Sigma_t``:
        ``(B S - n I) A Q'`` to ``grad_p`` and the spread of the lines to ``grad_sigma``."""
        a_pat, _, q_pat, k_pat, b_pat, _, _, first = patterns
        n_patterns = first.shape[0]
        qa, keep, cov, tmp = np.empty((k, k)), np.empty((k, k)), np.empty((k, k)), np.empty((k, k))
        for m in range(n_patterns):
            # the pattern's part of the covariance factor's gradient, (B S - n I) (QA)', and the
            # sum over its patients of Cov(e_p) = (I - KA) Sigma_t (I - KA)' + K
            _block_right(q_pat[m], a_pat[m], qa)
            _mm(b_pat[m], sigma_sum[m], tmp)
            for i in range(k):
                tmp[i, i] -= count[m]
            _add_mm_t(tmp, qa, grad_p)
            _block_right(k_pat[m], a_pat[m], keep)
            for i in range(k):
                for j in range(k):
                    keep[i, j] = (1.0 if i == j else 0.0) - keep[i, j]
                    cov[i, j] = count[m] * k_pat[m, i, j]
            _add_sandwich(keep, sigma_sum[m], tmp, cov)
            p = first[m]
            for r in range(n_raters):
                n, x, xx = sums[0, p, r], sums[1, p, r], sums[2, p, r]
                i, j = 2 * r, 2 * r + 1
                spread = cov[i, i] * n + 2 * cov[i, j] * x + cov[j, j] * xx
                grad_sigma[r] += spread

    @numba.njit
    def integrated_log_density(
        sums, level, growth, sigma, chol_p, therapist_of, pattern_of, n_therapists, chol_t
    ):
        """Log-density of all ratings with both levels of effects integrated out, and its
        gradient with respect to ``level``, ``growth`` (P, R), ``sigma`` (R), the lower
        triangles of the patient and therapist Cholesky factors ``chol_p``, ``chol_t``, and the
        rating sums (6, P, R; last). ``n_therapists`` is a 0-d integer array and the value a 0-d
        array, as PyTensor holds scalars: the PyTensor Op's numba form is then this function
        itself, not a wrapper around it (a wrapper links this function's machine code into its
        own and optimises it all again: the wrapper's compile was about a third of the numba
        compile time of a first fit with every cache empty, ``benchmarks/cold_start.py``).

        Patients of one design pattern (``pattern_of``: the same count, sum of times and sum of
        squared times per rater) share ``A_p`` and with it every k x k matrix of their own
        integral; those are computed once per pattern, and per patient only vectors."""
        w = 1.0 / sigma**2
        low_p, low_t = np.tril(chol_p), np.tril(chol_t)
        patterns = _patterns(sums, w, low_p, pattern_of)
        own, c_all, b_t, d_t = _patients(
            sums, level, growth, w, pattern_of, therapist_of, n_therapists.item(), patterns
        )
        shared, mu_t, sigma_t, grad_t, _ = _therapists(low_t, b_t, d_t)
        # the gradient, from the effects' posterior moments (Fisher's identity): per patient the
        # mean of its total effect e = a_t + b_p; the covariance parts per pattern, through the
        # sum of its patients' Sigma_t
        moments = _patient_moments(
            sums, level, growth, w, pattern_of, therapist_of, patterns, c_all, mu_t, sigma_t
        )
        grad_level, grad_growth, grad_sigma, grad_p, sigma_sum, count, grad_sums = moments
        _pattern_spreads(sums, patterns, sigma_sum, count, grad_p, grad_sigma)
        value = own + shared
        for r in range(n_raters):
            n_ratings = sums[0, :, r].sum()
            value += -0.5 * n_ratings * (_LOG_2PI - np.log(w[r]))  # the normalising terms
            # -N / sigma + (expected residual sum of squares) / sigma^3
            grad_sigma[r] = (grad_sigma[r] / sigma[r] ** 2 - n_ratings) / sigma[r]
        grad_chol_p, grad_chol_t = np.tril(grad_p), np.tril(grad_t)
        value = np.array(value, dtype=np.float64)
        return value, grad_level, grad_growth, grad_sigma, grad_chol_p, grad_chol_t, grad_sums

    return integrated_log_density


def _effect_draws(
    k: int, products: SimpleNamespace, factors: SimpleNamespace, integrals: SimpleNamespace
):
    """The entry point ``draw_effects``."""
    _block_mv, _scaled_noise = products.block_mv, factors.scaled_noise
    _patterns, _patients, _therapists = integrals.patterns, integrals.patients, integrals.therapists

    @numba.njit
    def draw_effects(
        sums, level, growth, sigma, chol_p, therapist_of, pattern_of, chol_t, noise_t, noise_p
    ):
        """Draws of the integrated-out effects from their exact conditional, one per posterior
        draw: ``a_t | y ~ N(mu_t, Sigma_t)``, then ``b_p | a_t, y ~ N(K_p (c_p - A_p a_t), K_p)``.
        ``level``, ``growth`` (D, P, R), ``sigma`` (D, R), ``chol_p``, ``chol_t`` (D, k, k) per
        posterior draw; ``noise_t`` (D, T, k) and ``noise_p`` (D, P, k) standard normal."""
        n_draws, n_therapists, n_patients = noise_t.shape[0], noise_t.shape[1], level.shape[1]
        therapist_effect = np.empty((n_draws, n_therapists, k))
        patient_effect = np.empty((n_draws, n_patients, k))
        rest, au = np.empty(k), np.empty(k)
        for d in range(n_draws):
            w = 1.0 / sigma[d] ** 2
            low_p, low_t = np.tril(chol_p[d]), np.tril(chol_t[d])
            patterns = _patterns(sums, w, low_p, pattern_of)
            a_pat, _, _, k_pat, _, root_inv_pat, _, _ = patterns
            _, c_all, b_t, d_t = _patients(
                sums, level[d], growth[d], w, pattern_of, therapist_of, n_therapists, patterns
            )
            _, mu_t, _, _, root_inv_t = _therapists(low_t, b_t, d_t)
            for t in range(n_therapists):
                a = therapist_effect[d, t]
                _scaled_noise(low_t, root_inv_t[t], noise_t[d, t], a)
                for i in range(k):
                    a[i] += mu_t[t, i]
            for p in range(n_patients):
                m, b = pattern_of[p], patient_effect[d, p]
                _block_mv(a_pat[m], therapist_effect[d, therapist_of[p]], au)
                for i in range(k):
                    rest[i] = c_all[p, i] - au[i]
                _scaled_noise(low_p, root_inv_pat[m], noise_p[d, p], b)
                for i in range(k):
                    s = 0.0
                    for j in range(k):
                        s += k_pat[m, i, j] * rest[j]
                    b[i] += s
        return therapist_effect, patient_effect

    return draw_effects
