"""Helpers of the release tests: reading releases with bcftools (an independent reader) and the oracles' inputs."""

from __future__ import annotations

import gzip
import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import HM, HM_META, KG22, KG22_META  # noqa: F401  (the release tests' call sets: defined once, in helpers)

KEY = ["contig", "pos", "ref", "alt"]


def sh(*cmd, stdin: bytes | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr.decode()[-3000:]}")
    return proc.stdout.decode()


def info_tags(vcf: Path) -> list[str]:
    header = sh("bcftools", "view", "-h", vcf)
    return [line.split("ID=", 1)[1].split(",", 1)[0] for line in header.splitlines() if line.startswith("##INFO")]


def query(vcf: Path, tags: list[str]) -> pd.DataFrame:
    """``bcftools query`` of INFO ``tags`` (missing values as NA), with contig, pos, ref, alt, filter."""
    fmt = "%CHROM\t%POS\t%REF\t%ALT\t%FILTER\t" + "\t".join(f"%INFO/{t}" for t in tags) + "\n"
    text = sh("bcftools", "query", "-f", fmt, vcf)
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=[*KEY, "filter", *tags],
                       dtype={0: str, 2: str, 3: str}, keep_default_na=False, na_values=["."])


def fixploidy(src: Path, samples: pd.DataFrame, out: Path, par: tuple[tuple[int, int], ...]) -> Path:
    """``bcftools +fixploidy``: males haploid on chrX outside the PARs ``par`` (the oracle's own ploidy file)."""
    sex = out.with_suffix(".sex")
    samples.assign(s=samples["sex"].map({"XX": "F", "XY": "M"}))[["sample_id", "s"]].to_csv(
        sex, sep="\t", header=False, index=False)
    (p1_start, p1_end), (p2_start, p2_end) = par
    ploidy = out.with_suffix(".ploidy")
    ploidy.write_text(f"X {p1_start} {p1_end} M 2\nX {p1_end + 1} {p2_start - 1} M 1\nX {p2_start} {p2_end} M 2\n"
                      "* * * M 2\n* * * F 2\n")
    sh("bcftools", "+fixploidy", src, "-Oz", "-o", out, "--", "-s", sex, "-p", ploidy)
    sh("bcftools", "index", "-t", "-f", out)
    return out


def fill_tags(vcf: Path, groups: Path | None, tags: str = "AC,AN,AC_Het,AC_Hom,AC_Hemi,NS") -> pd.DataFrame:
    """``bcftools norm -m- | bcftools +fill-tags -t TAGS [-S groups]``, one row per split record."""
    norm = subprocess.run(["bcftools", "norm", "-m-", "-Ou", str(vcf)], capture_output=True, check=True).stdout
    args = ["bcftools", "+fill-tags", "-Ou", "-", "--", "-t", tags]
    if groups is not None:
        args += ["-S", str(groups)]
    bcf = subprocess.run(args, input=norm, capture_output=True, check=True).stdout
    header = sh("bcftools", "view", "-h", "-", stdin=bcf)
    names = [line.split("ID=", 1)[1].split(",", 1)[0] for line in header.splitlines() if line.startswith("##INFO")]
    wanted = tags.split(",")
    names = [t for t in names if any(t == w or t.startswith(w + "_") for w in wanted)]
    fmt = "%CHROM\t%POS\t%REF\t%ALT\t" + "\t".join(f"%INFO/{t}" for t in names) + "\n"
    text = sh("bcftools", "query", "-f", fmt, "-", stdin=bcf)
    return pd.read_csv(io.StringIO(text), sep="\t", header=None, names=[*KEY, *names],
                       dtype={0: str, 2: str, 3: str}, keep_default_na=False, na_values=["."])


def groups_file(samples: pd.DataFrame, columns: list[str], path: Path) -> Path:
    """fill-tags ``-S``: each sample in a group per column and one of their combination (``GBR,male,GBR_male``)."""
    values = samples[columns].astype(str)
    labels = values.agg(",".join, axis=1)
    if len(columns) > 1:
        labels = labels + "," + values.agg("_".join, axis=1)
    pd.DataFrame({"s": samples["sample_id"], "g": labels}).to_csv(path, sep="\t", header=False, index=False)
    return path


def aligned(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables on the same rows (inner join on the key; the caller checks that nothing was lost)."""
    a = ours.assign(contig=ours["contig"].astype(str)).reset_index(drop=True)
    b = theirs.assign(contig=theirs["contig"].astype(str)).reset_index(drop=True)
    ka = a[KEY].assign(nth=a.groupby(KEY).cumcount())  # a key repeated in the source VCF: matched in order
    kb = b[KEY].assign(nth=b.groupby(KEY).cumcount()).reset_index()
    m = ka.merge(kb, on=[*KEY, "nth"], how="left")
    assert m["index"].notna().all(), "rows of the release missing from the oracle"
    return a, b.loc[m["index"].astype(int)].reset_index(drop=True)


def every_text(path: Path) -> str:
    """All the text a release file holds: a (b)gzipped file decompressed, Parquet as its values and metadata."""
    name = path.name
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = b" ".join(k + b" " + v for k, v in (table.schema.metadata or {}).items()).decode()
        return table.to_pandas().to_csv(sep="\t") + meta + " ".join(table.column_names)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("latin-1")


def people(t: pd.DataFrame, sfx: str = "") -> dict[str, np.ndarray]:
    """The carrier counts of a (controlled) release table: AC, het, hom, hemi, nhomalt."""
    return {"AC": t[f"AC{sfx}"].to_numpy(np.int64), "het": t[f"AC_Het{sfx}"].to_numpy(np.int64),
            "hom": t[f"AC_Hom{sfx}"].to_numpy(np.int64) // 2, "hemi": t[f"AC_Hemi{sfx}"].to_numpy(np.int64),
            "nhomalt": t[f"nhomalt{sfx}"].to_numpy(np.int64)}



def export_opts(**kw):
    """ExportOptions with the tests' defaults (host backend: no warning about a missing GPU)."""
    from gdbtools.optionsets import ExportOptions

    kw.setdefault("backend", "host")
    return ExportOptions(**kw)
