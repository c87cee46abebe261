"""What a release contains: counts by the ``--by`` strata and QC outcomes as FILTERs, through the privacy guard.

:func:`build_release` runs one pass (frequencies by group and variant QC, :meth:`gdbtools.Cohort.compute`),
turns the frequency table into count tables per group, applies the rules of :mod:`.privacy` for the tier and
returns a :class:`Release`: one wide table, one row per variant, with the names of ``bcftools +fill-tags``
and gnomAD (``AC``, ``AN``, ``AF``, ``AC_Het``, ``AC_Hom``, ``AC_Hemi``, ``nhomalt``, ``NS``, ``HWE``, ``ExcHet``,
``F_MISSING``; per group ``AC_<label>`` ...), and its metadata. :func:`export` writes it as a sites-only VCF
(:mod:`.vcf`), Parquet or TSV, each with the provenance of :func:`gdbtools.outputs.provenance` plus the release
(version, tier, date, the rules applied) and a JSON sidecar, whole or not at all
(:func:`gdbtools.outputs.replacing`).

The release table (``docs/RELEASE.md``):

- ``contig``, ``pos``, ``ref``, ``alt``, ``filter`` (``PASS`` or ``;``-joined :data:`FILTERS`);
- the whole selection: ``AC``, ``AC_band`` (``"1-4"`` where AC is small, else null), ``AN``, ``AF``,
  ``AF_upper`` (AF is the upper bound ``(k-1)/AN``), ``AC_Het``, ``AC_Hom``, ``AC_Hemi``, ``AC_Hemi_band``,
  ``nhomalt``, ``nhomalt_band``, ``NS``, ``F_MISSING``, ``HWE``, ``ExcHet``; a withheld count is null;
- ``strata_withheld``: the strata (``Population``, ``Gender+Population``) withheld at this variant;
- per published group: ``AC_<label>``, ``AN_<label>``, ``AF_<label>``, ``AC_Het_<label>``,
  ``AC_Hom_<label>``, ``AC_Hemi_<label>``, ``nhomalt_<label>``, ``NS_<label>`` (null where withheld).

No raw (``*_raw``) counts, faf or grpmax: each would be one more channel to a small count.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import GdbError
from ..outputs import SIDECAR, provenance, replacing, without_attrs, write_json, write_table
from . import privacy as pv

if TYPE_CHECKING:
    from ..cohort import Cohort
    from ..optionsets import ExportOptions

__all__ = ["Release", "ReleaseRefused", "FILTERS", "GROUP_FIELDS", "build_release", "export", "read_release",
           "release_format", "policy_of"]

#: FILTER values of a release and their meaning (the VCF's ##FILTER lines)
FILTERS = {
    "PASS": "All filters passed",
    "AC0": "No called alternate allele (AC 0) after the genotype filters",
    "LowCallRate": "Fraction of missing calls (F_MISSING) above max_missing",
    "ExcHet": "Excess heterozygosity: ExcHet p-value below excess_het_p (evaluated only where every count of the "
              "row is published exactly)",
}
#: the per-group fields of a release (``<field>_<label>``)
GROUP_FIELDS = ("AC", "AN", "AF", "AC_Het", "AC_Hom", "AC_Hemi", "nhomalt", "NS")
KEY = ("contig", "pos", "ref", "alt")


class ReleaseRefused(GdbError):
    """The privacy guard refuses this release (a denied stratum, a sample id, a small difference to the last)."""


@dataclass
class Release:
    """A release in memory: ``table`` (one row per variant; ``table.attrs["release"] is meta``) and ``meta``
    (tier, version, date, policy rules and thresholds, published groups and strata, suppression counts)."""

    table: pd.DataFrame
    meta: dict


def policy_of(opts: ExportOptions) -> pv.Policy:
    return pv.Policy(tier=opts.tier, min_cell=opts.min_cell, min_group_size=opts.min_group_size,
                     deny=opts.deny_list())


def release_format(opts: ExportOptions, out: str | Path) -> str:
    """``vcf``, ``parquet`` or ``tsv``: ``opts.format``, or from the name of ``out`` (they must agree)."""
    name = Path(out).name.lower()
    by_name = ("vcf" if name.endswith((".vcf.gz", ".vcf.bgz")) else "parquet" if name.endswith((".parquet", ".pq"))
               else "tsv" if name.endswith((".tsv", ".tsv.gz", ".txt")) else None)
    fmt = by_name if opts.format == "auto" else opts.format
    if fmt is None or (by_name is not None and by_name != fmt) or (by_name is None):
        raise GdbError(f"the release name does not fit the format {opts.format}", file=out,
                       fix="name a VCF release .vcf.gz, a Parquet one .parquet, a TSV one .tsv or .tsv.gz")
    return fmt


def _check_request(cohort: Cohort, opts: ExportOptions, policy: pv.Policy) -> None:
    """Refuse what the policy forbids before any pass: denied strata, sample ids in the selection, versions."""
    columns = [c for entry in opts.by for c in ([entry] if isinstance(entry, str) else entry)]
    if policy.denies:
        denied = pv.denied_columns(columns, policy.deny)
        if denied:
            raise ReleaseRefused(f"the public tier publishes no strata by {', '.join(denied)} (deny list: "
                                 f"{', '.join(policy.deny)})", file=cohort.store.path,
                                 fix="leave these --by columns out, or make a registered/controlled release")
    leaked = pv.sample_ids_in(json.dumps([opts.samples, list(opts.regions)]),
                              cohort.store.samples["sample_id"].astype(str))
    if leaked:
        raise ReleaseRefused(f"the sample selection names sample ids ({', '.join(leaked[:3])}), which would be "
                             "written into the release's provenance", file=cohort.store.path,
                             fix="select samples by metadata columns, or through the Python API with a mask")
    if policy.frozen and not opts.release_version:
        raise ReleaseRefused("a public release needs a version", file=cohort.store.path,
                             fix="give --release-version (e.g. 2026-12)")
    if opts.previous_release and not policy.frozen:
        raise GdbError(f"--previous-release is compared for public releases only (this one is {policy.tier})",
                       file=opts.previous_release, fix="leave --previous-release out")


def _groups(freq: pd.DataFrame) -> tuple[list[dict], dict[tuple[str, ...], list[dict]]]:
    """The groups of a frequency table's ``freq_meta`` (without the total and the raw view), by stratum."""
    meta = freq.attrs["freq_meta"]
    view = meta[0]["group"]
    groups = []
    for entry in meta[1:]:
        if entry["group"] != view:
            continue
        values = {k: v for k, v in entry.items() if k not in ("label", "group", "n_samples")}
        groups.append({"label": entry["label"], "stratum": "+".join(values), "values": values,
                       "n_samples": int(entry["n_samples"])})
    strata: dict[tuple[str, ...], list[dict]] = {}
    for g in groups:
        strata.setdefault(tuple(g["values"]), []).append(g)
    return groups, strata


