"""Attacks on public releases of real cohorts that must fail to recover any count of 1-4.

The attacker holds the public release files (read back from disk). The truth is the controlled release of the
same store (every count exact; equal to bcftools +fill-tags, tests/release/test_release_files.py). Each attack
computes every exact count it can, checks that its derivations are right (so the attack is real), and the
test asserts that none of them is a count of 1-4. The same attacks on the controlled release do recover such
counts: the negative controls show that the tests can fail.
"""

from __future__ import annotations

import gzip
import itertools
import re

import numpy as np
import pandas as pd
import pytest
import release_helpers as rh
from release_helpers import export_opts

K = 5
FIELDS = {"AC": "AC", "het": "AC_Het", "hom": "AC_Hom", "hemi": "AC_Hemi", "nhomalt": "nhomalt"}


def _value(t: pd.DataFrame, name: str, sfx: str) -> np.ndarray:
    """A published count as float (NaN where withheld); ``hom`` is AC_Hom / 2 (people)."""
    col = f"{FIELDS[name]}{sfx}"
    if col not in t.columns:
        return np.full(len(t), np.nan)
    v = t[col].to_numpy(dtype=float, na_value=np.nan)
    return v / 2 if name == "hom" else v


def _small(v: np.ndarray) -> np.ndarray:
    return ~np.isnan(v) & (v >= 1) & (v < K)


def _strata(meta: dict) -> list[dict]:
    return [s for s in meta["strata"] if s["published"]]


