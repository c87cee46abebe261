"""A GQ declared ``Type=Float`` is compared unrounded with the adj threshold, as bcftools ``+setGT`` does.

Issue 8 item 8: GQ 19.55 used to be rounded to 20 and pass GQ >= 20. The oracle is bcftools
``+setGT -t q -n . -i 'FMT/GQ<20 | FMT/GQ="."'`` (gdbtools fails a missing GQ, so the oracle says so too),
for VCF.gz and BCF, through the default reader (``auto``) and htslib alone.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from gdbtools.ingest import ingest, verify

GQS = ["19.55", "20.0", "19.999", ".", "20.5", "0.4", "19.5", "35"]
HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=10000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Float,Description="Genotype quality, as a float">
"""


def _write(path, bcftools_bin, fmt):
    samples = [f"S{i}" for i in range(len(GQS))]
    lines = [HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    gts = ["0/1", "1/1", "0/1", "1/1"]
    for r, pos in enumerate((100, 200, 300)):
        calls = [f"{gts[(i + r) % 4]}:{gq if r == 0 else GQS[(i + r) % len(GQS)]}" for i, gq in enumerate(GQS)]
        lines.append(f"chr1\t{pos}\t.\tA\tG\t50\tPASS\t.\tGT:GQ\t" + "\t".join(calls))
    text = path.with_suffix(".vcf")
    text.write_text("\n".join(lines) + "\n")
    out = path.with_suffix(".bcf" if fmt == "bcf" else ".vcf.gz")
    subprocess.run([bcftools_bin, "view", "-Ob" if fmt == "bcf" else "-Oz", "-o", str(out), str(text)], check=True,
                   capture_output=True)
    subprocess.run([bcftools_bin, "index", "-c" if fmt == "bcf" else "-t", str(out)], check=True)
    return out


def _setgt_called(bcftools_bin, src) -> np.ndarray:
    """(records, samples) bool: the calls bcftools keeps after ``+setGT`` with the float comparison."""
    setgt = subprocess.run([bcftools_bin, "+setGT", str(src), "--", "-t", "q", "-n", ".",
                            "-i", 'FMT/GQ<20 | FMT/GQ="."'], capture_output=True, check=True)
    query = subprocess.run([bcftools_bin, "query", "-f", "[%GT\t]\n", "-"], input=setgt.stdout,
                           capture_output=True, check=True)
    rows = [line.rstrip("\t").split("\t") for line in query.stdout.decode().splitlines()]
    return np.array([[not gt.startswith(".") for gt in row] for row in rows])


@pytest.mark.parametrize("fmt", ["vcf.gz", "bcf"])
@pytest.mark.parametrize("reader", ["auto", "htslib"])
def test_ingest__float_gq_is_not_rounded_before_adj(fmt, reader, bcftools_bin, tmp_path, monkeypatch):
    monkeypatch.setenv("GDBTOOLS_READER", reader)
    src = _write(tmp_path / "float_gq", bcftools_bin, fmt)
    want = _setgt_called(bcftools_bin, src)
    # the oracle itself: 19.55, 19.999, missing, 0.4 and 19.5 fail; 20.0, 20.5 and 35 pass
    np.testing.assert_array_equal(want[0], [False, True, False, False, True, False, False, True])
    store = ingest(src, tmp_path / "store", workers=1, progress=False)
    codes = np.concatenate([b.codes(adj=True) for b in store.blocks()])
    np.testing.assert_array_equal(codes != 3, want)
    assert verify(store, progress=False).ok
    # the fast readers decode Integer FORMAT fields only: a Float GQ is read by htslib, and the manifest says why
    (part,) = store.manifest["partitions"]
    assert part["reader"] == "htslib"
    if reader == "auto":
        assert "FORMAT/GQ is not declared as Integer" in part["fallback_reason"]
    else:
        assert part["fallback_reason"] is None