def _cells(freq: pd.DataFrame, label: str) -> dict[str, np.ndarray]:
    sfx = f"_{label}" if label else ""
    return {f: freq[f"{f}{sfx}"].to_numpy(dtype=np.int64) for f in pv.CELL_FIELDS}


def _total_columns(freq: pd.DataFrame, vqc: pd.DataFrame, policy: pv.Policy) -> tuple[dict, np.ndarray]:
    cells = _cells(freq, "")
    an = freq["AN"].to_numpy(dtype=np.int64)
    n = len(freq)
    k = policy.min_cell
    if policy.bands:
        row = pv.row_rule(cells, an, k)
    else:
        ac = cells["AC"]
        with np.errstate(invalid="ignore", divide="ignore"):
            af = np.where(an > 0, ac / np.where(an > 0, an, 1), np.nan)
        none = np.zeros(n, dtype=bool)
        row = pv.RowOutcome(values={f: pv.published_counts(cells[f], none) for f in pv.CELL_FIELDS},
                            band={f: none for f in ("AC", "nhomalt", "AC_Hemi")}, af=af, af_upper=none,
                            exact=~none)
    label = pv.band_label(k)

    def banded(name):
        return pd.array(np.where(row.band[name], label, None), dtype="string")

    n_called = vqc["n_called"].to_numpy(dtype=np.int64)
    n_not = vqc["n_not_called"].to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_missing = np.where(n_called + n_not > 0, n_not / np.maximum(n_called + n_not, 1), np.nan)
    cols: dict[str, Any] = {
        "AC": row.values["AC"], "AC_band": banded("AC"), "AN": an.astype(np.int32), "AF": _float(row.af),
        "AF_upper": row.af_upper, "AC_Het": row.values["AC_Het"], "AC_Hom": row.values["AC_Hom"],
        "AC_Hemi": row.values["AC_Hemi"], "AC_Hemi_band": banded("AC_Hemi"), "nhomalt": row.values["nhomalt"],
        "nhomalt_band": banded("nhomalt"), "NS": freq["NS"].to_numpy(dtype=np.int32), "F_MISSING": _float(f_missing),
        "HWE": _float(np.where(row.exact, vqc["HWE"].to_numpy(dtype=np.float64), np.nan)),
        "ExcHet": _float(np.where(row.exact, vqc["ExcHet"].to_numpy(dtype=np.float64), np.nan)),
    }
    return cols, row.exact


