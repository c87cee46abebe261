"""Independent reference computations with bcftools, used as oracles by the tests.

Each function runs the real bcftools binary (Debian package) on a VCF and parses its output. They assert
nothing themselves.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pandas as pd

__all__ = ["bcftools", "require_tool", "split_variant_counts", "split_sample_counts"]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed; the test runner installs it (scripts/test)")
    return path


def bcftools(*args: str, stdin: bytes | None = None) -> str:
    """Run bcftools and return stdout (text); raise with stderr on failure."""
    proc = subprocess.run([require_tool("bcftools"), *args], input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bcftools {' '.join(args)} failed: {proc.stderr.decode()[-2000:]}")
    return proc.stdout.decode()


def _pipe(path: str, *stages: list[str]) -> str:
    """bcftools norm -m- PATH | stage1 | stage2 ... (all bcftools)."""
    cmd = [require_tool("bcftools"), "norm", "-m-", "-Ou", str(path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)]
    for stage in stages:
        procs.append(subprocess.Popen([require_tool("bcftools"), *stage], stdin=procs[-1].stdout,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        procs[-2].stdout.close()
    out, err = procs[-1].communicate()
    for p in procs[:-1]:
        p.wait()
    if procs[-1].returncode != 0:
        raise RuntimeError(err.decode()[-2000:])
    return out.decode()


def split_variant_counts(path: str, n_samples: int) -> pd.DataFrame:
    """Per split variant, genotype-code counts from ``bcftools norm -m- | bcftools +fill-tags``.

    Columns: contig, pos, ref, alt, n_hom_ref, n_het, n_hom_alt, n_missing, where hom-alt includes haploid
    alt calls (AC_Hom/2 + AC_Hemi) and missing is N - NS.
    """
    text = _pipe(path, ["+fill-tags", "-Ou", "--", "-t", "AC_Het,AC_Hom,AC_Hemi,NS"],
                 ["query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%AC_Het\t%AC_Hom\t%AC_Hemi\t%NS\n"])
    df = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype={0: str},
                     names=["contig", "pos", "ref", "alt", "het", "hom", "hemi", "ns"], keep_default_na=False)
    if n_samples == 0:  # sites-only: fill-tags leaves any existing tags alone; there are no calls to count
        df[["het", "hom", "hemi", "ns"]] = 0
    out = pd.DataFrame({"contig": df["contig"], "pos": df["pos"], "ref": df["ref"], "alt": df["alt"]})
    out["n_het"] = df["het"].astype(np.int64)
    out["n_hom_alt"] = df["hom"].astype(np.int64) // 2 + df["hemi"].astype(np.int64)
    out["n_missing"] = n_samples - df["ns"].astype(np.int64)
    out["n_hom_ref"] = n_samples - out["n_het"] - out["n_hom_alt"] - out["n_missing"]
    return out


def split_sample_counts(path: str) -> pd.DataFrame:
    """Per sample counts from ``bcftools norm -m- | bcftools stats -s -`` (PSC and PSI sections).

    Columns: sample, snp_hom_ref (nRefHom + nHapRef: over all variants, despite bcftools' note), snp_het and
    snp_hom_alt (nHets, nNonRefHom: SNPs only), hap_alt (nHapAlt: all variants), n_missing (all variants),
    indel_het and indel_hom_alt (PSI), n_singleton. bcftools stats reads half calls (0/.) as missing.
    """
    text = _pipe(path, ["stats", "-s", "-"])
    psc, psi = [], []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "PSC":
            psc.append(parts)
        elif parts[0] == "PSI":
            psi.append(parts)
    out = pd.DataFrame({
        "sample": [p[2] for p in psc],
        "snp_hom_ref": [int(p[3]) + int(p[11]) for p in psc],
        "snp_hom_alt": [int(p[4]) for p in psc],
        "hap_alt": [int(p[12]) for p in psc],
        "snp_het": [int(p[5]) for p in psc],
        "n_transition": [int(p[6]) for p in psc],
        "n_transversion": [int(p[7]) for p in psc],
        "n_singleton": [int(p[10]) for p in psc],
        "n_missing": [int(p[13]) for p in psc],
    })
    if psi:
        ind = pd.DataFrame({"sample": [p[2] for p in psi],
                            "indel_het": [int(p[7]) + int(p[8]) for p in psi],
                            "indel_hom_alt": [int(p[9]) + int(p[10]) for p in psi]})
        out = out.merge(ind, on="sample", how="left")
    return out
