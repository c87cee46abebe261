"""Each rule of the privacy guard on real releases: it holds where it publishes and is needed where it withholds;
the requests a tier forbids are refused before any pass, with the fix."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from release_helpers import export_opts

K = 5


@pytest.fixture(scope="module")
def kg22_truth(kg22):
    from gdbtools.release import build_release

    return build_release(kg22, export_opts(tier="controlled", by=("Population", "Gender")), progress=False)[0].table


def _meta(path):
    return json.loads(path.with_name(path.name + ".meta.json").read_text())["release"]


def _people(t: pd.DataFrame, sfx: str) -> list[np.ndarray]:
    return [t[f"AC{sfx}"].to_numpy(np.int64), t[f"AC_Het{sfx}"].to_numpy(np.int64),
            t[f"AC_Hom{sfx}"].to_numpy(np.int64) // 2, t[f"AC_Hemi{sfx}"].to_numpy(np.int64),
            t[f"nhomalt{sfx}"].to_numpy(np.int64)]


def _small(x):
    return (x >= 1) & (x < K)


@pytest.mark.parametrize("tier", ["public_parquet", "registered"])
def test_partition_rule__published_strata_have_no_small_cell_and_withheld_ones_had_one(tier, kg22_releases,
                                                                                       kg22_truth):
    from gdbtools.release.vcf import read_vcf

    path = kg22_releases[tier]
    pub = pd.read_parquet(path) if path.suffix == ".parquet" else read_vcf(path)
    meta = _meta(path)
    strata = [s for s in meta["strata"] if s["published"]]
    assert [s["stratum"] for s in strata] == ["Population", "Gender"]
    n_published = 0
    for s in strata:
        withheld = pub["strata_withheld"].fillna("").str.split(",").apply(lambda x, n=s["stratum"]: n in x)
        withheld = withheld.to_numpy(dtype=bool)
        bad = np.zeros(len(pub), dtype=bool)
        for f, total in enumerate(_people(kg22_truth, "")):
            groups = np.stack([_people(kg22_truth, f"_{g}")[f] for g in s["groups"]], axis=1)
            bad |= _small(groups).any(axis=1) | _small(total[:, None] - groups).any(axis=1) \
                | _small(total - groups.sum(axis=1))
        np.testing.assert_array_equal(withheld, bad)  # withheld exactly where a cell is small
        for g in s["groups"]:
            assert pub.loc[withheld, f"AC_{g}"].isna().all() and pub.loc[~withheld, f"AC_{g}"].notna().all()
        n_published += int((~withheld).sum())
    assert n_published > 5000


def test_group_size_rule__small_groups_left_out_and_their_remainder_kept_large(kg22, kg22_releases):
    from gdbtools.release.privacy import group_size_rule

    meta = _meta(kg22_releases["public_parquet"])
    sizes = kg22.store.samples.groupby("Population").size()
    pop = next(s for s in meta["strata"] if s["stratum"] == "Population")
    left_out = sorted(set(sizes.index) - set(pop["groups"]))
    assert left_out == ["IBS", "PUR"]  # IBS has 14 samples; PUR, the smallest kept, joins it (69 >= 20)
    assert sizes[left_out].sum() >= 20 and (sizes[pop["groups"]] >= 20).all()
    combo = next(s for s in meta["strata"] if s["stratum"] == "Population+Gender")
    assert combo["published"] is False and "only whole" in combo["reason"]
    keep, ok = group_size_rule(np.array([30, 30, 30]), 95, 20)  # 5 samples without a value
    assert ok and keep.tolist() == [False, True, True]
    keep, ok = group_size_rule(np.array([30, 30]), 60, 20, combination=True)
    assert ok and keep.all()


def test_tiers__registered_exact_totals_controlled_everything(kg22_releases):
    from gdbtools.release.vcf import read_vcf

    reg, ctl = read_vcf(kg22_releases["registered"]), read_vcf(kg22_releases["controlled"])
    for t in (reg, ctl):
        assert t["AC"].notna().all() and t["AC_band"].isna().all() and t["nhomalt"].notna().all()
        assert not t["AF_upper"].any()
    assert reg["strata_withheld"].notna().sum() > 1000 and ctl["strata_withheld"].isna().all()
    assert _meta(kg22_releases["controlled"])["groups"][-1]["stratum"] == "Population+Gender"
    assert [r["rule"] for r in _meta(kg22_releases["controlled"])["policy"]] == ["no_sample_level_data"]


def test_filters__qc_outcomes_of_the_counts(kg22_releases, kg22_truth):
    pub = pd.read_parquet(kg22_releases["public_parquet"])
    ac0 = pub["filter"].str.contains("AC0").to_numpy(dtype=bool)
    np.testing.assert_array_equal(ac0, kg22_truth["AC"].to_numpy() == 0)
    exchet = pub["filter"].str.contains("ExcHet").to_numpy(dtype=bool)
    assert exchet.any() and pub.loc[exchet, "ExcHet"].notna().all() and (pub.loc[exchet, "ExcHet"] < 1e-6).all()
    truth_exchet = (kg22_truth["ExcHet"] < 1e-6).to_numpy(dtype=bool)
    assert (exchet <= truth_exchet).all()  # public: only where every count is exact
    assert not pub["filter"].str.contains("LowCallRate").any()  # the set has no missing calls
    assert (pub["F_MISSING"] == 0).all()


@pytest.mark.parametrize("opts, match", [
    (dict(tier="public", by=("Population",), release_version="1", deny=("population",)), "deny list"),
    (dict(tier="public", by=("Gender",), release_version="1", samples="sample_id != 'HG00096'"), "sample ids"),
    (dict(tier="public", by=("Gender",)), "needs a version"),
    (dict(tier="controlled", previous_release="x.vcf.gz"), "public releases only"),
])
def test_export__refuses_what_the_tier_forbids_before_the_pass(kg22, tmp_path, opts, match):
    from gdbtools.errors import GdbError
    from gdbtools.release import export

    with pytest.raises(GdbError, match=match) as info:
        export(kg22, export_opts(**opts), tmp_path / "r.vcf.gz", progress=False)
    assert info.value.fix and not (tmp_path / "r.vcf.gz").exists()
