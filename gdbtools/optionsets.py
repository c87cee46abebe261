"""The options of each command / pipeline step kind, defined once (see :mod:`gdbtools.options`).

``gdbtools ingest|verify|freq|qc|report|export|burden`` take these as command-line options, a pipeline step
of the same kind as keys, and ``docs/OPTIONS.md`` is generated from them (:func:`options_markdown`). Standard
library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import markdown, option

__all__ = ["IngestOptions", "VerifyOptions", "SelectOptions", "CountOptions", "FreqOptions", "QcOptions",
           "ReportOptions", "ExportOptions", "DEFAULT_DENY", "BurdenOptions", "BURDEN_TESTS", "OPTION_SETS", "CLI_ONLY",
           "options_markdown"]


@dataclass(frozen=True)
class IngestOptions:
    """Ingest VCF/BCF files into a cohort store (:func:`gdbtools.ingest.ingest`)."""

    metadata_id: str | None = option(None, "Id column of the metadata TSV (default: sample_id, sample, s, IID, ... "
                                     "or the first).")
    sex_column: str | None = option(None, "Sex column of the metadata TSV (default: sex, gender, ...).")
    strict_metadata: bool = option(False, "Fail if any sample lacks metadata or any metadata row is unused.")
    build: str | None = option(None, "Genome build (GRCh37, GRCh38, NCBI36); detected from the header if omitted.")
    merge: bool = option(False, "Inputs hold disjoint samples (per-sample VCFs): merge by variant.")
    absent: str = option("missing", "With --merge: a call absent from a file is missing or hom-ref.",
                         choices=("missing", "hom-ref"))
    half_call: str = option("haploid", "How to read half-missing calls such as 0/. (plink2's --vcf-half-call).",
                            choices=("haploid", "missing", "reference", "error"))
    adj: bool = option(True, "Compute the genotype-filter (adj) plane with the thresholds below.",
                       cli="--adj/--no-adj")
    adj_gq: int = option(20, "adj: minimum GQ.", minimum=0)
    adj_dp: int = option(10, "adj: minimum DP.", minimum=0)
    adj_dp_haploid: int = option(5, "adj: minimum DP of haploid calls.", minimum=0)
    adj_ab: float = option(0.2, "adj: minimum allele balance AD[alt]/DP of het calls.", minimum=0)
    block_size: int | None = option(None, "Variants per genotype block (default: by sample count, 1024-4096).",
                                    minimum=1)
    encoding: str = option("hybrid2", "Genotype encoding: hybrid2 stores rare variants sparse, dense2 as "
                           "bit-planes only.", choices=("hybrid2", "dense2"))
    partition_records: int = option(10_000, "Records per parallel partition (region windows).", minimum=1)
    partition_by: str = option("region", "Partitioning of the work (contig: one partition per contig, for job "
                               "arrays).", choices=("region", "contig", "file"))
    info: tuple[str, ...] = option((), "INFO field to keep as a variant column (repeatable).")
    annotations: str = option("auto", "Annotation INFO field parsed into gene/consequence (auto: CSQ, ANN or "
                              "BCSQ; 'none' to skip).")
    regions: tuple[str, ...] = option((), "Only this region (repeatable; needs an index).", cli="--region")
    index: bool = option(False, "Build missing indexes (inside the store's work directory).")
    workers: int | None = option(None, "Parallel workers (default: the CPU count; a pipeline step in a SLURM job: "
                                 "SLURM_CPUS_PER_TASK; 1 = no cluster).", cli="--workers|-j", minimum=1,
                                 fingerprint=False)
    overwrite: bool = option(False, "Replace an existing store (one ingested from other inputs) at the output.",
                             fingerprint=False)

    def adj_setting(self) -> bool | dict:
        """``adj=`` of :func:`~gdbtools.ingest.ingest`: False or the thresholds."""
        if not self.adj:
            return False
        return {"min_gq": self.adj_gq, "min_dp": self.adj_dp, "min_dp_haploid": self.adj_dp_haploid,
                "min_ab": self.adj_ab}

    def ingest_kwargs(self) -> dict:
        """The keyword arguments of :func:`~gdbtools.ingest.plan_ingest` (add ``workers``, ``overwrite``,
        ``progress``, ``step`` for :func:`~gdbtools.ingest.ingest`)."""
        return dict(metadata_id=self.metadata_id, sex_column=self.sex_column, strict_metadata=self.strict_metadata,
                    build=self.build, merge=self.merge, absent=self.absent, half_call=self.half_call,
                    adj=self.adj_setting(), block_size=self.block_size, partition_records=self.partition_records,
                    partition_by=self.partition_by, info_fields=tuple(self.info),
                    annotations=None if self.annotations in (None, "none") else self.annotations,
                    regions=list(self.regions) or None, index=self.index, encoding=self.encoding)


@dataclass(frozen=True)
class VerifyOptions:
    """Re-read a store and compare it with its source VCF/BCF files (:func:`gdbtools.ingest.verify`)."""


@dataclass(frozen=True)
class SelectOptions:
    """The selection and compute settings shared by the statistics commands."""

    samples: str | None = option(None, "Pandas query selecting samples, e.g. \"population == 'nfe'\".",
                                 cli="--samples|-s")
    regions: tuple[str, ...] = option((), "Only variants in this region (repeatable).", cli="--region|-r")
    backend: str = option("auto", "Compute backend: auto = GPU if present, else host kernels, else NumPy.",
                          choices=("auto", "numpy", "host", "cupy"), fingerprint=False)
    allow_empty: bool = option(False, "Allow a selection that matches no samples or no variants (default: an error "
                               "that shows what the store holds).")


@dataclass(frozen=True)
class CountOptions(SelectOptions):
    """The selection settings of the commands that count genotypes by ploidy (freq, qc)."""

    unknown_sex: str = option("exclude", "Samples of unknown sex on chrX/chrY outside the PARs: excluded, or "
                              "counted as XX.", choices=("exclude", "diploid"))


@dataclass(frozen=True)
class FreqOptions(CountOptions):
    """Allele frequencies by sample group (:meth:`gdbtools.Cohort.freq`)."""

    by: tuple[str, ...] = option((), "Sample column to stratify by (repeatable; two or more also give their "
                                 "combination).", cli="--by|-b")
    adj: bool = option(True, "Counts after the genotype filters (adj, with AC_raw... overall) or of the raw calls.",
                       cli="--adj/--raw")
    grpmax_by: str | None = option(None, "Population column for faf per group and grpmax (default: a --by column "
                                   "named population/pop/gen_anc...).")


@dataclass(frozen=True)
class QcOptions(CountOptions):
    """Variant and sample QC, sex check, outliers and batch check (:func:`gdbtools.outputs.write_qc`)."""

    adj: bool = option(False, "QC of the adj view or of the raw calls.", cli="--adj/--raw")
    outliers_by: str = option("auto", "Sample column grouping the MAD outlier test (auto: the first population "
                              "column present; 'none': one group).")
    n_mads: float = option(4.0, "Outlier threshold in MADs.", minimum=0)
    batch_by: str = option("auto", "Sample column of sequencing batches for the batch check (auto: pipeline if "
                           "present; 'none').")
    fdr: float = option(0.05, "False discovery rate of the batch check.", minimum=0)
    sex_check: bool = option(True, "Run the sex check (needs chrX variants).", cli="--sex-check/--no-sex-check")
    sex_check_y: str = option("none", "Also use chrY call counts in the sex check (plink 1.9 --check-sex ycount / "
                              "y-only); needs chrY variants outside the PARs.", choices=("none", "ycount", "y-only"))
    female_max_y_calls: int = option(0, "ycount / y-only: an XX call allows at most this many chrY calls.",
                                     minimum=0)
    male_min_y_calls: int | None = option(None, "ycount / y-only: an XY call needs at least this many chrY calls "
                                          "(default: 0 for ycount, 1 for y-only, as plink).", minimum=0)
    freq: bool = option(False, "Also write freq.parquet (as `gdbtools freq`, adj counts) from the same pass over "
                        "the genotypes: frequencies and QC for the price of one.")
    by: tuple[str, ...] = option((), "With --freq: sample column to stratify the frequencies by (repeatable).",
                                 cli="--by|-b")


@dataclass(frozen=True)
class ReportOptions:
    """One self-contained HTML page of a QC directory's results (:func:`gdbtools.report.write_report`)."""

    title: str | None = option(None, "Title of the page (default: 'QC report: ' and the store's directory name).")
    group_by: str = option("auto", "Sample column to draw call rate, heterozygosity and Ti/Tv by (auto: the QC's "
                           "outlier grouping, else the first population column present; 'none': one group).")
    hwe_by: str = option("none", "Sample column: test HWE in each of its groups apart and draw one QQ series per "
                         "group (one pass over the genotypes per group); 'none': the QC's test of all samples "
                         "pooled, said so on the plot.")
    max_rows: int = option(200, "At most this many rows in each sample table of the page (the QC files have "
                           "them all).", minimum=1)
    backend: str = option("auto", "Compute backend of the per-group HWE tests (--hwe-by).",
                          choices=("auto", "numpy", "host", "cupy"), fingerprint=False)


