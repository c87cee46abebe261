"""One ``verify`` task: re-read one store partition's region of the source with htslib (cyvcf2) and compare.

Independent of the ingest readers: records come from cyvcf2 (htslib), genotypes in bulk
(``genotype.array()``, one ``(N, P+1) int16`` array per record), and the expected codes and adj plane are
computed by NumPy for a chunk of split rows at once (``(R, N)``), then compared with the store's decoded
block rows in one vectorised comparison per chunk. Variant identity is aligned row by row (a short diff-like
resynchronisation after a difference), so one missing or extra record gives one finding, not a cascade.

Findings (mismatches, records htslib cannot read, records the store lacks) are returned as text; nothing in
here raises for a problem of the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..genome import contig_kind, get_build, region_text
from ..store.bitplanes import unpack_bits
from ..store.reader import Store

__all__ = ["PartitionCheck", "PartResult", "check_partition", "open_source", "expected_codes", "expected_fail"]

MAX_FINDINGS = 20
CHUNK_ROWS = 256  # split rows per vectorised comparison: (256, N) int8 codes
RESYNC_WINDOW = 10_000  # store rows searched ahead for a file row after a difference
INT32_MISSING = -(2**31)


@dataclass
class PartitionCheck:
    """What one task needs (picklable): the store, one partition and the source file it came from.

    ``perm`` maps store sample order to file columns ``(N,) int64`` (None: same order); ``xy`` ``(N,) bool``
    marks samples haploid outside the PARs of chrX/chrY (None: no sex known); ``use`` names the adj FORMAT
    fields declared in the file (``{"GQ", "DP", "AD"} -> bool``); ``adj`` the thresholds or None.
    """

    store: str
    partition: dict
    path: str
    index: str | None
    n_samples: int
    half_call: str
    perm: np.ndarray | None
    xy: np.ndarray | None
    build: str | None
    use: dict
    adj: dict | None
    regions: list = field(default_factory=list)  # genome.Region objects of the ingest (empty: everything)
    ids: list = field(default_factory=list)  # sample ids in store order, to name samples in findings


@dataclass
class PartResult:
    """Outcome of one task: counts compared and the first findings."""

    n_records: int = 0
    n_rows: int = 0
    n_calls: int = 0
    n_mismatches: int = 0
    findings: list[str] = field(default_factory=list)

    def add(self, text: str, count: int = 1) -> None:
        self.n_mismatches += count
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(text)


def open_source(path: str, index: str | None):
    """cyvcf2 reader of `path`, with an index kept elsewhere (htslib's ``##idx##`` syntax)."""
    import cyvcf2

    target = path if index is None or Path(index).parent == Path(path).parent else f"{path}##idx##{index}"
    return cyvcf2.VCF(target, lazy=True)


# -- expected values, vectorised over split rows -----------------------------------------------------------------
def expected_codes(a0: np.ndarray, a1: np.ndarray, allele: np.ndarray, half_call: str) -> np.ndarray:
    """Codes ``(R, N) int8`` of split rows from allele indices ``a0, a1`` ``(R, N)`` (``-1`` missing, ``-2``
    vector end: haploid) and each row's ALT allele number ``allele`` ``(R,)``; same rules as
    :func:`~gdbtools.ingest.encode.reference_codes` (diploid: copies of the allele; haploid alt 2; missing 3;
    half calls by `half_call`)."""
    col = allele[:, None]
    c0, c1 = a0 == col, a1 == col
    haploid = a1 == -2
    m0, m1 = a0 < 0, (a1 < 0) & ~haploid
    codes = c0.astype(np.int8) + c1.astype(np.int8)
    codes = np.where(haploid, np.where(c0, 2, 0).astype(np.int8), codes)
    codes[(haploid & m0) | (m0 & m1)] = 3
    half = ~haploid & (m0 ^ m1)
    if half.any():
        x = np.where(m0, c1, c0)
        value = {"haploid": np.where(x, 2, 0), "missing": np.full(x.shape, 3),
                 "reference": np.where(x, 1, 0)}[half_call].astype(np.int8)
        codes = np.where(half, value, codes)
    return codes


def expected_fail(codes, a0, a1, gq, dp, ad, hap, use: dict, half_call: str, *, min_gq=20, min_dp=10,
                  min_dp_haploid=5, min_ab=0.2) -> np.ndarray:
    """The adj plane ``(R, N) bool`` of split rows (same rules as :func:`~gdbtools.ingest.encode.reference_fail`).

    codes, a0, a1, hap : (R, N); gq, dp, ad : (R, N) float64, ``ad`` of each row's own allele, missing values
    -inf. Missing calls never fail.
    """
    haploid = (a1 == -2) | hap
    if half_call == "haploid":
        haploid |= (a1 != -2) & ((a0 < 0) != (a1 < 0))
    bad = np.zeros(codes.shape, dtype=bool)
    if use.get("GQ"):
        bad |= gq < min_gq
    if use.get("DP"):
        bad |= dp < np.where(haploid, min_dp_haploid, min_dp)
    if use.get("AD"):
        d = dp.astype(np.float64)
        x = ad.astype(np.float64)
        bad |= (codes == 1) & ((d <= 0) | (x < 0) | (x < min_ab * d))
    return bad & (codes != 3)


def _format_values(rec, name: str) -> np.ndarray | None:
    """FORMAT field as float64 ``(N, k)`` as written (a Float GQ of 19.55 stays 19.55, as bcftools compares it),
    missing = -inf (fails every threshold), or None."""
    values = rec.format(name)
    if values is None:
        return None
    if values.dtype.kind == "f":
        return np.where(np.isnan(values), -np.inf, values).astype(np.float64)
    if values.dtype.kind in "iu":
        out = values.astype(np.float64)
        out[values <= INT32_MISSING + 1] = -np.inf  # htslib's missing and vector-end values
        return out
    return None


# -- the store side -----------------------------------------------------------------------------------------------
class _StoreRows:
    """One partition's variant keys (in memory) and genotype rows (decoded block by block, on demand)."""

    def __init__(self, store: Store, part: dict):
        table = pq.read_table(store.path / part["variants"],
                              columns=["contig", "pos", "ref", "alt", "allele_index"])
        self.contig = table.column("contig").to_pylist()
        self.pos = table.column("pos").to_numpy()
        self.ref = table.column("ref").to_pylist()
        self.alt = table.column("alt").to_pylist()
        self.allele = table.column("allele_index").to_numpy()
        self.n = len(self.pos)
        self.store = store
        blocks = [i for i, b in enumerate(store.blocks_meta) if b["partition"] == part["id"]]
        self.block_ids = blocks
        sizes = [store.blocks_meta[i]["n_variants"] for i in blocks]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._cache: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def key(self, row: int) -> tuple:
        return (self.contig[row], int(self.pos[row]), self.ref[row], self.alt[row], int(self.allele[row]))

    def find(self, key: tuple, start: int) -> int:
        """First row >= start (within RESYNC_WINDOW) with `key`, or -1."""
        contig, pos = key[0], key[1]
        stop = min(self.n, start + RESYNC_WINDOW)
        for row in np.flatnonzero(self.pos[start:stop] == pos) + start:
            if self.key(int(row)) == key and self.contig[row] == contig:
                return int(row)
        return -1

    def _block(self, k: int):
        if k not in self._cache:
            if len(self._cache) > 1:
                self._cache.pop(min(self._cache))
            block = self.store.read_block(self.block_ids[k], verify=True)
            fail = None if block.fail is None else unpack_bits(block.fail, self.store.n_samples)
            self._cache[k] = (block.codes(), fail)
        return self._cache[k]

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes ``(len(rows), N) int8`` and adj plane ``(len(rows), N) bool`` (None: no plane) of partition rows."""
        which = np.searchsorted(self.starts, rows, side="right") - 1
        codes, fails = [], []
        for k in np.unique(which):
            sel = rows[which == k] - self.starts[k]
            c, f = self._block(int(k))
            codes.append(c[sel])
            fails.append(None if f is None else f[sel])
        out_fail = None
        if any(f is not None for f in fails):
            out_fail = np.concatenate([f if f is not None else np.zeros((len(c), c.shape[1]), bool)
                                       for c, f in zip(codes, fails)])
        return np.concatenate(codes).astype(np.int8, copy=False), out_fail


# -- the file side ------------------------------------------------------------------------------------------------
class _Chunk:
    """Split rows read from the file, waiting for one vectorised comparison."""

    def __init__(self):
        self.gts: list[np.ndarray] = []  # per record (N, 2) int16 allele columns, store sample order
        self.adj: list[tuple] = []  # per record (gq, dp, ad (N, A), hap) or nothing
        self.n_alt: list[int] = []  # per record
        self.rec_of_row: list[int] = []
        self.allele: list[int] = []
        self.store_row: list[int] = []
        self.label: list[str] = []

    def __len__(self) -> int:
        return len(self.allele)


def _query(vcf, contig: str, start: int, end: int):
    """Iterator over the records of ``contig:start-end`` that start at or after `start` (htslib also returns
    records that start before and overlap it)."""
    for rec in vcf(region_text(contig, start, end)):
        if rec.POS >= start:
            yield rec


def _readable_from(vcf, contig: str, start: int, end: int) -> int:
    """Smallest position p >= start from which a query of ``contig:p-end`` does not fail on its first record
    (i.e. just past a record htslib cannot read that comes first from `start`); end + 1 if none."""

    def fails(p: int) -> bool:
        try:
            next(_query(vcf, contig, p, end), None)
        except Exception:  # cyvcf2 raises bare Exception for a record htslib cannot parse
            return True
        return False

    step, lo = 1, start  # exponential search for a readable start, then bisection between lo (fails) and hi
    hi = start
    while hi <= end and fails(hi):
        lo, hi, step = hi, min(end + 1, hi + step), step * 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            lo = mid
        else:
            hi = mid
    return hi


def _records(vcf, check: PartitionCheck, result: PartResult):
    """Yield the file's records of the partition; an unreadable record becomes a finding and is skipped.

    Read sequentially, htslib goes on after a record it cannot parse; read by region, the query ends there,
    so it is restarted just past the unreadable record (found by bisection on the start position).
    """
    part = check.partition
    contig, start, end = part["contig"], part["start"], part["end"]
    top = end if end is not None else 2**31 - 1
    if contig is None:
        iterator = iter(vcf)
    else:
        iterator = _query(vcf, contig, start, top)
    last, last_pos = "the start of the region", start - 1
    failures = 0
    while True:
        try:
            rec = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # htslib could not parse a record: a finding, then go on
            result.n_records += 1
            result.add(f"{check.path}: htslib cannot read the record after {last} ({exc})")
            failures += 1
            if failures > 100:
                result.add(f"{check.path}: stopped reading after 100 unreadable records")
                return
            if contig is not None:
                restart = _readable_from(vcf, contig, last_pos + 1, top)
                if restart > top:
                    return
                iterator = _query(vcf, contig, restart, top)
            continue
        pos = rec.POS
        if contig is not None and (pos < start or pos > top):
            continue  # starts outside the window but overlaps it: another partition's record
        if check.regions and not any(r.contig == rec.CHROM and r.contains(np.array(pos)) for r in check.regions):
            continue
        last, last_pos = f"{rec.CHROM}:{pos}", pos
        yield rec


def check_partition(check: PartitionCheck) -> PartResult:
    """Compare one store partition with its region of the source file (see the module docstring)."""
    result = PartResult()
    store = Store(check.store)
    side = _StoreRows(store, check.partition)
    build = get_build(check.build)
    n = check.n_samples
    cursor = 0
    chunk = _Chunk()
    vcf = open_source(check.path, check.index)
    try:
        for rec in _records(vcf, check, result):
            result.n_records += 1
            alts = rec.ALT
            if not alts:
                continue  # ALT "." : not a variant; the ingest skips it too
            chrom, pos, ref = rec.CHROM, rec.POS, rec.REF
            rec_no = len(chunk.gts)
            if n:
                gt, problem = _genotypes(rec, check)
                if problem:
                    result.add(f"{chrom}:{pos} {ref}>{','.join(alts)}: {problem}")
                chunk.gts.append(gt)
                chunk.n_alt.append(len(alts))
                if check.adj is not None and any(check.use.values()):
                    chunk.adj.append(_adj_inputs(rec, check, len(alts), build))
            for a, alt in enumerate(alts, start=1):
                result.n_rows += 1
                key = (chrom, pos, ref, alt, a)
                row = cursor if cursor < side.n and side.key(cursor) == key else -1
                if row < 0:
                    found = side.find(key, cursor)
                    here = side.key(cursor) if cursor < side.n else None
                    if found < 0:
                        result.add(f"{chrom}:{pos} {ref}>{alt}: in the file but not in the store"
                                   + (f" (the store has {here[0]}:{here[1]} {here[2]}>{here[3]} here)" if here else ""))
                    else:
                        skipped = found - cursor
                        here = side.key(cursor)  # found >= cursor, so the store has a row here
                        result.add(f"{chrom}:{pos} {ref}>{alt}: the store has {skipped} variant(s) before it that are "
                                   f"not in the file, first {here[0]}:{here[1]} {here[2]}>{here[3]}", skipped)
                        row = found
                if row >= 0:
                    cursor = row + 1
                    if n:
                        chunk.rec_of_row.append(rec_no)
                        chunk.allele.append(a)
                        chunk.store_row.append(row)
                        chunk.label.append(f"{chrom}:{pos} {ref}>{alt}")
            if len(chunk) >= CHUNK_ROWS:
                _compare(chunk, side, check, result)
                chunk = _Chunk()
        if len(chunk):
            _compare(chunk, side, check, result)
    finally:
        vcf.close()
    if cursor < side.n:
        here = side.key(cursor)
        result.add(f"{check.path}: the store has {side.n - cursor} variant(s) of this partition that are not in the "
                   f"file, first {here[0]}:{here[1]} {here[2]}>{here[3]}", side.n - cursor)
    return result


def _genotypes(rec, check: PartitionCheck) -> tuple[np.ndarray, str | None]:
    """``(N, 2) int16`` allele columns of a record in store sample order (second column -2: haploid), and a
    problem to report (None if fine). A record without GT reads as all missing, as bcftools counts it.
    Allele ranges and half calls are checked per chunk in :func:`_compare`."""
    n = check.n_samples
    try:
        gt = rec.genotype.array()
    except Exception:  # cyvcf2: "couldn't get genotypes for variant" (no GT in the record)
        return np.full((n, 2), -1, np.int16), None
    if check.perm is not None:
        gt = gt[check.perm]
    if gt.shape[1] == 3:  # the common case: (at most) diploid; a view, copied once per chunk by np.stack
        return gt[:, :2], None
    alleles = gt[:, :-1]
    if alleles.shape[1] == 0:
        return np.full((n, 2), -1, np.int16), None
    problem = None
    if alleles.shape[1] > 2 and np.any(alleles[:, 2:] != -2):
        problem = "a call with ploidy above 2 (the store cannot hold it)"
    if alleles.shape[1] == 1:
        alleles = np.concatenate([alleles, np.full((n, 1), -2, alleles.dtype)], axis=1)
    return alleles[:, :2], problem


def _adj_inputs(rec, check: PartitionCheck, n_alt: int, build) -> tuple:
    """``(gq (N,), dp (N,), ad (N, n_alt + 1), hap (N,) bool)`` float64 with -inf missing, store order."""
    n = check.n_samples

    def get(name):  # only fields declared in the header (`use`); DP also feeds the allele balance
        if not check.use.get(name):
            return None
        values = _format_values(rec, name)
        if values is None:
            return None
        return values if check.perm is None else values[check.perm]

    gq = get("GQ")
    dp = get("DP")
    ad = get("AD")
    if gq is not None:
        gq = gq[:, 0]
    if dp is not None:
        dp = dp[:, 0]
    if check.use.get("AD") and dp is None and ad is not None:
        dp = np.where(ad < 0, 0.0, ad).sum(axis=1)
    if gq is None:
        gq = np.full(n, -np.inf)
    if dp is None:
        dp = np.full(n, -np.inf)
    if ad is None or ad.shape[1] <= n_alt:
        ad = np.full((n, n_alt + 1), -np.inf)
    hap = np.zeros(n, dtype=bool)
    kind = contig_kind(rec.CHROM)
    if kind in ("X", "Y") and check.xy is not None:
        in_par = bool(build.in_par(kind, rec.POS)) if build is not None else False
        if not in_par:
            hap = check.xy
    return gq, dp, ad, hap


def _compare(chunk: _Chunk, side: _StoreRows, check: PartitionCheck, result: PartResult) -> None:
    """Expected codes (and adj plane) of the chunk's aligned rows against the store's, in one comparison."""
    if not len(chunk):
        return
    rec = np.asarray(chunk.rec_of_row)
    allele = np.asarray(chunk.allele, dtype=np.int16)
    gts = np.stack(chunk.gts)  # (records, N, 2)
    a0, a1 = gts[rec, :, 0], gts[rec, :, 1]
    n_alt = np.asarray(chunk.n_alt)[rec][:, None]
    invalid = (a0 > n_alt) | (a1 > n_alt)
    if check.half_call == "error":
        invalid |= (a1 != -2) & ((a0 < 0) != (a1 < 0))
    for r in np.flatnonzero(invalid.any(axis=1) & (allele == 1)):
        s = int(np.flatnonzero(invalid[r])[0])
        result.add(f"{chunk.label[r]}: sample {check.ids[s]!r} has GT {a0[r, s]}/{a1[r, s]}, which the store cannot "
                   f"hold (an allele index above the ALT alleles, or a half call under half_call='error')")
    want = expected_codes(a0, a1, allele, check.half_call)
    have, have_fail = side.rows(np.asarray(chunk.store_row))
    result.n_calls += want.size
    diff = want != have
    for r in np.flatnonzero(diff.any(axis=1)):
        s = int(np.flatnonzero(diff[r])[0])
        result.add(f"{chunk.label[r]}: {int(diff[r].sum())} calls differ, first sample {check.ids[s]!r}: "
                   f"VCF code {want[r, s]}, store code {have[r, s]}")
    if chunk.adj:
        gq = np.stack([x[0] for x in chunk.adj])[rec]
        dp = np.stack([x[1] for x in chunk.adj])[rec]
        hap = np.stack([x[3] for x in chunk.adj])[rec]
        ad = np.stack([chunk.adj[i][2][:, a] for i, a in zip(rec, allele)])
        want_fail = expected_fail(want, a0, a1, gq, dp, ad, hap, check.use, check.half_call,
                                  **(check.adj or {}))
    else:
        want_fail = np.zeros(want.shape, bool)
    if have_fail is None:
        have_fail = np.zeros(want.shape, bool)
    bad = want_fail != have_fail
    for r in np.flatnonzero(bad.any(axis=1)):
        s = int(np.flatnonzero(bad[r])[0])
        result.add(f"{chunk.label[r]}: genotype filter (adj) differs for {int(bad[r].sum())} calls, first sample "
                   f"{check.ids[s]!r}")
