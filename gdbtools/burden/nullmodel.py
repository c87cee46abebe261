"""The null model of the gene-based tests: the trait on the covariates alone, fitted once per trait.

Linear traits by ordinary least squares, binary traits by logistic regression (IRLS).  Every test of a gene
projects its genotypes or scores on the covariates through :meth:`NullModel.project`:

- linear: ``P0 A = A - X (X^T X)^-1 X^T A``;
- logistic: ``P A = V A - V X (X^T V X)^-1 X^T V A`` with ``V = diag(mu (1 - mu))``.

Both are computed as ``s * (B - Q (Q^T B))`` with ``B = s * A``, ``s = sqrt(V)`` (1 for linear) and ``Q`` the
orthonormal factor of the thin QR of ``s * X``: no inverse is formed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special

from gdbtools.errors import GdbError

__all__ = ["NullModel", "NullModelError", "fit_null"]

RANK_TOL = 1e-9  # a pivot of the QR below RANK_TOL * |largest pivot| makes a column collinear
IRLS_MAX_ITER = 100
IRLS_TOL = 1e-10  # relative change of the deviance that ends IRLS


class NullModelError(GdbError):
    """The trait or the covariates cannot make a null model (constant, collinear, miscoded, too few)."""


@dataclass
class NullModel:
    """A fitted null model (all arrays on the host, rows in the phenotype's sample order).

    Attributes
    ----------
    kind : "linear" or "logistic"
    n, k : samples used, columns of X (intercept included)
    y : (n,) float64 trait;  X : (n, k) float64 design, intercept first
    covariates : names of X's columns after the intercept
    mu : (n,) float64 fitted values;  residuals : (n,) float64 ``y - mu``
    weights : (n,) float64 the diagonal of V: 1 (linear) or ``mu (1 - mu)`` (logistic)
    sigma2 : float, ``r^T r / (n - k)`` (linear) or 1.0 (logistic)
    n_cases, n_controls : counts of 1 and 0 (logistic), else None
    converged, n_iter : IRLS status (linear: True, 0)
    """

    kind: str
    n: int
    k: int
    y: np.ndarray
    X: np.ndarray
    covariates: list[str]
    mu: np.ndarray
    residuals: np.ndarray
    weights: np.ndarray
    sigma2: float
    n_cases: int | None
    n_controls: int | None
    converged: bool = True
    n_iter: int = 0
    coef: np.ndarray | None = None
    _q: np.ndarray | None = None  # (n, k) orthonormal basis of sqrt(V) X
    _device: dict[str, Any] = field(default_factory=dict, repr=False)

    def _on(self, backend) -> tuple[Any, Any, Any]:
        """(Q, sqrt(V), r) on the backend's device, moved once per backend."""
        if backend.name not in self._device:
            self._device[backend.name] = (backend.to_device(self._q), backend.to_device(np.sqrt(self.weights)),
                                          backend.to_device(self.residuals))
        return self._device[backend.name]

    def project(self, A, backend):
        """``P A`` (``P0 A`` for linear) for `A` (n, m) float64 on ``backend.xp``; the result on the same device."""
        _, s, _ = self._on(backend)
        R = self.root_project(A, backend)
        return R * (s[:, None] if R.ndim == 2 else s)

    def root_project(self, A, backend):
        """``(I - Q Q^T) V^(1/2) A`` for `A` (n, m) on ``backend.xp``: its Gram matrix is ``A^T P A`` (SKAT's
        kernel matrix is built from it, positive semi-definite by construction)."""
        q, s, _ = self._on(backend)
        one_d = A.ndim == 1
        B = A[:, None] if one_d else A
        if self.kind != "linear":  # sqrt(V) = 1 for linear: the product would copy G and change nothing
            B = B * s[:, None]
        out = B - q @ (q.T @ B)
        return out[:, 0] if one_d else out

    def residuals_on(self, backend):
        """The residuals ``y - mu`` as a (n,) array on the backend's device."""
        return self._on(backend)[2]

    def summary(self) -> dict:
        """JSON-able description of the model (for the result metadata)."""
        return {"kind": self.kind, "n": int(self.n), "k": int(self.k), "covariates": list(self.covariates),
                "n_cases": self.n_cases, "n_controls": self.n_controls, "sigma2": float(self.sigma2),
                "converged": bool(self.converged), "n_iter": int(self.n_iter)}


def _check_design(y: np.ndarray, X: np.ndarray, names: list[str], binary: bool) -> None:
    n, k = X.shape
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, X has {n} rows")
    if len(names) != k - 1:
        raise ValueError(f"{len(names)} covariate names for {k - 1} covariate columns")
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise NullModelError("the trait or a covariate has missing or infinite values",
                             fix="drop the samples with missing values before fitting (load_phenotypes does)")
    if not np.all(X[:, 0] == 1.0):
        raise ValueError("the first column of X must be the intercept (all 1)")
    if n <= k:
        raise NullModelError(f"{n} samples for {k} model parameters (intercept and {k - 1} covariates)",
                             fix="use fewer covariates or more samples")
    const = [names[j - 1] for j in range(1, k) if np.ptp(X[:, j]) == 0]
    if const:
        raise NullModelError(f"constant covariate(s) among the analysed samples: {', '.join(const)}",
                             fix="leave them out of --covariates (the intercept is always included)")
    if binary:
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            values = ", ".join(f"{v:g}" for v in np.unique(y[bad])[:5])
            raise NullModelError(f"the binary trait has values other than 0 and 1 ({int(bad.sum())} samples; "
                                 f"values {values})",
                                 fix="code controls as 0 and cases as 1, or drop --binary for a quantitative trait")
        n_cases = int(y.sum())
        if n_cases in (0, n):
            raise NullModelError(f"the binary trait has one class only ({n_cases} cases, {n - n_cases} controls)",
                                 fix="check the trait column and the sample selection")
    elif np.ptp(y) == 0:
        raise NullModelError("the trait is constant among the analysed samples", fix="check the trait column")
    # rank-revealing QR (column pivoting) on the standardised design
    scale = np.sqrt((X**2).sum(axis=0))
    _, r, piv = scipy.linalg.qr(X / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > RANK_TOL * diag[0]).sum())
    if rank < k:
        labels = ["intercept", *names]
        kept = np.sort(piv[:rank])
        groups = []
        for d in sorted(int(j) for j in piv[rank:]):
            coef = np.linalg.lstsq(X[:, kept] / scale[kept], X[:, d] / scale[d], rcond=None)[0]
            with_ = [labels[j] for j in kept[np.abs(coef) > 1e-6]]
            groups.append(f"{labels[d]} = a linear combination of {', '.join(with_)}")
        raise NullModelError(f"collinear covariates (design rank {rank} < {k} columns): {'; '.join(groups)}",
                             fix="leave one covariate of each such group out of --covariates")


