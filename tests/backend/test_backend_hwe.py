"""The HWE exact test on every backend: exact enumeration, the NumPy twin, real counts and plink2 --hardy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from backend_oracles import hwe_enumerate

from gdbtools.backend import hwe_exact_unique, twins

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hwe_counts_hardyweinberg_pkg"


def _hwe(backend, het, hom1, hom2, unique=False):
    xp = backend.xp
    args = [xp.asarray(np.asarray(a, dtype=np.int64)) for a in (het, hom1, hom2)]
    res = (backend.hwe_exact_unique if unique else backend.hwe_exact)(*args)
    return [r.get() if hasattr(r, "get") else np.asarray(r) for r in res]


def _all_triples(max_n: int) -> np.ndarray:
    return np.array([(a, b, n - a - b) for n in range(max_n + 1) for a in range(n + 1) for b in range(n + 1 - a)])


def _assert_matches_enumeration(got, triples, rtol=1e-9):
    want = np.array([hwe_enumerate(*map(int, t)) for t in triples])
    for j, name in enumerate(("p", "p_midp", "p_het_excess", "p_het_excess_midp")):
        np.testing.assert_allclose(got[j], want[:, j], rtol=rtol, atol=0, err_msg=name)


def test_hwe_exact__matches_exact_enumeration_for_every_small_triple(backend):
    triples = _all_triples(16)  # every (het, hom1, hom2) with n <= 16: 969 triples, all ties included
    _assert_matches_enumeration(_hwe(backend, *triples.T), triples)


def test_hwe_exact__matches_twin_bit_for_bit(backend, rng):
    n = rng.integers(1, 60_000, size=3000)
    q = rng.beta(0.3, 3, size=3000)
    het = rng.binomial(n, 2 * q * (1 - q) * rng.uniform(0.5, 1.3, size=3000).clip(0, 1 / (2 * q * (1 - q) + 1e-9)))
    het = np.minimum(het, n)
    hom2 = rng.binomial(n - het, q ** 2 / (1 - 2 * q * (1 - q) + 1e-12))
    hom1 = n - het - hom2
    got = _hwe(backend, het, hom1, hom2)
    want = twins.hwe_exact(het, hom1, hom2)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("triple", [
    (0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (1, 1, 0), (7, 0, 0), (40, 0, 0), (0, 20, 20),
    (1, 59_999, 0), (2, 59_998, 0), (0, 59_999, 1), (0, 59_998, 2), (3, 59_997, 0), (1, 59_998, 1),
    (10, 59_990, 0), (0, 59_990, 10), (25, 59_975, 0), (2, 59_990, 8), (0, 60_000, 0), (1_500, 0, 0),
    (700, 400, 400),
])
def test_hwe_exact__known_tricky_triples(backend, triple):
    got = _hwe(backend, *([t] for t in triple))
    _assert_matches_enumeration([g for g in got], np.array([triple]), rtol=1e-8)


def test_hwe_exact__monomorphic_and_empty_give_p_one(backend):
    p, p_midp, exc, exc_midp = _hwe(backend, [0, 0, 0, 0], [0, 100, 0, 60_000], [0, 0, 100, 0])
    np.testing.assert_array_equal(p, 1.0)
    np.testing.assert_array_equal(exc, 1.0)
    np.testing.assert_array_equal(p_midp, 0.5)  # as plink2 --hardy midp (and Hail) report them
    np.testing.assert_array_equal(exc_midp, 0.5)


def test_hwe_exact__midp_differs_from_p_by_half_the_ties(backend):
    triples = _all_triples(12)
    triples = triples[triples.sum(axis=1) > 0]
    p, p_midp, exc, exc_midp = _hwe(backend, *triples.T)
    enum = np.array([hwe_enumerate(*map(int, t)) for t in triples])
    assert (p_midp < p).all()  # the observed table always counts as a tie
    np.testing.assert_allclose(p - p_midp, enum[:, 0] - enum[:, 1], rtol=1e-9, atol=1e-15)
    assert (exc_midp < exc).all()
    # one-sided: exactly half the probability of the observed count
    half_obs = exc - exc_midp
    np.testing.assert_allclose(half_obs, enum[:, 2] - enum[:, 3], rtol=1e-9, atol=1e-15)
    # some of these tables tie with another het count: there the mid-p removes half of both
    assert (np.abs((p - p_midp) - 0.5 * (exc - exc_midp) * 2) > 1e-12).any()


def test_hwe_exact_unique__scatters_back_and_uses_symmetry(backend, rng):
    het = rng.integers(0, 5, size=500)
    hom1 = rng.integers(0, 5, size=500)
    hom2 = rng.integers(0, 5, size=500)
    full = _hwe(backend, het, hom1, hom2)
    uniq = _hwe(backend, het, hom1, hom2, unique=True)
    swapped = _hwe(backend, het, hom2, hom1, unique=True)
    for f, u, s in zip(full, uniq, swapped):
        np.testing.assert_array_equal(f, u)
        np.testing.assert_array_equal(f, s)
    module_level = hwe_exact_unique(backend.xp.asarray(het), backend.xp.asarray(hom1), backend.xp.asarray(hom2),
                                    backend=backend)
    np.testing.assert_array_equal(full[0], module_level.p.get() if hasattr(module_level.p, "get") else module_level.p)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not present")
def test_hwe_exact__real_counts_hardyweinberg_pkg(backend):
    import pandas as pd
    chb = pd.read_csv(DATA / "HapMapCHBChr1_225snps_counts.tsv", sep="\t")
    ceu = pd.read_csv(DATA / "CEUchr22_genotype_counts.tsv", sep="\t")
    triples = np.unique(np.concatenate([chb[["AB", "AA", "BB"]].to_numpy(),
                                        ceu[["n1", "n0", "n2"]].to_numpy()]), axis=0)
    _assert_matches_enumeration(_hwe(backend, *triples.T), triples)


def _write_bed(path: Path, triples: np.ndarray, n_samples: int, rng) -> None:
    """A PLINK 1 .bed/.bim/.fam whose variant v has the counts triples[v] = (het, hom_a1, hom_a2)."""
    v = len(triples)
    codes = np.full((v, n_samples), 0b01, np.uint8)  # missing
    for i, (het, h1, h2) in enumerate(triples):
        row = np.r_[np.full(het, 0b10), np.full(h1, 0b00), np.full(h2, 0b11)].astype(np.uint8)
        codes[i, :row.size] = rng.permutation(row)
    nb = -(-n_samples // 4)
    padded = np.zeros((v, nb * 4), np.uint8)
    padded[:, :n_samples] = codes
    q = padded.reshape(v, nb, 4)
    body = (q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)).astype(np.uint8)
    path.with_suffix(".bed").write_bytes(bytes([0x6C, 0x1B, 0x01]) + body.tobytes())
    path.with_suffix(".bim").write_text("".join(f"1\tv{i}\t0\t{i + 1}\tA\tG\n" for i in range(v)))
    path.with_suffix(".fam").write_text("".join(f"s{i}\ts{i}\t0\t0\t0\t-9\n" for i in range(n_samples)))


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed")
def test_hwe_exact__matches_plink2_hardy(backend, rng, tmp_path):
    n = 6000
    rare = [(h, n - h - a, a) for h, a in [(1, 0), (0, 1), (2, 0), (5, 3), (30, 1), (0, 12), (17, 9)]]
    q = rng.uniform(0.02, 0.5, size=150)
    het = np.round(n * 2 * q * (1 - q) * rng.uniform(0.6, 1.2, size=150)).astype(int)
    hom2 = np.minimum(np.round(n * q * q).astype(int), n - het)
    triples = np.array(rare + [(0, n, 0), (n, 0, 0)] + list(zip(het, n - het - hom2, hom2)))
    bed = tmp_path / "t"
    _write_bed(bed, triples, n, rng)
    for modifier, column in (([], 0), (["midp"], 1)):
        out = tmp_path / f"h{column}"
        subprocess.run(["plink2", "--bfile", str(bed), "--hardy", *modifier, "--out", str(out), "--silent",
                        "--threads", "1"], check=True, capture_output=True)
        import pandas as pd
        table = pd.read_csv(out.with_suffix(".hardy"), sep="\t")
        got = _hwe(backend, table["HET_A1_CT"], table["HOM_A1_CT"], table["TWO_AX_CT"])[column]
        want = table.iloc[:, -1].to_numpy()  # P or MIDP, printed with 6 significant digits
        np.testing.assert_allclose(got, want, rtol=6e-6, atol=1e-300)