#: sample columns no public stratum may use (the privacy guard's default deny list, docs/RELEASE.md)
DEFAULT_DENY = ("age", "region", "indication", "hospital")


@dataclass(frozen=True)
class ExportOptions(CountOptions):
    """A frequency release through the privacy guard: counts by group, QC FILTERs (:func:`gdbtools.release.export`)."""

    tier: str = option("public", "Who the release is for: public (every rule of the privacy guard), registered "
                       "(exact counts; strata suppressed and small groups left out), controlled (no rule but: no "
                       "sample-level data).", choices=("public", "registered", "controlled"))
    by: tuple[str, ...] = option((), "Sample column to stratify by (repeatable; two or more also give their "
                                 "combination).", cli="--by|-b")
    format: str = option("auto", "Release file format (auto: from the --out name: .vcf.gz, .parquet, .tsv/.tsv.gz).",
                         choices=("auto", "vcf", "parquet", "tsv"))
    adj: bool = option(True, "Counts after the genotype filters (adj) or of the raw calls.", cli="--adj/--raw")
    release_version: str | None = option(None, "Version of this release (required for the public tier), e.g. 2026-12.")
    previous_release: str | None = option(None, "The previous public release (any format): the new one is refused "
                                          "where a published count differs from it by 1 to min_cell - 1.")
    min_cell: int = option(5, "Smallest count published exactly (k): counts of 1 to k-1 are banded or suppressed.",
                           minimum=2)
    min_group_size: int = option(20, "Fewest samples of a published group (and of a stratum's remainder).",
                                 minimum=1)
    deny: tuple[str, ...] = option(DEFAULT_DENY, "Sample column no public stratum may use (repeatable; giving any "
                                   "replaces the default list; 'none' for an empty list).")
    max_missing: float = option(0.05, "FILTER LowCallRate where the fraction of missing calls (F_MISSING) is above.",
                                minimum=0)
    excess_het_p: float = option(1e-6, "FILTER ExcHet where the excess-heterozygosity p-value (ExcHet) is below.",
                                 minimum=0)

    def deny_list(self) -> tuple[str, ...]:
        """The deny list with 'none' removed."""
        return tuple(d for d in self.deny if d.lower() != "none")