def _orthonormal(A: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(A, mode="reduced")
    return q


def fit_null(y, X, *, binary: bool, covariate_names: list[str]) -> NullModel:
    """Fit the null model of a trait on its covariates.

    Parameters
    ----------
    y : (n,) float
        The trait (0/1 when `binary`).
    X : (n, k) float
        The design, intercept first (a column of 1), then the covariates in the order of `covariate_names`.
    binary : bool
        Logistic regression by IRLS (else ordinary least squares).
    covariate_names : list of str
        The k - 1 covariate names (used in the error messages and the summary).

    Raises
    ------
    NullModelError
        A constant or collinear covariate (named), a binary trait with one class or coded other than 0/1, a
        constant quantitative trait, n <= k, missing values.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    names = list(covariate_names)
    _check_design(y, X, names, binary)
    n, k = X.shape
    if not binary:
        q, r = np.linalg.qr(X, mode="reduced")
        coef = scipy.linalg.solve_triangular(r, q.T @ y)
        mu = X @ coef
        res = y - mu
        return NullModel("linear", n, k, y, X, names, mu, res, np.ones(n), float(res @ res / (n - k)),
                         None, None, True, 0, coef, q)
    coef, mu, converged, it = _irls(y, X)
    w = mu * (1.0 - mu)
    n_cases = int(y.sum())
    return NullModel("logistic", n, k, y, X, names, mu, y - mu, w, 1.0, n_cases, n - n_cases, converged, it,
                     coef, _orthonormal(X * np.sqrt(w)[:, None]))


def _irls(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, int]:
    """Logistic regression by iteratively reweighted least squares (each step a weighted least-squares solve).

    Converged when the deviance changes by less than IRLS_TOL (relative); one more Newton step then brings
    the score equations ``X^T (y - mu) = 0`` to round-off (the score tests rely on them).
    """
    ybar = y.mean()
    eta = np.full(len(y), np.log(ybar / (1 - ybar)))
    coef = np.zeros(X.shape[1])
    dev_old = np.inf
    done = False
    for it in range(1, IRLS_MAX_ITER + 1):
        mu = scipy.special.expit(eta)
        w = np.maximum(mu * (1.0 - mu), 1e-300)
        z = eta + (y - mu) / w
        sw = np.sqrt(w)
        coef = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        eta = X @ coef
        if done:
            return coef, scipy.special.expit(eta), True, it
        dev = 2.0 * float(np.sum(np.logaddexp(0.0, eta) - y * eta))
        done = abs(dev - dev_old) <= IRLS_TOL * (abs(dev) + 0.1)
        dev_old = dev
    return coef, scipy.special.expit(eta), False, IRLS_MAX_ITER