def _float(x: np.ndarray) -> pd.arrays.FloatingArray:
    x = np.asarray(x, dtype=np.float64)
    return pd.arrays.FloatingArray(np.nan_to_num(x), np.isnan(x))


def qc_filters(ac: np.ndarray, f_missing: np.ndarray, exchet: np.ndarray, evaluable: np.ndarray,
               opts: ExportOptions) -> np.ndarray:
    """``(V,) object``: the FILTER of each variant (``PASS`` or the failed :data:`FILTERS` joined by ``;``).

    ``ExcHet`` is tested only on ``evaluable`` rows (every count published exactly), as its p-value is.
    """
    fails = {"AC0": np.asarray(ac) == 0,
             "LowCallRate": np.nan_to_num(np.asarray(f_missing, dtype=np.float64), nan=0.0) > opts.max_missing,
             "ExcHet": evaluable & (np.nan_to_num(np.asarray(exchet, dtype=np.float64), nan=1.0) < opts.excess_het_p)}
    out = np.full(len(ac), "", dtype=object)
    for name, hit in fails.items():
        out[hit] = [f"{x};{name}" if x else name for x in out[hit]]
    out[out == ""] = "PASS"
    return out


def _strata_columns(freq: pd.DataFrame, strata: dict, policy: pv.Policy, n_total: int):
    """Per-group columns of the published groups, the per-row list of withheld strata, and the strata's meta."""
    n = len(freq)
    cols: dict[str, Any] = {}
    withheld = np.full(n, "", dtype=object)
    strata_meta, published = [], []
    total = _cells(freq, "")
    for columns, groups in strata.items():
        name = "+".join(columns)
        sizes = np.array([g["n_samples"] for g in groups])
        if policy.suppresses:
            keep, ok = pv.group_size_rule(sizes, n_total, policy.min_group_size, combination=len(columns) > 1)
        else:
            keep, ok = np.ones(len(groups), dtype=bool), True
        kept = [g for g, k in zip(groups, keep) if k]
        entry: dict[str, Any] = {"stratum": name, "columns": list(columns),
                                 "n_groups_left_out_for_size": int((~keep).sum())}
        if not ok:
            entry.update(published=False, reason=f"groups or remainder below {policy.min_group_size} samples" + (
                " (a combination is published only whole)" if len(columns) > 1 else ""))
            strata_meta.append(entry)
            continue
        if policy.suppresses:
            each = [_cells(freq, g["label"]) for g in kept]  # read once per group, not once per field
            gcells = {f: np.stack([c[f] for c in each], axis=1) for f in pv.CELL_FIELDS}
            rows_ok = pv.partition_rule(gcells, total, policy.min_cell)
        else:
            rows_ok = np.ones(n, dtype=bool)
        withheld[~rows_ok] = [f"{x},{name}" if x else name for x in withheld[~rows_ok]]
        for g in kept:
            for f in GROUP_FIELDS:
                src = freq[f"{f}_{g['label']}"].to_numpy()
                if f == "AF":
                    cols[f"AF_{g['label']}"] = _float(np.where(rows_ok, src.astype(np.float64), np.nan))
                else:
                    cols[f"{f}_{g['label']}"] = pv.published_counts(src, ~rows_ok)
            published.append({"label": g["label"], "stratum": name, **g["values"], "n_samples": g["n_samples"]})
        entry.update(published=True, groups=[g["label"] for g in kept],
                     n_variants_withheld=int((~rows_ok).sum()))
        strata_meta.append(entry)
    withheld[withheld == ""] = None
    withheld_col = pd.array(withheld, dtype="string")
    return cols, withheld_col, strata_meta, published


