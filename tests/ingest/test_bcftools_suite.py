"""Every VCF of bcftools' own test suite (``../shared/data/bcftools_test_vcfs``, 420 files) through ingest.

Each file either ingests with per-variant counts equal to ``bcftools norm -m- | bcftools +fill-tags`` and
passes ``verify``, or is refused with a one-line :class:`~gdbtools.errors.GdbError` naming the problem (the
files below, each with the words its refusal must contain); no "unexpected error", no crash, no hang. The same
file as indexed BCF, ingested by region (several windows per contig; the fast BCF reader where it can read the
records) gives the same store, or the same refusal. The work per file is :mod:`bcftools_suite` (shared with
``bench/triage_bcftools_vcfs.py``), two forked children at a time, each within :data:`PER_FILE_S`.

Conventions (differences from bcftools on purpose, applied by the comparison):

- ALT ``.`` records are not variants: ingest skips them and counts them (manifest ``stats.n_ref_only``, which
  the comparison checks against the number of such records) and warns naming the first.
- The store orders contigs as the ``##contig`` lines do; files that list records in another contig order are
  compared in the store's order.
- A record without GT: every call missing (bcftools leaves the tags unset: NS=0, AN=0), counted as
  ``n_records_without_gt``. A file without samples gives a sites-only store.
- A haploid call (``1``) where the store counts the sample as diploid (autosomes, other contigs, PARs; chrX
  outside the PARs for XX samples) is refused (:data:`HAPLOID_REFUSED`): the store takes ploidy from sex and
  region, so it would count one allele twice (AN 2 where bcftools +fill-tags counts 1). Ploidy above 2 is
  refused too. A half call (``1/.``) there is read as the ``half_call`` policy says (default ``haploid``:
  code 2, which this comparison counts as bcftools' hemizygous alt) and counted as ``n_half_calls_diploid``
  with a warning (the statistics count it as a diploid call).
- Calls of samples of unknown sex on chrX outside the PARs and on chrY are kept with their codes (compared
  here as written); the statistics exclude them by default (``unknown_sex="exclude"``), and ingest counts
  them (``n_unknown_sex_calls``) and warns.
- :data:`ORACLE_FAILED`: ingest and ``verify`` pass, but bcftools norm/+fill-tags cannot process the file (a
  Number=A/R/G field with the wrong count, a GT allele above the ALT count on an ALT ``.`` record...).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from helpers import need

PER_FILE_S = 60.0
WORKERS = 2

HAPLOID_REFUSED = {
    "annotate.vcf", "annotate11.vcf", "annotate9.vcf", "annots.vcf", "annots9.vcf", "atomize.split.1.vcf",
    "fill-tags-hemi.vcf", "filter.2.vcf", "filter.3.vcf", "fixref.vcf", "gtcheck.5.vcf", "merge.a.vcf",
    "merge.mrules.1.a.vcf", "merge.mrules.1.b.vcf", "norm.join-missing-ploidy.vcf", "norm.merge.2.vcf",
    "norm.merge.3.vcf", "norm.merge.vcf", "norm.setref.vcf", "norm.split.vcf", "norm.vcf",
    "plugin-missing2ref.out.vcf", "plugin-missing2ref.vcf", "plugin1.vcf", "query.filter-type.vcf",
    "query.filter.vcf", "setGT.3.vcf", "setGT.vcf", "view.filter.vcf", "view.vectors.vcf",
    "convert.hap-missing.vcf",  # a haploid call inside chrX's PAR1 (GRCh37), where every sample is diploid
}
REFUSED = {
    **{f: "a haploid call" for f in HAPLOID_REFUSED},
    **{f: "ploidy above 2" for f in ("consensus.16.vcf", "consensus7.vcf", "norm.phased-join.vcf",
                                     "norm.phased-split.vcf")},
    "regions.vcf": "allele index above the 1 ALT allele",
    "sort.vcf": "records are not sorted",
    # htslib reads a contig the header does not declare with a warning; ingest refuses it, naming the fix
    "annots11.vcf": "is not declared in the header",
}
ORACLE_FAILED = {  # file -> the bcftools stage that fails on it
    "annotate14.vcf": "+fill-tags", "annotate15.vcf": "norm", "annotate21.vcf": "+fill-tags",
    "annotate3.vcf": "+fill-tags", "consensus.12.vcf": "+fill-tags", "consensus8.vcf": "+fill-tags",
    "gtcheck.5.gts.vcf": "+fill-tags", "isec-miss.2.3.vcf": "norm", "mpileup.cals.2.vcf": "norm",
    "norm.split.3.vcf": "norm", "query.gtidx.1.vcf": "norm", "view.vectors.2.vcf": "norm",
}
BCFTOOLS_REJECTS = {"convert.gs.noids.vcf", "convert.gs.vcf", "convert.gt.noHead.ids.vcf", "convert.gt.noHead.vcf"}
# bcftools cannot write these as BCF (undeclared contigs or tags): no BCF twin to compare
BCF_NOT_WRITABLE = {"annotate11.vcf", "annotate14.vcf", "annotate15.vcf", "annots11.vcf", "idx.2.vcf",
                    "isec-miss.2.3.vcf", "split-vep.10.vcf", "view.filter.annovar.vcf", "view64bit.3.vcf"}


def _problems(r: dict) -> list[str]:
    """What is wrong with one file's result (empty: as expected)."""
    name, cls = r["file"], r["cls"]
    if name in BCFTOOLS_REJECTS:
        return [] if cls == "bcftools-rejects" else [f"expected bcftools to reject it, got {cls}"]
    out = []
    if name in REFUSED:
        if cls != "refused" or REFUSED[name] not in r.get("message", "") or not r.get("oneline"):
            out.append(f"expected a one-line refusal with {REFUSED[name]!r}, got {cls}: "
                       f"{r.get('message') or r.get('detail')}")
    elif name in ORACLE_FAILED:
        if cls != "oracle-failed" or ORACLE_FAILED[name] not in r.get("detail", "") or not r.get("verify_ok"):
            out.append(f"expected ingest + verify ok and bcftools {ORACLE_FAILED[name]} to fail, got {cls}: "
                       f"{r.get('message') or r.get('detail')} (verify_ok {r.get('verify_ok')})")
    elif cls != "ok" or not r.get("verify_ok"):
        out.append(f"{cls}: {r.get('message') or r.get('detail')} (verify_ok {r.get('verify_ok')}: "
                   f"{r.get('verify')})")
    bcf = r.get("bcf", "")
    if name in BCF_NOT_WRITABLE:
        if not bcf.startswith("convert-failed"):
            out.append(f"expected bcftools to fail writing BCF, got {bcf!r}")
    elif name in REFUSED:
        if not bcf.startswith("refused:") or REFUSED[name] not in bcf:
            out.append(f"BCF by region: expected the same refusal, got {bcf!r}")
    elif not bcf.startswith("same"):
        out.append(f"BCF by region: {bcf!r}")
    return out