def _derivations(pub: pd.DataFrame, meta: dict) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Every exact count the attacker derives by subtraction: (what, field, value (V,), label set (V,) of atoms).

    Published counts themselves; total minus all groups of a stratum (its remainder); total minus one group
    (its complement); a group of one stratum minus the groups of another that it contains (a combination's
    parts); the difference of two strata's remainders. Returned with a description for messages.
    """
    out = []
    strata = _strata(meta)
    for name in FIELDS:
        total = _value(pub, name, "")
        out.append(("total", name, total, None))
        for s in strata:
            groups = np.stack([_value(pub, name, f"_{g}") for g in s["groups"]], axis=1)
            out += [(f"group {g}", name, groups[:, i], None) for i, g in enumerate(s["groups"])]
            out.append((f"remainder of {s['stratum']}", name, total - groups.sum(axis=1), None))
            out += [(f"complement of {g}", name, total - groups[:, i], None) for i, g in enumerate(s["groups"])]
        for a, b in itertools.permutations(strata, 2):
            if set(a["columns"]) < set(b["columns"]):  # b's groups are parts of a's
                for g in a["groups"]:
                    parts = [h for h in b["groups"] if _contains(meta, a, g, h)]
                    if parts:
                        value = _value(pub, name, f"_{g}") - sum(_value(pub, name, f"_{h}") for h in parts)
                        out.append((f"{g} minus its published parts", name, value, None))
            if a["stratum"] < b["stratum"]:
                ra = total - np.stack([_value(pub, name, f"_{g}") for g in a["groups"]], axis=1).sum(axis=1)
                rb = total - np.stack([_value(pub, name, f"_{g}") for g in b["groups"]], axis=1).sum(axis=1)
                out.append((f"remainder of {a['stratum']} minus that of {b['stratum']}", name, ra - rb, None))
    return out


def _contains(meta: dict, coarse: dict, g: str, fine_label: str) -> bool:
    groups = {x["label"]: x for x in meta["groups"]}
    return all(groups[fine_label].get(c) == groups[g].get(c) for c in coarse["columns"])


@pytest.fixture(scope="module")
def kg22_public(kg22_releases):
    import json

    path = kg22_releases["public_parquet"]
    return pd.read_parquet(path), json.loads(path.with_name(path.name + ".meta.json").read_text())["release"]


@pytest.fixture(scope="module")
def hm_public(hm_releases):
    from gdbtools.release import read_release

    return read_release(hm_releases["public"])


@pytest.fixture(scope="module")
def kg22_truth(kg22):
    from gdbtools.release import build_release

    release, _ = build_release(kg22, export_opts(tier="controlled", by=("Population", "Gender")), progress=False)
    return release.table


def _truth_of(truth: pd.DataFrame, what: str, name: str, meta: dict) -> np.ndarray | None:
    """The true value of a derivation where it is a group (a published one, or the total)."""
    if what == "total":
        return _value(truth, name, "")
    if what.startswith("group "):
        return _value(truth, name, f"_{what[6:]}")
    return None


@pytest.mark.parametrize("which", ["kg22", "hm"])
def test_attack__subtracting_strata_from_totals_recovers_no_count_of_1_to_4(which, kg22_public, hm_public,
                                                                            kg22_truth, hm):
    pub, meta = kg22_public if which == "kg22" else hm_public
    derived = _derivations(pub, meta)
    assert len(derived) > 50 and any(s["stratum"].count("+") for s in _strata(meta)) == (which == "hm")
    learned = 0
    for what, name, value, _ in derived:
        assert not _small(value).any(), f"{what} {name} gives a count of 1-4 at {np.flatnonzero(_small(value))[:5]}"
        learned += int((~np.isnan(value)).sum())
    assert learned > 100_000  # the attacker does learn a lot of (safe) counts
    if which == "kg22":  # the derivations are right: published values are the true counts
        for what, name, value, _ in derived:
            true = _truth_of(kg22_truth, what, name, meta)
            if true is not None:
                ok = ~np.isnan(value)
                np.testing.assert_array_equal(value[ok], true[ok], f"{what} {name}")


def test_attack__subtracting_strata__succeeds_on_the_controlled_release(kg22_truth, kg22_releases):
    """Negative control: the same attack on the controlled tier recovers thousands of counts of 1-4."""
    import json

    path = kg22_releases["controlled"]
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())["release"]
    hits = sum(int(_small(value).sum()) for _, _, value, _ in _derivations(kg22_truth, meta))
    assert hits > 10_000


def test_attack__an_and_af_together_do_not_give_a_banded_ac(kg22_public, kg22_truth, kg22_releases):
    pub, _ = kg22_public
    band = pub["AC_band"].notna().to_numpy()
    af, an = pub["AF"].to_numpy(float), pub["AN"].to_numpy(float)
    assert band.sum() > 5000 and pub["AF_upper"].to_numpy()[band].all() and not pub["AF_upper"].to_numpy()[~band].any()
    np.testing.assert_allclose(af[band] * an[band], K - 1, rtol=1e-12)  # the bound, whatever the true AC
    true_ac = kg22_truth["AC"].to_numpy(np.int64)[band]
    assert set(true_ac) == {1, 2, 3, 4}
    # rows of one AN: the same AF for every true AC of the band
    for value in np.unique(an[band]):
        rows = an[band] == value
        assert len(np.unique(af[band][rows])) == 1
    # the VCF's printed AF: AF x AN rounds to 4 on every banded row
    vcf = rh.query(kg22_releases["public_vcf"], ["AF", "AN", "AC_band"])
    vb = vcf["AC_band"].notna().to_numpy()
    assert vb.sum() == band.sum()
    assert (np.rint(vcf["AF"].to_numpy(float)[vb] * vcf["AN"].to_numpy(float)[vb]) == K - 1).all()
    # per group: an AF is published only beside its AC
    for c in (c for c in pub.columns if c.startswith("AF_") and c != "AF_upper"):
        assert (pub[c].isna() == pub["AC_" + c[3:]].isna()).all(), c


def _parts(pub: pd.DataFrame, name: str, stratum: dict, total: np.ndarray) -> np.ndarray:
    """(V, G + 1): the published groups of a stratum and its remainder (last)."""
    g = np.stack([_value(pub, name, f"_{x}") for x in stratum["groups"]], axis=1)
    return np.concatenate([g, (total - g.sum(axis=1))[:, None]], axis=1)


def _frechet(a: np.ndarray, b: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(0, a + b - total), np.minimum(a, b)


@pytest.mark.parametrize("which", ["kg22", "hm"])
def test_attack__combining_two_strata_columns_pins_no_count_of_1_to_4(which, kg22_public, hm_public, kg22_truth,
                                                                      hm):
    """Two published strata (Population and Gender) bound each cross cell (Frechet); none is pinned to 1-4.

    The groups of each stratum and its remainder are crossed; a cross cell is pinned when its bounds meet.
    """
    pub, meta = kg22_public if which == "kg22" else hm_public
    single = [s for s in _strata(meta) if len(s["columns"]) == 1]
    assert len(single) == 2
    a, b = single
    pinned = checked = 0
    for name in FIELDS:
        total = _value(pub, name, "")

        pa, pb = (_parts(pub, name, s, total) for s in (a, b))
        for i, j in itertools.product(range(pa.shape[1]), range(pb.shape[1])):
            lo, hi = _frechet(pa[:, i], pb[:, j], total)
            ok = ~np.isnan(lo) & ~np.isnan(hi)
            checked += int(ok.sum())
            exact = ok & (lo == hi)
            pinned += int(exact.sum())
            assert not _small(np.where(exact, lo, np.nan)).any(), (name, i, j)
    assert checked > 10_000 and pinned > 0  # the attack pins some cells (to 0 or >= 5)


def _row_views(het, hom, hemi, k):
    """What a public row shows of each (het, hom, hemi): exact values, bands or nothing, and AF."""
    from gdbtools.release import privacy as pv

    cells = {"AC": het + 2 * hom + hemi, "AC_Het": het, "AC_Hom": 2 * hom, "AC_Hemi": hemi, "nhomalt": hom + hemi}
    row = pv.row_rule(cells, np.full(len(het), 10_000), k)
    views = []
    for i in range(len(het)):
        view = []
        for f in pv.CELL_FIELDS:
            v = row.values[f][i]
            view.append("band" if f in row.band and row.band[f][i] else "?" if pd.isna(v) else int(v))
        views.append((tuple(view), round(float(row.af[i]), 12)))
    return cells, views


@pytest.mark.parametrize("k", [4, 5, 6, 10])
@pytest.mark.parametrize("contig", ["autosome", "chrX"])
def test_attack__linked_counts_of_a_row_pin_nothing(contig, k):
    """Every row of het, hom and hemi counts 0-14: the attacker takes every (het, hom, hemi) that shows the
    same (exact values, bands, withheld cells, AF, AN), by brute force; no count of 1 to k-1 is left with one
    value. On an autosome the attacker also knows there is no hemizygote (AN = 2 NS)."""
    top = 60  # AC of the rows is at most 56; every candidate that shows the same AC lies below this
    rng = range(top) if contig == "chrX" else range(1)
    cand = np.array([c for c in itertools.product(range(top), range(top // 2), rng) if c[0] + 2 * c[1] + c[2] < top])
    cells, views = _row_views(*cand.T, k)
    by_view: dict = {}
    for i, view in enumerate(views):
        by_view.setdefault(view, []).append(i)
    truth = (cand[:, 0] < 15) & (cand[:, 1] < 15) & (cand[:, 2] < 15)
    people = {"AC": cells["AC"], "het": cells["AC_Het"], "hom": cells["AC_Hom"] // 2, "hemi": cells["AC_Hemi"],
              "nhomalt": cells["nhomalt"]}
    recovered, small_true = [], 0
    for i in np.flatnonzero(truth):
        same = by_view[views[i]]
        for f, v in people.items():
            if 1 <= v[i] < k:
                small_true += 1
                if len(set(v[same])) == 1:
                    recovered.append((f, tuple(cand[i]), views[i]))
    assert not recovered, recovered[:5]
    assert small_true > 100
    assert any("band" in v[0][1:] for v in views) == (k >= 5)  # nhomalt / AC_Hemi bands are shown (k >= 5)


def test_attack__differencing_two_releases_is_refused(kg22, tmp_path):
    """v1 without four samples, v2 with them: v2 is refused; had it been published, differencing would have
    shown those four people's counts. A v2 of the same cohort, or of more variants, passes.

    On 22:16-24 Mb (3,707 of the 19,773 variants: every release here is built a dozen times; the rule compares
    the two releases cell by cell, whatever their length)."""
    from gdbtools.release import ReleaseRefused, build_release, export, read_release
    from gdbtools.release.privacy import release_difference_rule

    by = ("Population", "Gender")
    cohort = kg22.select(region="22:16000000-24000000")
    mask = np.ones(kg22.n_samples, dtype=bool)
    mask[[3, 400, 700, 1000]] = False
    v1 = tmp_path / "v1.parquet"
    export(cohort.select(samples=mask), export_opts(tier="public", by=by, release_version="v1"), v1, progress=False)
    for fmt in ("vcf.gz", "tsv.gz"):
        export(cohort.select(samples=mask), export_opts(tier="public", by=by, release_version="v1"),
               tmp_path / f"v1.{fmt}", progress=False)
    for prev in (v1, tmp_path / "v1.vcf.gz", tmp_path / "v1.tsv.gz"):
        with pytest.raises(ReleaseRefused, match="differencing the two would isolate a few people"):
            export(cohort, export_opts(tier="public", by=by, release_version="v2", previous_release=str(prev)),
                   tmp_path / "v2.parquet", progress=False)
        assert not (tmp_path / "v2.parquet").exists()
    # what v2 would have let an attacker compute: differences of 1-4 people, and they are the truth
    v2, _ = build_release(cohort, export_opts(tier="public", by=by, release_version="v2"), progress=False)
    old, _ = read_release(v1)
    diffs = release_difference_rule(v2.table, old, K)
    halve = np.where(diffs["column"].str.startswith("AC_Hom").to_numpy(dtype=bool), 2, 1)
    assert len(diffs) > 100 and ((diffs["new"] - diffs["old"]).abs() // halve).between(1, 4).all()
    truth4, _ = build_release(cohort.select(samples=~mask), export_opts(tier="controlled"), progress=False)
    ac_rows = diffs[diffs["column"] == "AC"]
    four = truth4.table.set_index(["contig", "pos", "ref", "alt"])["AC"]
    got = four.loc[list(zip(ac_rows["contig"], ac_rows["pos"], ac_rows["ref"], ac_rows["alt"]))].to_numpy()
    np.testing.assert_array_equal(got, (ac_rows["new"] - ac_rows["old"]).to_numpy())
    # the same cohort again under a new version, and a later release with more variants: safe, published
    same = export(cohort.select(samples=mask), export_opts(tier="public", by=by, release_version="v2",
                                                           previous_release=str(v1)), tmp_path / "v2s.parquet",
                  progress=False)
    assert same["version"] == "v2"
    part = tmp_path / "p1.vcf.gz"
    first = export(kg22.select(region="22:16000000-20000000"), export_opts(tier="public", by=by, release_version="p1"),
                   part, progress=False)
    grown = export(cohort, export_opts(tier="public", by=by, release_version="p2", previous_release=str(part)),
                   tmp_path / "p2.vcf.gz", progress=False)
    assert first["n_variants"] == 1_641 and grown["n_variants"] == cohort.n_variants == 3_707
    with pytest.raises(ReleaseRefused, match="already published"):
        export(cohort, export_opts(tier="public", by=by, release_version="p1", previous_release=str(part)),
               tmp_path / "p3.vcf.gz", progress=False)


def test_every_export__contains_no_sample_id(kg22, hm, kg22_releases, hm_releases, data_dir):
    """Every file of every release (VCF text and index, Parquet values and metadata, TSV, sidecars)."""
    from release_helpers import KG22

    files = [p for d in {p.parent for p in [*kg22_releases.values(), *hm_releases.values()]} for p in d.iterdir()]
    assert {p.name.split(".", 1)[1] for p in files} >= {"vcf.gz", "vcf.gz.tbi", "vcf.gz.meta.json", "parquet",
                                                        "parquet.meta.json", "tsv.gz", "tsv.gz.meta.json"}
    ids = {*kg22.store.samples["sample_id"].astype(str), *hm.store.samples["sample_id"].astype(str)}
    assert min(map(len, ids)) >= 6 and all(re.fullmatch(r"[A-Za-z0-9._\-]+", i) for i in ids)
    for path in files:
        text = rh.every_text(path)
        assert len(text) > 1000
        found = _substrings_in(text, ids)
        assert not found, f"{path.name} holds sample ids: {sorted(found)[:3]}"
    with gzip.open(data_dir / KG22) as fh:  # the VCF's header: the search does find the ids
        assert len(_substrings_in(fh.read(200_000).decode("latin-1"), ids)) == 1092


def _substrings_in(text: str, ids: set[str]) -> set[str]:
    """The ids that occur anywhere in ``text`` (as substrings: an id lies inside one run of its characters)."""
    lengths = sorted({len(i) for i in ids})
    found = set()
    for run in set(re.split(r"[^A-Za-z0-9._\-]+", text)):
        for n in lengths:
            for start in range(len(run) - n + 1):
                if run[start:start + n] in ids:
                    found.add(run[start:start + n])
    return found
