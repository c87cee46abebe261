"""Independent reference computations for the statistics tests: bcftools, plink2 and plink 1.9 on real data.

Each function runs the real tool (Debian packages) and parses its output; none asserts anything.
"""

from __future__ import annotations

import io
import subprocess
from fractions import Fraction
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import HM, HM_META, need  # noqa: F401  (HM paths: defined once, in helpers)

__all__ = ["need", "sh", "norm_split", "fill_tags", "plink2_import", "plink2_reports", "plink2_sample_counts",
           "plink19_check_sex", "write_sex_file", "variant_ids", "hwe_x_enumerate", "hwe_x_log_enumerate",
           "assert_printed_digits"]

# the real call sets of ../shared/data used by the statistics tests
KG = "1kg_phase3_subset_1126/1KG_phase3_subset_chr1-22X.vcf.gz"
KG_META = "1kg_phase3_subset_1126/samples_annot.tsv"
FILL_TAGS = ("AC", "AN", "AF", "AC_Het", "AC_Hom", "AC_Hemi", "NS")


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
           "smiss": read(f"{out}.smiss")}
    if Path(f"{out}.hardy").exists():  # absent when every variant is on chrX outside the PARs
        res["hardy"] = read(f"{out}.hardy")
        res["hardy_midp"] = read(f"{mid}.hardy")
    if het:
        res["het"] = read(f"{out}.het")
    if Path(f"{out}.hardy.x").exists():  # chrX outside the PARs (Graffelman-Weir, females + males)
        res["hardy_x"] = read(f"{out}.hardy.x")
        res["hardy_x_midp"] = read(f"{mid}.hardy.x")
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


def plink19_check_sex(vcf: Path, out: Path, ids, sex, build: str, extra=(), modes=((),)) -> pd.DataFrame:
    """plink 1.9 ``--check-sex`` (PARs split off with ``--split-x``); returns the .sexcheck table by IID.

    `modes`: the ``--check-sex`` arguments of each run (``()``, ``("ycount",)``, ``("y-only", "0", "1")``...)
    on the same fileset; with more than one, a list of tables in that order.
    """
    sexfile = Path(f"{out}.sex")
    code = pd.Series(list(sex)).map({"XY": 1, "XX": 2}).fillna(0).astype(int)
    pd.DataFrame({"FID": list(ids), "IID": list(ids), "SEX": code}).to_csv(sexfile, sep="\t", index=False,
                                                                           header=False)
    sh("plink1.9", "--vcf", vcf, "--double-id", "--update-sex", sexfile, "--split-x", build, "no-fail",
       *extra, "--make-bed", "--out", out, "--allow-extra-chr", "--silent")
    tables = []
    for k, mode in enumerate(modes):
        run = f"{out}.cs{k}"
        sh("plink1.9", "--bfile", out, "--check-sex", *mode, "--out", run, "--silent", "--allow-extra-chr")
        tables.append(pd.read_csv(f"{run}.sexcheck", sep=r"\s+").set_index("IID"))
    return tables[0] if len(tables) == 1 else tables


def hwe_x_enumerate(f_het: int, f_hom1: int, f_hom2: int, m1: int, m2: int) -> tuple[float, float]:
    """Graffelman-Weir X-chromosomal HWE exact test by enumerating every table in rational arithmetic.

    Conditioned on the numbers of females and males and on the allele-1 total, a table has probability
    ``nA! nB! nf! nm! 2^fAB / (fAA! fAB! fBB! mA! mB! N!)``.  Returns ``(p, p_midp)``: the mass of the
    tables at most as probable as the observed one, and the same with the equally probable ones counted
    half (ties are exact here).  For small counts only.
    """
    nf, nm = f_het + f_hom1 + f_hom2, m1 + m2
    n_a = 2 * f_hom1 + f_het + m1

    def weight(h, a, b, x, y):  # the probability up to the factor nA! nB! nf! nm! / N!
        return Fraction(2**h, factorial(a) * factorial(h) * factorial(b) * factorial(x) * factorial(y))

    obs = weight(f_het, f_hom1, f_hom2, m1, m2)
    total = below = tied = Fraction(0)
    for x in range(0, min(nm, n_a) + 1):
        a_f = n_a - x  # female allele-1 count
        if a_f > 2 * nf:
            continue
        for h in range(a_f % 2, min(a_f, 2 * nf - a_f) + 1, 2):
            a = (a_f - h) // 2
            w = weight(h, a, nf - a - h, x, nm - x)
            total += w
            if w < obs:
                below += w
            elif w == obs:
                tied += w
    return float((below + tied) / total), float((below + tied / 2) / total)


def hwe_x_log_enumerate(f_het: int, f_hom1: int, f_hom2: int, m1: int, m2: int) -> float:
    """The two-sided p of :func:`hwe_x_enumerate` over every table in log space (``gammaln``), for counts in
    the hundreds: relative precision about 1e-11 (ties are judged with a 1e-9 tolerance in the log)."""
    from scipy.special import gammaln, logsumexp

    nf, nm = f_het + f_hom1 + f_hom2, m1 + m2
    n_a = 2 * f_hom1 + f_het + m1

    def logw(h, a, b, x, y):
        return h * np.log(2.0) - gammaln(a + 1.0) - gammaln(h + 1.0) - gammaln(b + 1.0) - gammaln(x + 1.0) \
            - gammaln(y + 1.0)

    obs = logw(f_het, f_hom1, f_hom2, m1, m2)
    parts = []
    for x in range(0, min(nm, n_a) + 1):
        a_f = n_a - x
        if a_f > 2 * nf:
            continue
        h = np.arange(a_f % 2, min(a_f, 2 * nf - a_f) + 1, 2, dtype=np.float64)
        a = (a_f - h) / 2
        parts.append(logw(h, a, nf - a - h, float(x), float(nm - x)))
    lw = np.concatenate(parts)
    return float(np.exp(logsumexp(lw[lw <= obs + 1e-9]) - logsumexp(lw)))


def assert_printed_digits(ours, printed, digits: int = 6, err_msg: str = "") -> None:
    """Each value of `ours` rounds to the `digits` significant digits a tool printed (within half a unit
    in the last printed digit, plus 1e-12 relative for the binary-decimal conversion); values the tool
    printed at or below 1e-300 (its floor) only need to be below 1e-300 too."""
    ours = np.asarray(ours, dtype=np.float64)
    printed = np.asarray(printed, dtype=np.float64)
    tiny = printed <= 1e-300
    with np.errstate(divide="ignore"):
        half_unit = 0.5 * 10.0 ** (np.floor(np.log10(np.where(tiny, 1.0, np.abs(printed)))) - (digits - 1))
    ok = np.where(tiny, ours <= 1e-300, np.abs(ours - printed) <= half_unit * (1 + 1e-6) + 1e-12 * np.abs(printed))
    if not ok.all():
        bad = np.flatnonzero(~ok)[:10]
        raise AssertionError(f"{err_msg}: {int((~ok).sum())} of {ok.size} values differ from the printed ones "
                             f"beyond the last digit, e.g. {list(zip(ours[bad].tolist(), printed[bad].tolist()))}")