#: the tests of `gdbtools burden`, in the order of the result table
BURDEN_TESTS = ("burden", "skat", "skato", "acatv", "acato")


@dataclass(frozen=True)
class BurdenOptions(SelectOptions):
    """Gene-based rare-variant tests: burden, SKAT, SKAT-O, ACAT-V, ACAT-O per gene x mask x bin
    (:meth:`gdbtools.Cohort.burden`)."""

    phenotypes: str | None = option(None, "Phenotype TSV: a sample_id column and one column per trait or covariate.",
                                    required=True)
    trait: str | None = option(None, "The trait column of --phenotypes.", required=True)
    binary: bool = option(False, "The trait is binary, coded 0/1 (logistic null model, score test with the "
                          "saddle-point approximation); default: quantitative (linear).")
    covariates: tuple[str, ...] = option((), "Covariate columns of --phenotypes (repeatable or comma-separated: "
                                         "--covariates age,sex,PC1,PC2); an intercept is always included.")
    genes: str | None = option(None, "Gene BED (4th column = name) or GTF (gene_name of gene features): variants "
                               "grouped by overlap; default: the variant table's gene column (VEP/snpEff/BCSQ).")
    masks: str | None = option(None, "Mask YAML: annotation classes and the masks built from them (regenie "
                               "--mask-def); default: one mask 'all' of every variant of a gene.")
    annotations: str | None = option(None, "Annotation TSV (regenie --anno-file: variant, gene, class) giving each "
                                     "variant's class for --masks; default: the variant table's consequence.")
    max_af: tuple[float, ...] = option((0.01,), "Frequency bin: variants with AF <= this (repeatable: "
                                       "--max-af 0.01 --max-af 0.001).", minimum=0)
    singletons: bool = option(False, "Also a bin of singletons (MAC 1 among the analysed samples).")
    tests: tuple[str, ...] = option(BURDEN_TESTS, "Tests to run (repeatable or comma-separated): "
                                    + ", ".join(BURDEN_TESTS) + " (ACAT-O combines the others per gene).")
    score: str = option("wsum", "Per-sample burden score: wsum (Beta(1,25)-weighted dosage sum, as SAIGE-GENE+), "
                        "sum (alt allele count), max (regenie's default).", choices=("wsum", "sum", "max"))
    collapse_mac: int = option(10, "SKAT, SKAT-O and ACAT-V: variants with an effective minor allele count <= this "
                                 "are ultra-rare, collapsed into one pseudo-variant (max dosage) for SKAT/SKAT-O and "
                                 "into ACAT-V's burden term (SAIGE-GENE+, regenie --vc-MACthr and ACAT-V use 10). "
                                 "Effective MAC: the MAC (quantitative), MAC * 4 phi (1 - phi) for a binary trait "
                                 "with case fraction phi (= MAC at 1:1; 1:20 collapses MAC <= 53). 0: none (for a "
                                 "binary trait ACAT-V then degenerates: a variant with p = 1 pulls the Cauchy "
                                 "combination to 1).",
                                 minimum=0)
    af_from: str | None = option(None, "AF used for the bins: the analysed samples' pooled AF (default), a "
                                 "stratum's (population=nfe) or an INFO column kept at ingest (info_AF).")
    adj: bool = option(False, "Genotypes after the genotype filters (adj: failing calls are missing and imputed) "
                       "or the raw calls.", cli="--adj/--raw")

    def burden_kwargs(self) -> dict:
        """The keyword arguments of :meth:`gdbtools.Cohort.burden` (add ``backend``, ``progress``)."""
        return dict(phenotypes=self.phenotypes, trait=self.trait, binary=self.binary, covariates=self.covariates,
                    genes=self.genes, masks=self.masks, annotations=self.annotations, max_af=self.max_af,
                    singletons=self.singletons, tests=self.tests, score=self.score, collapse_mac=self.collapse_mac,
                    af_from=self.af_from,
                    adj=self.adj, allow_empty=self.allow_empty)


#: options of each command that is also a pipeline step kind
OPTION_SETS: dict[str, type] = {"ingest": IngestOptions, "verify": VerifyOptions, "freq": FreqOptions,
                                "qc": QcOptions, "report": ReportOptions, "export": ExportOptions,
                                "burden": BurdenOptions}

#: command-line options that are not step parameters: what a pipeline declares as inputs/outputs, and display
CLI_ONLY: dict[str, list[str]] = {
    "ingest": ["INPUTS", "--out", "--metadata", "--init", "--partition", "--finalize", "--quiet"],
    "verify": ["STORE", "INPUTS", "--quiet"],
    "freq": ["STORE", "--out", "--overwrite"],
    "qc": ["STORE", "--out", "--overwrite"],
    "report": ["STORE", "--qc", "--out", "--overwrite"],
    "export": ["STORE", "--out", "--overwrite"],
    "burden": ["STORE", "--out", "--overwrite"],
}


def options_markdown() -> str:
    """The text of docs/OPTIONS.md."""
    return markdown(OPTION_SETS, CLI_ONLY) + "\n"