def build_release(cohort: Cohort, opts: ExportOptions, *, progress: bool = True) -> tuple[Release, dict]:
    """The release of ``cohort`` for ``opts`` (tier, strata, thresholds) and its provenance.

    Raises :class:`ReleaseRefused` for what the tier forbids (a denied stratum, sample ids in the selection,
    a public release without a version) before the pass.
    """
    policy = policy_of(opts)
    _check_request(cohort, opts, policy)
    res = cohort.compute(freq=list(opts.by), adj=opts.adj, variant_qc=True, qc_adj=opts.adj, grpmax_by=False,
                         unknown_sex=opts.unknown_sex, progress=progress)
    assert res.freq is not None and res.variant_qc is not None  # asked for above
    groups, strata = _groups(res.freq)
    n_total = int(res.freq.attrs["freq_meta"][0]["n_samples"])
    # the columns are read from frames without their metadata: pandas copies a frame's attrs (deeply) into
    # every column it hands out, and freq_meta lists every group
    freq, vqc = without_attrs(res.freq), without_attrs(res.variant_qc)
    total_cols, exact = _total_columns(freq, vqc, policy)
    strata_cols, withheld, strata_meta, published = _strata_columns(freq, strata, policy, n_total)
    cols: dict[str, Any] = {name: freq[name].to_numpy() for name in KEY}
    cols["contig"] = freq["contig"].astype(str).to_numpy()
    cols["filter"] = qc_filters(freq["AC"].to_numpy(), total_cols["F_MISSING"].to_numpy(dtype=np.float64,
                                na_value=np.nan), total_cols["ExcHet"].to_numpy(dtype=np.float64, na_value=np.nan),
                                exact, opts)
    cols.update(total_cols)
    cols["strata_withheld"] = withheld
    cols.update(strata_cols)
    table = pd.DataFrame(cols, index=freq.index)
    table["filter"] = table["filter"].astype("string")
    meta = {
        "version": opts.release_version, "tier": policy.tier, "date": datetime.now(UTC).date().isoformat(),
        "thresholds": {"min_cell": policy.min_cell, "min_group_size": policy.min_group_size,
                       "deny": list(policy.deny), "max_missing": opts.max_missing, "excess_het_p": opts.excess_het_p},
        "policy": pv.rules(policy), "band": pv.band_label(policy.min_cell), "adj": bool(opts.adj),
        "n_samples": n_total, "n_variants": int(len(table)), "groups": published, "strata": strata_meta,
        "filters": FILTERS, "previous_release": None,
        "suppressed": {"AC_band": int(table["AC_band"].notna().sum()),
                       "rows_not_exact": int((~exact).sum()),
                       "rows_with_strata_withheld": int(table["strata_withheld"].notna().sum())},
    }
    table.attrs["release"] = meta
    prov = provenance(cohort, "export", opts, res.info.get("backend"))
    prov["release"] = {k: meta[k] for k in ("version", "tier", "date")}
    return Release(table=table, meta=meta), prov


