"""The privacy guard of a release: pure functions over count tables, one rule per function.

Being in the frequency database means being a patient, and trios put relatives in it, so what a release
publishes must not isolate a few people. The guard works on *count tables* only (per variant and sample group:
AC, AC_Het, AC_Hom, AC_Hemi, nhomalt, AN, NS); it never sees genotypes. The rules, their tiers and their
encodings are written out in ``docs/RELEASE.md`` and, for each release, in its metadata (:func:`rules`).

Sensitive cells are counts of carriers: ``AC`` (alleles), ``AC_Het`` (het people), ``AC_Hom / 2`` (hom-alt
people on diploid loci), ``AC_Hemi`` (hemizygous people) and ``nhomalt`` (``AC_Hom / 2 + AC_Hemi``). A cell is
*small* when ``1 <= count < k`` (``k = min_cell``, default 5); AN and NS count called alleles and people, not
carriers, and are published.

- :func:`row_rule` (public tier): a row's small counts become the band ``"1-4"`` and nothing published beside
  them lets the exact value be derived (AF as an upper bound, linked counts withheld, HWE/ExcHet withheld);
- :func:`partition_rule`: a stratum (all groups of one grouping, e.g. every population) is published at a
  variant only where every cell of each group and of the remainder (total minus the published groups) is 0 or
  ``>= k`` -- complementary suppression;
- :func:`group_size_rule`: groups below ``min_group_size`` samples are not published, nor is a remainder
  (total minus the published groups) that small: the smallest published groups join it;
- :func:`denied_columns`: strata by denied columns (age, region, indication, hospital) are refused;
- :func:`release_difference_rule`: a new public release is refused where a published count differs from the
  previous release's by 1 to k-1;
- :func:`sample_ids_in`: no sample id in any text of a release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..optionsets import DEFAULT_DENY

__all__ = ["TIERS", "DEFAULT_DENY", "CELL_FIELDS", "Policy", "RowOutcome", "small", "band_label", "row_rule",
           "partition_rule", "group_size_rule", "band_min_ac", "denied_columns", "release_difference_rule",
           "people_counts", "published_counts", "sample_ids_in", "rules"]

TIERS = ("public", "registered", "controlled")
#: the count fields of a row that the guard reads (per group: ``<field>_<label>``)
CELL_FIELDS = ("AC", "AC_Het", "AC_Hom", "AC_Hemi", "nhomalt")


@dataclass(frozen=True)
class Policy:
    """The thresholds of the guard and the tier they apply to.

    ``min_cell`` (k): counts of 1 to k-1 are small; ``min_group_size``: the fewest samples a published group
    (and a stratum's remainder) may have; ``deny``: sample columns no public stratum may use.
    """

    tier: str
    min_cell: int = 5
    min_group_size: int = 20
    deny: tuple[str, ...] = field(default=DEFAULT_DENY)

    @property
    def bands(self) -> bool:
        """Small counts of the whole selection shown as a band (public tier)."""
        return self.tier == "public"

    @property
    def suppresses(self) -> bool:
        """Complementary suppression of strata and the group-size rule (public and registered tiers)."""
        return self.tier in ("public", "registered")

    @property
    def denies(self) -> bool:
        """The deny list of strata columns applies (public tier)."""
        return self.tier == "public"

    @property
    def frozen(self) -> bool:
        """A release version is required and a previous release is compared (public tier)."""
        return self.tier == "public"


def small(x: np.ndarray, k: int) -> np.ndarray:
    """``(...) bool``: counts of 1 to ``k - 1`` (the cells that may not be published exactly)."""
    x = np.asarray(x)
    return (x > 0) & (x < k)


def band_label(k: int) -> str:
    """The band a small count is shown as: ``"1-4"`` for ``k = 5``."""
    return f"1-{k - 1}"


def band_min_ac(k: int) -> int | None:
    """The smallest AC beside which a small nhomalt or AC_Hemi is shown as the band (see :func:`row_rule`).

    ``2k + 3``: below it, whether the band is there pins the het count. For ``k < 5`` the small het counts of
    one parity are a single value (k = 4: het 2 for an even AC), so no band is shown at all (``None``).
    """
    return 2 * k + 3 if k >= 5 else None


def people_counts(cells: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The carrier counts the rules test: AC (alleles), AC_Het, hom (``AC_Hom // 2``), AC_Hemi, nhomalt."""
    return {"AC": cells["AC"], "AC_Het": cells["AC_Het"], "hom": np.asarray(cells["AC_Hom"]) // 2,
            "AC_Hemi": cells["AC_Hemi"], "nhomalt": cells["nhomalt"]}


@dataclass
class RowOutcome:
    """What :func:`row_rule` publishes for each row of one group (arrays of shape ``(V,)``).

    ``values``: field -> published counts as a pandas ``Int32`` array (``<NA>``: withheld); ``band``: field ->
    bool (the count is small and shown as the band); ``af`` (float64, NaN where AN is 0) and ``af_upper``
    (bool: ``af`` is an upper bound, ``(k-1)/AN``); ``exact``: every count of the row is published exactly
    (then HWE and ExcHet may be published).
    """

    values: dict[str, pd.arrays.IntegerArray]
    band: dict[str, np.ndarray]
    af: np.ndarray
    af_upper: np.ndarray
    exact: np.ndarray


def published_counts(x: np.ndarray, withheld: np.ndarray) -> pd.arrays.IntegerArray:
    """``(V,) Int32``: the counts ``x`` with ``<NA>`` where ``withheld``."""
    return pd.arrays.IntegerArray(np.asarray(x, dtype=np.int32), np.asarray(withheld, dtype=bool))


def row_rule(cells: Mapping[str, np.ndarray], an: np.ndarray, k: int) -> RowOutcome:
    """The public tier's rule for the rows of one group (the whole selection): bands, and nothing to derive them.

    Parameters
    ----------
    cells : mapping of (V,) int
        ``AC``, ``AC_Het``, ``AC_Hom``, ``AC_Hemi``, ``nhomalt`` of the group.
    an : (V,) int
    k : int
        The minimum cell size.

    The counts of a row are tied: ``AC = AC_Het + AC_Hom + AC_Hemi`` and ``nhomalt = AC_Hom / 2 + AC_Hemi``,
    so banding one count alone would let the others give it back. Where no count is small the row is exact.
    Otherwise:

    1. AC small: AC is the band, AF the upper bound ``(k-1)/AN``, and AC_Het, AC_Hom, AC_Hemi and nhomalt are
       withheld (even zeros: with AC <= 4 a zero or a band beside it can pin the rest, e.g. AC 1-4 with
       het and hom both 1-4 forces hom = 1);
    2. AC >= k: AC and AF are exact; AC_Het, AC_Hom, AC_Hemi and nhomalt are withheld, and nhomalt and AC_Hemi
       are shown as the band where they are small and AC >= :func:`band_min_ac` (2k + 3). An exact nhomalt or
       AC_Hemi beside AC would give the rest (on an autosome AC_Hemi is 0, so ``hom = nhomalt`` and
       ``het = AC - 2 hom``). Which cells carry a band is itself seen: at AC 11, a row without the nhomalt
       band has hom 0 or >= 5, and het small, so het + 2 hom = 11 leaves only het 1, hom 5. From AC 2k + 3 on,
       every such view keeps two possible values at least (het 1 or 3, or 2 or 4, by the parity of AC).

    ``tests/release/test_privacy_attacks.py`` checks by brute force, over every row of het, hom and hemi
    counts 0-14 (k = 4, 5, 6, 10; autosomes and chrX), that nothing this shows leaves a count of 1 to k-1
    with a single possible value.

    AN is published (it counts called alleles, not carriers); the upper bound ``(k-1)/AN`` is the same for
    every AC of the band, so AN and AF together do not give AC.
    """
    pc = {name: np.asarray(v, dtype=np.int64) for name, v in people_counts(cells).items()}
    ac, an = pc["AC"], np.asarray(an, dtype=np.int64)
    any_small = np.zeros(ac.shape, dtype=bool)
    for v in pc.values():
        any_small |= small(v, k)
    ac_small = small(ac, k)
    rest = any_small & ~ac_small  # rule 2 rows
    threshold = band_min_ac(k)
    may_band = rest & (ac >= threshold) if threshold is not None else np.zeros(ac.shape, dtype=bool)
    band = {"AC": ac_small, "nhomalt": may_band & small(pc["nhomalt"], k),
            "AC_Hemi": may_band & small(pc["AC_Hemi"], k)}
    withheld = {f: any_small for f in CELL_FIELDS}
    withheld["AC"] = ac_small
    values = {name: published_counts(np.asarray(cells[name]), withheld[name]) for name in CELL_FIELDS}
    with np.errstate(invalid="ignore", divide="ignore"):
        exact_af = np.where(an > 0, ac / np.where(an > 0, an, 1), np.nan)
        upper = np.where(an > 0, (k - 1) / np.where(an > 0, an, 1), np.nan)
    af = np.where(ac_small, upper, exact_af)
    return RowOutcome(values=values, band=band, af=af, af_upper=ac_small.copy(), exact=~any_small)


def partition_rule(groups: Mapping[str, np.ndarray], total: Mapping[str, np.ndarray], k: int) -> np.ndarray:
    """Complementary suppression: ``(V,) bool``, where one stratum may be published.

    Parameters
    ----------
    groups : mapping of (V, G) int
        The cells (:data:`CELL_FIELDS`) of the G published groups of one stratum (e.g. every population).
    total : mapping of (V,) int
        The same cells of the whole selection.
    k : int

    A stratum is published at a variant only where every cell of every group, and of every group's
    complement (total minus the group), and of the remainder (total minus all published groups: samples
    with no value in the column, and groups too small to publish) is 0 or ``>= k``. Otherwise its groups are
    withheld there and only the total is published: with one group withheld and the others published, the
    total minus the others would give it back.
    """
    g_people = people_counts(groups)
    t_people = people_counts(total)
    ok = None
    for name, cell in g_people.items():
        cell = np.asarray(cell, dtype=np.int64)
        tot = np.asarray(t_people[name], dtype=np.int64)
        bad = small(cell, k).any(axis=1) | small(tot[:, None] - cell, k).any(axis=1) \
            | small(tot - cell.sum(axis=1), k)
        ok = ~bad if ok is None else ok & ~bad
    assert ok is not None
    return ok


def group_size_rule(sizes: np.ndarray, n_total: int, min_size: int, *, combination: bool = False
                    ) -> tuple[np.ndarray, bool]:
    """Which groups of one stratum may be published: ``(keep (G,) bool, stratum_ok)``.

    A group needs at least ``min_size`` samples (small ancestry groups are not published). The samples of a
    stratum in no kept group (the groups left out, and samples without a value) form its remainder, whose
    counts anyone can compute as the total minus the kept groups: so while the remainder has 1 to
    ``min_size - 1`` samples, the smallest kept group is left out too (complementary suppression of groups).
    ``stratum_ok`` is false when no group is left.

    ``combination``: the stratum crosses the other strata's columns (``Population+Gender``). Its groups are
    parts of theirs, so a left-out part would follow from a published group minus its published parts
    (``AC_ASW - AC_ASW_female``), and the remainder's parts by sex from ``AC_male`` minus the published
    ``*_male`` groups: a combination stratum is published only whole, every group at least ``min_size``
    and no sample without a value.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if combination:
        whole = bool(len(sizes)) and bool((sizes >= min_size).all()) and int(sizes.sum()) == int(n_total)
        return np.full(len(sizes), whole), whole
    keep = sizes >= min_size
    remainder = int(n_total) - int(sizes[keep].sum())
    for g in np.argsort(sizes, kind="stable"):
        if remainder == 0 or remainder >= min_size:
            break
        if keep[g]:
            keep[g] = False
            remainder += int(sizes[g])
    ok = bool(keep.any()) and (remainder == 0 or remainder >= min_size)
    return keep, ok


def denied_columns(columns: Iterable[str], deny: Iterable[str]) -> list[str]:
    """The grouping columns that the deny list names (compared case-insensitively)."""
    denied = {d.lower() for d in deny}
    return [c for c in columns if c.lower() in denied]


def release_difference_rule(new: pd.DataFrame, old: pd.DataFrame, k: int) -> pd.DataFrame:
    """Where a new release differs from the previous one by a small count: the cells that refuse it.

    Parameters
    ----------
    new, old : DataFrame
        Release tables (contig, pos, ref, alt and the published counts ``AC``, ``AC_<label>`` ...; ``<NA>``
        where withheld). Variants are matched by (contig, pos, ref, alt), columns by name.
    k : int

    Returns
    -------
    DataFrame
        contig, pos, ref, alt, column, old, new: one row per published count (in both releases) whose
        difference, counted in people (``AC_Hom`` halved), is 1 to ``k - 1`` in absolute value. Differencing
        two releases would isolate those few people. A count withheld or banded in either release is not a
        difference anyone can compute, and is not compared.
    """
    key = ["contig", "pos", "ref", "alt"]
    columns = [c for c in new.columns if c in old.columns and any(c == f or c.startswith(f + "_") for f in CELL_FIELDS)
               and not c.endswith("_band")]
    a = new[key + columns].assign(contig=new["contig"].astype(str))
    b = old[key + columns].assign(contig=old["contig"].astype(str))
    both = a.merge(b, on=key, suffixes=("_new", "_old"))
    found = []
    for c in columns:
        nv = both[f"{c}_new"].astype("Int64")
        ov = both[f"{c}_old"].astype("Int64")
        diff = (nv - ov).abs()
        if c == "AC_Hom" or c.startswith("AC_Hom_"):
            diff = diff // 2
        hit = diff.notna() & (diff >= 1) & (diff < k)
        hit = hit.fillna(False).to_numpy(dtype=bool)
        if hit.any():
            found.append(pd.DataFrame({**{x: both.loc[hit, x].to_numpy() for x in key}, "column": c,
                                       "old": ov[hit].to_numpy(), "new": nv[hit].to_numpy()}))
    if not found:
        return pd.DataFrame(columns=[*key, "column", "old", "new"])
    return pd.concat(found, ignore_index=True)


_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")


def sample_ids_in(text: str, ids: Iterable[str]) -> list[str]:
    """The sample ids that occur in ``text`` as whole tokens (letters, digits, ``_.-``)."""
    tokens = set(_TOKEN.findall(text))
    return sorted({str(i) for i in ids} & tokens)


def rules(policy: Policy) -> list[dict]:
    """The rules applied in ``policy``'s tier, as written into each release's metadata (and docs/RELEASE.md)."""
    k, band = policy.min_cell, band_label(policy.min_cell)
    out = [{"rule": "no_sample_level_data", "text": "no sample ids, genotypes or per-sample rows: only counts per "
            "variant and group; no sample id occurs in any file or header of the release"}]
    if policy.bands:
        out.append({"rule": "row_rule", "text": f"counts of the whole selection of 1 to {k - 1} are shown as the "
                    f"band '{band}': AC small -> AC band, AF the upper bound {k - 1}/AN (AF_upper), AC_Het, "
                    "AC_Hom, AC_Hemi, nhomalt withheld; AC >= k and another count small -> AC exact, AC_Het, "
                    "AC_Hom, AC_Hemi, nhomalt withheld, nhomalt and AC_Hemi shown as the band where small and "
                    f"AC >= {band_min_ac(k)}; HWE, "
                    "ExcHet and count-based FILTERs only on rows where every count is exact"})
    if policy.suppresses:
        out.append({"rule": "partition_rule", "text": f"a stratum is published at a variant only where every cell "
                    f"(AC, AC_Het, AC_Hom/2, AC_Hemi, nhomalt) of each group, of its complement and of the "
                    f"remainder (total minus the published groups) is 0 or >= {k}; otherwise only the total "
                    "(strata_withheld names the stratum)"})
        out.append({"rule": "group_size_rule", "text": f"groups of fewer than {policy.min_group_size} samples are "
                    "not published; while the samples in no published group of a stratum (its remainder, total "
                    f"minus the published groups) are 1 to {policy.min_group_size - 1}, the smallest published group "
                    "joins them; a combination of columns is published only whole (every group at least "
                    f"{policy.min_group_size} samples, every sample with a value)"})
    if policy.denies:
        out.append({"rule": "deny_list", "text": "no strata by the columns " + ", ".join(policy.deny)})
    if policy.frozen:
        out.append({"rule": "release_difference_rule", "text": f"a release version is required; a new release is "
                    f"refused where a published count differs from the previous release by 1 to {k - 1} people"})
    return out
