"""Independent reference computations for the statistics tests: bcftools, plink2 and plink 1.9 on real data.

Each function runs the real tool (Debian packages) and parses its output; none asserts anything.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pandas as pd

__all__ = ["need", "sh", "norm_split", "fill_tags", "plink2_import", "plink2_reports", "plink2_sample_counts",
           "plink19_check_sex", "write_sex_file", "variant_ids"]

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# the real call sets of ../shared/data used by the statistics tests
KG = "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz"
KG_META = "1kg_phase3_subset_1126/samples_annot.tsv"
HM = "hapmap2_snprelate_279/hapmap_geno_snprelate_hg18.vcf.gz"
HM_META = "hapmap2_snprelate_279/hapmap_geno_samples.tsv"
FILL_TAGS = ("AC", "AN", "AF", "AC_Het", "AC_Hom", "AC_Hemi", "NS")


def need(condition: bool, reason: str) -> None:
    """Skip when `condition` is false, except under CI where that is a failure (as tests/conftest.py)."""
    import pytest

    if not condition:
        if CI:
            pytest.fail(f"CI is missing a prerequisite: {reason}")
        pytest.skip(reason)


def sh(*cmd, stdin: bytes | None = None, check: bool = True) -> str:
    proc = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr.decode()[-3000:]}")
    return proc.stdout.decode()


def norm_split(src: Path, out: Path, samples_file: Path | None = None, regions: str | None = None) -> Path:
    """``bcftools [view -S] | bcftools norm -m-`` into a bgzipped, indexed VCF."""
    view = ["bcftools", "view", "-Ou", str(src)]
    if samples_file is not None:
        view[3:3] = ["-S", str(samples_file), "--force-samples"]
    if regions is not None:
        view[3:3] = ["-r", regions]
    p1 = subprocess.Popen(view, stdout=subprocess.PIPE)
    subprocess.run(["bcftools", "norm", "-m-", "-Oz", "-o", str(out), "-"], stdin=p1.stdout, check=True,
                   capture_output=True)
    p1.wait()
    sh("bcftools", "index", "-t", "-f", out)
    return out


def fill_tags(vcf: Path, groups_file: Path | None = None) -> pd.DataFrame:
    """``bcftools +fill-tags -t AC,AN,AF,AC_Het,AC_Hom,AC_Hemi,NS [-S groups]`` on a split VCF.

    Returns one row per record: contig, pos, ref, alt and the tags (per group ``AC_<group>``...).
    """
    args = ["bcftools", "+fill-tags", str(vcf), "-Ou", "--", "-t", ",".join(FILL_TAGS)]
    if groups_file is not None:
        args += ["-S", str(groups_file)]
    bcf = subprocess.run(args, capture_output=True, check=True).stdout
    header = sh("bcftools", "view", "-h", "-", stdin=bcf)
    tags = [line.split("ID=", 1)[1].split(",", 1)[0] for line in header.splitlines() if line.startswith("##INFO")]
    tags = [t for t in tags if any(t == base or t.startswith(base + "_") for base in FILL_TAGS)]
    fmt = "%CHROM\t%POS\t%REF\t%ALT\t" + "\t".join(f"%INFO/{t}" for t in tags) + "\n"
    text = sh("bcftools", "query", "-f", fmt, "-", stdin=bcf)
    df = pd.read_csv(io.StringIO(text), sep="\t", header=None, names=["contig", "pos", "ref", "alt", *tags],
                     dtype={0: str, 2: str, 3: str}, keep_default_na=False, na_values=["."])
    return df


def variant_ids(df: pd.DataFrame) -> pd.Series:
    return df["contig"].astype(str) + ":" + df["pos"].astype(str) + ":" + df["ref"] + ":" + df["alt"]


def write_sex_file(path: Path, ids, sex) -> Path:
    """plink2 ``--update-sex`` file (header ``#IID SEX``; 1 male, 2 female, 0 unknown)."""
    code = pd.Series(list(sex)).map({"XY": 1, "XX": 2}).fillna(0).astype(int)
    pd.DataFrame({"#IID": list(ids), "SEX": code}).to_csv(path, sep="\t", index=False)
    return path


def plink2_import(vcf: Path, out: Path, sex_file: Path, par: str, extra=()) -> Path:
    """A pgen of a split VCF with sex, PARs split off chrX, half calls haploid, ids chr:pos:ref:alt."""
    sh("plink2", "--vcf", vcf, "--vcf-half-call", "h", "--update-sex", sex_file, "--split-par", par,
       "--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "1000", "truncate", "--allow-extra-chr",
       "--max-alleles", "2", *extra, "--make-pgen", "--out", out, "--silent", "--threads", "2")
    return out


def plink2_reports(pfile: Path, out: Path, het: bool = True) -> dict[str, pd.DataFrame]:
    """``--freq counts --geno-counts --hardy --missing [--het]`` (+ ``--hardy midp``) as DataFrames."""
    sh("plink2", "--pfile", pfile, "--freq", "counts", "--geno-counts", "--hardy", "--missing",
       *(["--het"] if het else []), "--allow-extra-chr", "--out", out, "--silent", "--threads", "2")
    mid = Path(f"{out}.midp")
    sh("plink2", "--pfile", pfile, "--hardy", "midp", "--allow-extra-chr", "--out", mid, "--silent", "--threads", "2")
    read = lambda p: pd.read_csv(p, sep="\t", dtype={"#CHROM": str})  # noqa: E731
    res = {"acount": read(f"{out}.acount"), "gcount": read(f"{out}.gcount"), "vmiss": read(f"{out}.vmiss"),
           "smiss": read(f"{out}.smiss"), "hardy": read(f"{out}.hardy"),
           "hardy_midp": read(f"{mid}.hardy")}
    if het:
        res["het"] = read(f"{out}.het")
    if Path(f"{out}.hardy.x").exists():
        res["hardy_x"] = read(f"{out}.hardy.x")
    return res


def plink2_sample_counts(pfile: Path, out: Path, extract: list[str] | None = None, extra=()) -> pd.DataFrame:
    """``plink2 --sample-counts`` (all column sets), optionally on the variant ids in `extract`."""
    args = ["plink2", "--pfile", pfile, "--sample-counts", "cols=+hom,+homref,+homalt,+homaltsnp,+het,+hetsnp,+ts,"
            "+tv,+single,+hapref,+hapalt,+missing,+nonsnp,+symbolic", "--allow-extra-chr", "--out", out, "--silent",
            "--threads", "2", *extra]
    if extract is not None:
        path = Path(f"{out}.extract")
        path.write_text("".join(f"{x}\n" for x in extract))
        args += ["--extract", path]
    sh(*args)
    return pd.read_csv(f"{out}.scount", sep="\t").set_index("#IID")


def plink19_check_sex(vcf: Path, out: Path, ids, sex, build: str, extra=()) -> pd.DataFrame:
    """plink 1.9 ``--check-sex`` (PARs split off with ``--split-x``); returns the .sexcheck table by IID."""
    sexfile = Path(f"{out}.sex")
    code = pd.Series(list(sex)).map({"XY": 1, "XX": 2}).fillna(0).astype(int)
    pd.DataFrame({"FID": list(ids), "IID": list(ids), "SEX": code}).to_csv(sexfile, sep="\t", index=False,
                                                                           header=False)
    sh("plink1.9", "--vcf", vcf, "--double-id", "--update-sex", sexfile, "--split-x", build, "no-fail",
       *extra, "--make-bed", "--out", out, "--allow-extra-chr", "--silent")
    sh("plink1.9", "--bfile", out, "--check-sex", "--out", out, "--silent", "--allow-extra-chr")
    return pd.read_csv(f"{out}.sexcheck", sep=r"\s+").set_index("IID")