@pytest.mark.timeout(900)
def test_ingest__bcftools_test_suite(data_dir, bcftools_bin):
    from bcftools_suite import run_files

    need(shutil.which("bgzip") is not None, "bgzip is not installed (scripts/test installs it)")
    folder = Path(data_dir) / "bcftools_test_vcfs"
    need(folder.is_dir(), f"bcftools' test VCFs not found at {folder}")
    files = sorted(folder.glob("*.vcf"))
    assert len(files) >= 400, f"only {len(files)} files in {folder}"
    t0 = time.monotonic()
    results = run_files(files, workers=WORKERS, timeout=PER_FILE_S, bcf=True, partition_records=20)
    seconds = time.monotonic() - t0
    problems = [f"{r['file']}: {p}" for r in results for p in _problems(r)]
    listed = set(REFUSED) | set(ORACLE_FAILED) | BCFTOOLS_REJECTS | BCF_NOT_WRITABLE
    stale = sorted(listed - {f.name for f in files})
    assert not stale, f"listed files that are not in the suite: {stale}"
    counts: dict[str, int] = {}
    for r in results:
        counts[r["cls"]] = counts.get(r["cls"], 0) + 1
    assert not problems, (f"{len(problems)} of {len(files)} files not as expected ({counts}; {seconds:.0f} s):\n"
                          + "\n".join(problems[:40]))
    # the counts that the suite exercises are reported, not dropped: some files have each kind of record
    totals: dict[str, int] = {}
    for r in results:
        for k, v in r.get("stats", {}).items():
            totals[k] = totals.get(k, 0) + v
    for key in ("n_ref_only", "n_records_without_gt", "n_past_contig_length", "n_unknown_sex_calls",
                "n_half_calls_diploid"):
        assert totals.get(key, 0) > 0, f"no file counted {key}: {totals}"
