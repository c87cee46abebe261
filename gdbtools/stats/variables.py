"""Every output column of the statistics, declared once: name, dtype and meaning.

The tables returned by :mod:`gdbtools.stats` (and written by ``gdbtools freq`` / ``gdbtools qc``) use these
columns and no others; :func:`check_table` validates a table against its declaration (the tests call it on
every result).  Names follow the convention each field comes from: gnomAD and bcftools ``+fill-tags`` for
frequencies, Hail's ``variant_qc`` / ``sample_qc`` for QC, plink for the sex check, regenie / SAIGE-GENE+ for
the gene tests (:mod:`gdbtools.burden`).

Frequency columns marked *per group* appear once for the whole selection (no suffix: ``AC``) and once per
sample group with the group label as suffix (``AC_nfe``, ``AC_nfe_XX``; see :mod:`gdbtools.stats.freq`).

>>> from gdbtools.stats.variables import FREQ
>>> FREQ["AC"].dtype, FREQ["AC"].per_group
('int32', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..table import INT32, Table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Variable", "VARIANT_KEY", "FREQ", "VARIANT_QC", "SAMPLE_QC", "SEX_CHECK", "SAMPLE_OUTLIERS",
           "BATCH_CHECK", "BURDEN", "TABLES", "check_table", "describe",
           "variable_of"]


@dataclass(frozen=True)
class Variable:
    """One output column: ``name``, ``dtype`` (NumPy name, or ``"str"``), ``meaning``; ``per_group``: has a
    ``_<group>`` twin for each sample group; ``pattern``: the name is a template (``fail_<metric>``)."""

    name: str
    dtype: str
    meaning: str
    per_group: bool = False
    pattern: bool = False


def _table(*variables: Variable) -> dict[str, Variable]:
    return {v.name: v for v in variables}


VARIANT_KEY = _table(
    Variable("contig", "str", "Contig, as spelled in the input"),
    Variable("pos", "int64", "1-based position"),
    Variable("ref", "str", "Reference allele"),
    Variable("alt", "str", "Alternate allele (one per row: multi-allelic records are split)"),
)

FREQ = _table(
    *VARIANT_KEY.values(),
    Variable("AC", "int32", "Alternate allele count (a haploid alt call counts 1)", per_group=True),
    Variable("AN", "int32", "Number of called alleles (2 per diploid call, 1 per haploid call)", per_group=True),
    Variable("AF", "float64", "AC / AN; NaN where AN = 0", per_group=True),
    Variable("nhomalt", "int32", "Individuals homozygous or hemizygous for the alternate allele (gnomAD)",
             per_group=True),
    Variable("AC_Het", "int32", "Alternate alleles in heterozygous genotypes (bcftools +fill-tags)", per_group=True),
    Variable("AC_Hom", "int32", "Alternate alleles in homozygous diploid genotypes, 2 per genotype (bcftools)",
             per_group=True),
    Variable("AC_Hemi", "int32", "Alternate alleles in haploid genotypes = hemizygous alt individuals (bcftools)",
             per_group=True),
    Variable("NS", "int32", "Samples with a call (bcftools +fill-tags NS; Hail's n_called)", per_group=True),
    Variable("AC_raw", "int32", "AC before the genotype filters (only in an adj table)"),
    Variable("AN_raw", "int32", "AN before the genotype filters (only in an adj table)"),
    Variable("AF_raw", "float64", "AF before the genotype filters (only in an adj table)"),
    Variable("nhomalt_raw", "int32", "nhomalt before the genotype filters (only in an adj table)"),
    Variable("faf95", "float64", "Filtering allele frequency, Poisson 95% (gnomAD/Hail); 0 where AC <= 1",
             per_group=True),
    Variable("faf99", "float64", "Filtering allele frequency, Poisson 99% (gnomAD/Hail); 0 where AC <= 1",
             per_group=True),
    Variable("grpmax", "str", "Group of the population column with the highest AF (excluded groups left out); "
             "null when no group has AC > 0"),
    Variable("AC_grpmax", "Int32", "AC of the grpmax group (null with grpmax)"),
    Variable("AN_grpmax", "Int32", "AN of the grpmax group (null with grpmax)"),
    Variable("AF_grpmax", "float64", "AF of the grpmax group (NaN with grpmax null)"),
    Variable("nhomalt_grpmax", "Int32", "nhomalt of the grpmax group (null with grpmax)"),
    Variable("fafmax_faf95_max", "float64", "Highest faf95 over the population groups (excluded groups left out)"),
    Variable("fafmax_faf95_max_gen_anc", "str", "Group of fafmax_faf95_max; null where it is 0"),
    Variable("fafmax_faf99_max", "float64", "Highest faf99 over the population groups (excluded groups left out)"),
    Variable("fafmax_faf99_max_gen_anc", "str", "Group of fafmax_faf99_max; null where it is 0"),
)

VARIANT_QC = _table(
    *VARIANT_KEY.values(),
    Variable("call_rate", "float64", "n_called / (n_called + n_not_called); NaN when no sample is counted here"),
    Variable("n_called", "int32", "Samples with a call"),
    Variable("n_not_called", "int32", "Samples without a call (missing, or heterozygous where haploid)"),
    Variable("n_filtered", "int32", "Calls removed by the genotype filters (adj view only; 0 for raw)"),
    Variable("n_hom_ref", "int32", "Homozygous-reference calls (haploid reference calls included)"),
    Variable("n_het", "int32", "Heterozygous calls"),
    Variable("n_hom_var", "int32", "Homozygous-alternate calls (haploid alternate calls included)"),
    Variable("n_non_ref", "int32", "n_het + n_hom_var"),
    Variable("AC", "int32", "Alternate allele count"),
    Variable("AN", "int32", "Number of called alleles"),
    Variable("AF", "float64", "AC / AN; NaN where AN = 0"),
    Variable("het_freq_hwe", "float64", "Expected heterozygote fraction under HWE, from the diploid calls "
             "(Hail: Levene-Haldane mean / n)"),
    Variable("p_value_hwe", "float64", "HWE exact test, two-sided mid-p, diploid calls (Hail; plink2 --hardy midp)"),
    Variable("p_value_excess_het", "float64", "HWE exact test, one-sided for excess heterozygosity, mid-p (Hail)"),
    Variable("HWE", "float64", "HWE exact test, two-sided, not mid-p (plink2 --hardy P; bcftools HWE)"),
    Variable("ExcHet", "float64", "One-sided excess-heterozygosity exact p, not mid-p (bcftools ExcHet)"),
    Variable("InbreedingCoeff", "float64", "1 - n_het / (2 p q n) over the diploid calls (gnomAD); NaN if "
             "monomorphic"),
    Variable("p_value_hwe_x", "float64", "chrX outside the PARs: HWE exact test of the XX genotypes and XY alleles "
             "together (Graffelman-Weir), two-sided mid-p (plink2 --hardy midp MIDP of .hardy.x); NaN on other "
             "contigs and without diploid calls"),
    Variable("HWE_X", "float64", "chrX outside the PARs: the same test, two-sided, not mid-p (plink2 --hardy P of "
             ".hardy.x); NaN on other contigs and without diploid calls"),
)

SAMPLE_QC = _table(
    Variable("sample_id", "str", "Sample identifier"),
    Variable("call_rate", "float64", "n_called / (n_called + n_not_called)"),
    Variable("n_called", "int64", "Variants with a call for this sample"),
    Variable("n_not_called", "int64", "Variants without a call (missing, or heterozygous where haploid)"),
    Variable("n_filtered", "int64", "Calls removed by the genotype filters (adj view only; 0 for raw)"),
    Variable("n_hom_ref", "int64", "Homozygous-reference calls (haploid reference included)"),
    Variable("n_het", "int64", "Heterozygous calls"),
    Variable("n_hom_var", "int64", "Homozygous-alternate calls (haploid alternate included)"),
    Variable("n_non_ref", "int64", "n_het + n_hom_var"),
    Variable("n_singleton", "int64", "Alternate alleles of variants whose AC in the selection is 1"),
    Variable("n_snp", "int64", "SNP alternate alleles (het 1, hom-var 2, haploid 1)"),
    Variable("n_insertion", "int64", "Insertion alternate alleles"),
    Variable("n_deletion", "int64", "Deletion alternate alleles"),
    Variable("n_transition", "int64", "Transition alternate alleles"),
    Variable("n_transversion", "int64", "Transversion alternate alleles"),
    Variable("n_star", "int64", "Star (*) alternate alleles"),
    Variable("r_ti_tv", "float64", "n_transition / n_transversion (NaN when 0)"),
    Variable("r_het_hom_var", "float64", "n_het / n_hom_var (NaN when 0)"),
    Variable("r_insertion_deletion", "float64", "n_insertion / n_deletion (NaN when 0)"),
    Variable("f_stat", "float64", "Inbreeding F, method of moments over the polymorphic variants of the "
             "autosomes and PARs (plink2 --het F; Hail's inbreeding f_stat)"),
    Variable("f_n_called", "int64", "Polymorphic autosomal and PAR variants called (plink2 --het OBS_CT)"),
    Variable("f_observed_homs", "int64", "Homozygous calls among them (plink2 O(HOM))"),
    Variable("f_expected_homs", "float64", "Expected homozygous calls, sum of 1 - 2pq (plink2 E(HOM))"),
)

SEX_CHECK = _table(
    Variable("sample_id", "str", "Sample identifier"),
    Variable("reported_sex", "str", "Sex in the store (XX / XY / null), plink PEDSEX"),
    Variable("inferred_sex", "str", "XX if F < female_max_f, XY if F > male_min_f, else null (plink SNPSEX); with "
             "y_method='ycount' also bounded by the chrY call counts, with 'y-only' from them alone"),
    Variable("status", "str", "OK when reported and inferred sex agree, else PROBLEM (plink STATUS)"),
    Variable("f_stat", "float64", "chrX (outside the PARs) inbreeding F, plink --check-sex F"),
    Variable("x_n_called", "int64", "Polymorphic chrX non-PAR variants called"),
    Variable("x_observed_homs", "int64", "Homozygous calls among them"),
    Variable("x_expected_homs", "float64", "Expected homozygous calls (sum of 1 - 2pq)"),
    Variable("y_n_called", "int64", "chrY non-PAR variants called (any non-missing call; plink YCOUNT)"),
    Variable("y_n_variants", "int64", "chrY non-PAR variants in the selection"),
)

SAMPLE_OUTLIERS = _table(
    Variable("sample_id", "str", "Sample identifier"),
    Variable("group", "str", "Value of the grouping column (null: the sample was judged in the 'NA' group)"),
    Variable("<metric>", "float64", "The metric's value (from sample QC)", pattern=True),
    Variable("<metric>_median", "float64", "Median of the metric in the sample's group", pattern=True),
    Variable("<metric>_mad", "float64", "1.4826 x median absolute deviation in the group", pattern=True),
    Variable("fail_<metric>", "bool", "More than n_mads MADs from the group median", pattern=True),
    Variable("qc_metrics_filters", "str", "Comma-separated failing metrics (empty when none; gnomAD)"),
    Variable("outlier", "bool", "Any fail_<metric>"),
)

BATCH_CHECK = _table(
    *VARIANT_KEY.values(),
    Variable("AC_<batch>", "int32", "AC in the batch", pattern=True),
    Variable("AN_<batch>", "int32", "AN in the batch", pattern=True),
    Variable("AF_<batch>", "float64", "AF in the batch", pattern=True),
    Variable("batch", "str", "Batch whose allele frequency differs most from the others (smallest p)"),
    Variable("p_value", "float64", "Fisher exact test (two-sided) of the batch's allele counts against the "
             "others'; with more than two batches, the smallest such p times the number of batches"),
    Variable("q_value", "float64", "Benjamini-Hochberg adjusted p over the tested variants"),
    Variable("flagged", "bool", "q_value < fdr"),
)

BURDEN = _table(
    Variable("gene", "str", "Gene (variant set): the variant table's gene, or the BED's 4th column / GTF gene_name"),
    Variable("contig", "str", "Contig of the gene"),
    Variable("start", "int64", "First position of the gene (1-based; BED start + 1)"),
    Variable("end", "int64", "Last position of the gene (1-based, inclusive)"),
    Variable("mask", "str", "Mask (set of annotation classes; 'all' without --masks); '*' on the ACAT-O row"),
    Variable("bin", "str", "Frequency bin: its max AF as text ('0.01'), or 'singleton'; '*' on the ACAT-O row"),
    Variable("max_af", "float64", "Upper AF of the bin (variants with AF <= max_af); NaN for singletons and ACAT-O"),
    Variable("test", "str", "burden, skat, skato, acatv, or acato (Cauchy combination of the gene's other p-values)"),
    Variable("score", "str", "Per-sample score of the burden test (wsum, sum, max); the variant weights of the "
             "others (beta(1,25)); 'acat' on the ACAT-O row"),
    Variable("n_variants", "int64", "Qualifying variants of the mask x bin, monomorphic ones (MAC 0 among the "
             "analysed samples) left out (0: none qualify; p is NaN); ACAT-O: variants in any mask x bin"),
    Variable("n_carriers", "int64", "Analysed samples with an alt allele called at a qualifying variant"),
    Variable("mac", "int64", "Minor allele count over the qualifying variants (called genotypes)"),
    Variable("beta", "float64", "burden: effect per unit of score (linear: OLS; binary: score-test estimate U/V); "
             "NaN for the other tests"),
    Variable("se", "float64", "burden: standard error of beta; NaN for the other tests"),
    Variable("stat", "float64", "burden: t (linear) or z (score test); skat: Q; skato: the smallest p over rho; "
             "acatv, acato: the Cauchy statistic"),
    Variable("p", "float64", "p-value; NaN where nothing was tested (n_variants 0, or no variance)"),
    Variable("p_method", "str", "How p was computed: t, normal, spa, davies, liu, cauchy, ...; empty where p is NaN"),
    Variable("rho", "float64", "skato: the rho of the smallest p; NaN for the other tests"),
)

TABLES = {"freq": FREQ, "variant_qc": VARIANT_QC, "sample_qc": SAMPLE_QC, "sex_check": SEX_CHECK,
          "sample_outliers": SAMPLE_OUTLIERS, "batch_check": BATCH_CHECK, "burden": BURDEN}


def variable_of(table: dict[str, Variable], column: str, labels=()) -> Variable | None:
    """The declared variable of `column` in `table` (a value of :data:`TABLES`), or ``None``.

    An exact name first; then a per-group name: with the table's group `labels` (``freq_meta``) the column
    must be ``<name>_<label>``, without them the longest declared name that prefixes it (``AC_Het_afr`` is
    ``AC_Het``, not ``AC``); then the pattern with the longest literal part (``fail_<metric>``).
    """
    if column in table:
        return table[column]
    for label in sorted(map(str, labels), key=len, reverse=True):
        if label and column.endswith(f"_{label}"):
            var = table.get(column[: -len(label) - 1])
            if var is not None and var.per_group:
                return var
    for var in sorted((v for v in table.values() if v.per_group), key=lambda v: len(v.name), reverse=True):
        if column.startswith(var.name + "_"):
            return var
    best, best_len = None, -1
    for var in table.values():
        if var.pattern:
            head, _, rest = var.name.partition("<")
            tail = rest.split(">", 1)[1]
            literal = len(head) + len(tail)
            if (column.startswith(head) and column.endswith(tail) and len(column) > literal
                    and literal > best_len):
                best, best_len = var, literal
    return best


def _dtype_of(df: pd.DataFrame | Table, column: str) -> str:
    """A column's dtype in the names of the declarations (``"str"`` for text of any kind, ``"Int32"``)."""
    if isinstance(df, Table):
        values = df[column]
        if isinstance(values, np.ndarray):
            return values.dtype.name
        return "Int32" if df.kinds.get(column) == INT32 else "str"
    import pandas as pd

    dtype = df[column].dtype
    if pd.api.types.is_string_dtype(dtype) or getattr(dtype, "kind", "") == "O":
        return "str"
    return str(dtype)


def check_table(df: pd.DataFrame | Table, name: str) -> pd.DataFrame | Table:
    """Raise ``ValueError`` if a column of `df` (a DataFrame or a :class:`~gdbtools.table.Table`) is not declared
    in table `name` or has another dtype; returns `df` (the statistics call it where each table is made)."""
    table = TABLES[name]
    bad = []
    for column in df.columns:
        var = variable_of(table, column)
        if var is None:
            bad.append(f"{column!r} is not declared in gdbtools.stats.variables.{name.upper()}")
        elif _dtype_of(df, column) != var.dtype:
            bad.append(f"{column!r} has dtype {_dtype_of(df, column)}, declared {var.dtype}")
    if bad:
        raise ValueError("; ".join(bad))
    return df


def describe(name: str) -> pd.DataFrame:
    """The declaration of table `name` as a DataFrame (name, dtype, per_group, meaning)."""
    import pandas as pd

    return pd.DataFrame([{"name": v.name, "dtype": v.dtype, "per_group": v.per_group, "meaning": v.meaning}
                         for v in TABLES[name].values()])
