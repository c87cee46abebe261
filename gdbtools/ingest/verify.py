"""``verify``: re-read a store and compare it with its source VCF/BCF record by record.

The comparison is independent of the ingest path: the VCF is re-read with cyvcf2 and every record's
genotypes are recomputed by the plain-NumPy twins (:func:`~gdbtools.ingest.encode.reference_codes`,
:func:`~gdbtools.ingest.encode.reference_fail`), while the store is decoded through the reader (checksums
verified). Variant identity (contig, pos, ref, alt, allele index), raw codes and the adj plane must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GdbError, StoreError
from ..genome import get_build, parse_region
from ..store.bitplanes import unpack_bits
from ..store.format import sha256_file
from ..store.reader import Store
from .adj import adj_inputs
from .encode import reference_codes, reference_fail
from .htslib import open_vcf, real_stderr
from .readers.header import read_header

__all__ = ["verify", "VerifyReport"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: counts compared and the first mismatches (empty when the store is faithful)."""

    n_records: int = 0
    n_rows: int = 0
    n_calls: int = 0
    mismatches: list[str] = field(default_factory=list)
    n_mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.n_mismatches == 0

    def add(self, text: str) -> None:
        self.n_mismatches += 1
        if len(self.mismatches) < 20:
            self.mismatches.append(text)

    def __str__(self) -> str:
        head = (f"{'OK' if self.ok else 'MISMATCH'}: {self.n_records} records, {self.n_rows} variants, "
                f"{self.n_calls} calls compared; {self.n_mismatches} mismatches")
        return "\n".join([head, *("  " + m for m in self.mismatches)])


def _store_rows(store: Store, partitions: list[dict]):
    """Yield ``(variant row, codes (N,), fail (N,) or None)`` over the partitions' rows in order."""
    for part in partitions:
        table = store.variants_of_partition(part["id"])
        block_ids = [i for i, b in enumerate(store.blocks_meta) if b["partition"] == part["id"]]
        row = 0
        for bi in block_ids:
            block = store.read_block(bi, verify=True)
            codes = block.codes()
            fail = None
            if block.fail is not None:
                fail = unpack_bits(block.fail, store.n_samples)
            for r in range(block.n_variants):
                yield table.iloc[row], codes[r], None if fail is None else fail[r]
                row += 1


def verify(store: str | Store, inputs=None, *, progress: bool = True) -> VerifyReport:
    """Compare a store with its sources (default: the files recorded in its manifest).

    Returns a :class:`VerifyReport`; raises :class:`GdbError` if the store itself cannot be read.
    """
    from tqdm.auto import tqdm

    st = store if isinstance(store, Store) else Store(store)
    params = st.manifest["params"]
    if params["mode"] != "concat":
        raise GdbError("verify supports stores ingested without --merge", file=st.path,
                       fix="verify each per-sample input separately after a concat ingest")
    report = VerifyReport()
    for part in st.manifest["partitions"]:
        path = st.path / part["variants"]
        if not path.exists():
            raise StoreError("a variant table listed in the manifest is missing", file=path,
                             fix="the store is damaged; re-run the ingest into a new directory")
        if sha256_file(path) != part["variants_sha256"]:
            report.add(f"{part['variants']}: checksum differs from the manifest")
    sources = [s["path"] for s in params["inputs"]]
    if inputs is not None:
        given = [str(Path(p).resolve()) for p in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
        unknown = [p for p in given if p not in sources]
        if unknown:
            raise GdbError(f"{unknown[0]} is not a source of this store (sources: {', '.join(sources)})",
                           file=st.path, fix="give the files the store was ingested from")
        files = [sources.index(p) for p in given]
    else:
        files = list(range(len(sources)))
    samples = st.samples
    ids = samples["sample_id"].tolist()
    xy = (samples["sex"] == "XY").fillna(False).to_numpy(bool) if samples["sex"].notna().any() else None
    build = get_build(params.get("build"))
    regions = [parse_region(r) for r in params.get("regions") or []]
    adj = params.get("adj")
    bar = tqdm(total=st.n_variants, unit=" variants", unit_scale=True, desc="verify", file=real_stderr(),
               disable=not progress)
    for file_no in files:
        path = sources[file_no]
        parts = [p for p in st.manifest["partitions"] if p.get("file") == file_no]
        rows = _store_rows(st, parts)
        vcf = open_vcf(path)
        column = {s: i for i, s in enumerate(vcf.samples)}
        perm = np.array([column[s] for s in ids]) if st.n_samples else None
        declared = read_header(path).formats
        use = {f: bool(adj) and f in declared for f in ("GQ", "DP", "AD")}
        for rec in vcf:
            chrom, pos = rec.CHROM, rec.POS
            if regions and not any(r.contig == chrom and r.contains(np.array(pos)) for r in regions):
                continue
            alts = rec.ALT
            report.n_records += 1
            if not alts:
                continue
            n_alt = len(alts)
            codes = fail = None
            if st.n_samples:
                gt = rec.genotype.array()[perm]
                codes = reference_codes(gt, n_alt, params["half_call"])
                if any(use.values()):
                    gq, dp, ad, hap = adj_inputs(rec, st.n_samples, n_alt, use, perm, xy, build)
                    fail = reference_fail(codes, gt, gq, dp, ad, hap, use["GQ"], use["DP"], use["AD"],
                                          half_call=params["half_call"], **adj)
            for a, alt in enumerate(alts, start=1):
                try:
                    var, got, got_fail = next(rows)
                except StopIteration:
                    report.add(f"{chrom}:{pos} {rec.REF}>{alt}: in the VCF but the store has no more variants")
                    break
                report.n_rows += 1
                bar.update(1)
                key = (var["contig"], int(var["pos"]), var["ref"], var["alt"], int(var["allele_index"]))
                if key != (chrom, pos, rec.REF, alt, a):
                    report.add(f"{chrom}:{pos} {rec.REF}>{alt}: the store has {key[0]}:{key[1]} {key[2]}>{key[3]} here")
                    continue
                if codes is None:
                    continue
                report.n_calls += len(got)
                diff = np.flatnonzero(codes[a - 1] != got)
                if diff.size:
                    s = diff[0]
                    report.add(f"{chrom}:{pos} {rec.REF}>{alt}: {diff.size} calls differ, first sample {ids[s]!r}: "
                               f"VCF code {codes[a - 1][s]}, store code {got[s]}")
                if fail is not None or got_fail is not None:
                    want = fail[a - 1] if fail is not None else np.zeros(len(got), bool)
                    have = got_fail if got_fail is not None else np.zeros(len(got), bool)
                    bad = np.flatnonzero(want != have)
                    if bad.size:
                        report.add(f"{chrom}:{pos} {rec.REF}>{alt}: genotype filter (adj) differs for {bad.size} "
                                   f"calls, first sample {ids[bad[0]]!r}")
        vcf.close()
        leftover = sum(1 for _ in rows)
        if leftover:
            report.add(f"{path}: the store has {leftover} variants that are not in the file")
    bar.close()
    return report