def read_release(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A release written by :func:`export` (any format): its table (counts as ``Int64``) and its metadata."""
    from .vcf import read_vcf

    path = Path(path)
    sidecar = Path(f"{path}{SIDECAR}")
    if not path.exists() or not sidecar.exists():
        raise GdbError("not a gdbtools release (the file or its .meta.json sidecar is missing)", file=path,
                       fix="name the previous release file that `gdbtools export` wrote, with its sidecar beside it")
    meta = json.loads(sidecar.read_text())
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        table = pd.read_parquet(path)
    elif name.endswith((".vcf.gz", ".vcf.bgz")):
        table = read_vcf(path)
    else:
        table = pd.read_csv(path, sep="\t", index_col=0, dtype={"contig": str}, keep_default_na=False,
                            na_values=["NA"])
    return table, meta.get("release", {})


def _check_previous(release: Release, opts: ExportOptions) -> dict | None:
    """The frozen-release rule against ``opts.previous_release``; its summary for the metadata."""
    if not opts.previous_release:
        return None
    old, old_meta = read_release(opts.previous_release)
    if old_meta.get("tier") != "public":
        raise GdbError("the previous release is not a public release", file=opts.previous_release,
                       fix="name the last public release")
    if old_meta.get("version") == release.meta["version"]:
        raise ReleaseRefused(f"release version {release.meta['version']} is already published (releases are "
                             "frozen)", file=opts.previous_release, fix="give a new --release-version")
    diffs = pv.release_difference_rule(release.table, old, release.meta["thresholds"]["min_cell"])
    if len(diffs):
        first = diffs.iloc[0]
        raise ReleaseRefused(
            f"release {release.meta['version']} differs from release {old_meta.get('version')} by 1 to "
            f"{release.meta['thresholds']['min_cell'] - 1} at {len(diffs)} published counts (first: "
            f"{first['contig']}:{first['pos']} {first['ref']}>{first['alt']} {first['column']} {first['old']} -> "
            f"{first['new']}); differencing the two would isolate a few people", file=opts.previous_release,
            fix="wait until the cohort has grown further, or publish this cohort as a registered release")
    return {"path": str(Path(opts.previous_release).resolve()), "version": old_meta.get("version"),
            "compared_variants": int(len(old))}


def export(cohort: Cohort, opts: ExportOptions, out: str | Path, *, overwrite: bool = False,
           progress: bool = True) -> dict:
    """Build the release of ``opts`` and write it to ``out`` (VCF, Parquet or TSV, with a ``.meta.json``
    sidecar, and a ``.tbi`` index for VCF); returns a few numbers for a summary.

    Raises :class:`ReleaseRefused` where the guard refuses the release,
    :class:`~gdbtools.outputs.OutputExists` when ``out`` exists and not ``overwrite``.
    """
    from .vcf import write_vcf

    out = Path(out)
    fmt = release_format(opts, out)
    t0 = time.perf_counter()
    with replacing(out, overwrite=overwrite) as tmp:  # refuses an existing release before any work
        release, prov = build_release(cohort, opts, progress=progress)
        previous = _check_previous(release, opts)
        release.meta["previous_release"] = previous
        prov["release"]["previous_release"] = previous
        ids = cohort.store.samples["sample_id"].astype(str)
        leaked = pv.sample_ids_in(json.dumps([release.meta, prov], default=str), ids)
        if leaked:  # defence in depth: the free text of a release is its metadata and provenance
            raise ReleaseRefused(f"the release metadata would contain sample ids ({', '.join(leaked[:3])})",
                                 file=out, fix="rename the metadata values that equal sample ids")
        target = tmp / out.name
        if fmt == "vcf":
            write_vcf(release, prov, target, cohort.store.manifest.get("contigs", []))
        else:
            write_table(release.table, target, prov)
        write_json(f"{target}{SIDECAR}", {"release": release.meta, "provenance": prov})
    return {"path": str(out), "format": fmt, "tier": release.meta["tier"], "version": release.meta["version"],
            "n_variants": release.meta["n_variants"], "n_groups": len(release.meta["groups"]),
            **release.meta["suppressed"], "seconds": round(time.perf_counter() - t0, 3)}
