"""Hail's side of bench/bench_skat_hail.py: runs under Hail's own interpreter (a separate virtual environment,
never gdbtools' venv), imports nothing of gdbtools.

Reads the original VCF, the gene BED (chrom, start0, end, name; no header) and the phenotype TSV
(``sample_id``, ``y_q``, ``y_b``, covariates) that the parent wrote into WORKDIR, builds the variant sets
itself (``import_bed`` overlap, a variant in overlapping genes in each; MAF from ``variant_qc`` over all
samples, kept when 0 < MAF < MAX_MAF) and runs ``hl.skat`` linear (``y_q``) and logistic (``y_b``) with
``weight = dbeta(MAF, 1, 25) ** 2`` (Hail's weight is the kernel weight W of Q = r' G W G' r; SKAT's
Beta(1, 25) weights scale G, so the kernel weight is their square).

Modes (argv[1]):
  once   init, import, skat linear + logistic straight from the VCF, collect; the parent times the process.
  bench  init, import and checkpoint the prepared matrix table, then REPEATS timed runs of each skat on it
         (collect included); writes hail_linear.tsv, hail_logistic.tsv and hail_timing.json into WORKDIR.

usage: python hail_skat_worker.py once|bench WORKDIR VCF MAX_MAF THREADS REPEATS
"""

from __future__ import annotations

import json
import os
import sys
import time


def _prepare(hl, workdir, vcf, max_maf):
    mt = hl.import_vcf(vcf, reference_genome="GRCh37", force_bgz=True)
    mt = hl.variant_qc(mt)
    af = mt.variant_qc.AF[1]
    mt = mt.annotate_rows(maf=hl.min(af, 1.0 - af))
    mt = mt.filter_rows((mt.maf > 0) & (mt.maf < max_maf))
    bed = hl.import_bed(os.path.join(workdir, "genes.bed"), reference_genome="GRCh37")
    mt = mt.annotate_rows(gene=bed.index(mt.locus, all_matches=True).target)
    mt = mt.explode_rows(mt.gene)
    pheno = hl.import_table(os.path.join(workdir, "pheno.tsv"), key="sample_id", impute=True)
    mt = mt.annotate_cols(ph=pheno[mt.s])
    mt = mt.annotate_rows(weight=hl.dbeta(mt.maf, 1.0, 25.0) ** 2)
    return mt.select_rows("gene", "weight", "maf").select_entries("GT")


def _skat(hl, mt, covariates, logistic):
    y = mt.ph.y_b if logistic else mt.ph.y_q
    covs = [1.0] + [mt.ph[c] for c in covariates]
    # x as an expression, not a bare entry field: hl.skat 0.2.139 drops a bare field's name from the entries
    # it selects ("key not found: x" in the JVM)
    x = hl.float64(mt.GT.n_alt_alleles())
    return hl.skat(key_expr=mt.gene, weight_expr=mt.weight, y=y, x=x, covariates=covs, logistic=logistic)


def main() -> None:
    mode, workdir, vcf, max_maf, threads, repeats = sys.argv[1:7]
    max_maf, threads, repeats = float(max_maf), int(threads), int(repeats)
    with open(os.path.join(workdir, "covariates.txt")) as fh:
        covariates = fh.read().split()
    t0 = time.perf_counter()
    import hail as hl

    hl.init(master=f"local[{threads}]", quiet=True, tmp_dir=os.path.join(workdir, "hail_tmp"),
            local_tmpdir=os.path.join(workdir, "hail_tmp"), log=os.path.join(workdir, "hail.log"),
            spark_conf={"spark.driver.memory": "2g", "spark.ui.enabled": "false"})
    t_init = time.perf_counter() - t0
    timing: dict = {"hail": hl.version(), "init_s": t_init, "threads": threads}
    if mode == "once":
        mt = _prepare(hl, workdir, vcf, max_maf)
        for logistic in (False, True):
            _skat(hl, mt, covariates, logistic).collect()
        return
    t = time.perf_counter()
    mt = _prepare(hl, workdir, vcf, max_maf).checkpoint(os.path.join(workdir, "hail_prepared.mt"), overwrite=True)
    timing["prepare_checkpoint_s"] = time.perf_counter() - t
    timing["n_rows"] = mt.count_rows()
    timing["n_samples"] = mt.count_cols()
    for logistic in (False, True):
        kind = "logistic" if logistic else "linear"
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            df = _skat(hl, mt, covariates, logistic).to_pandas()
            runs.append(time.perf_counter() - t)
        timing[f"{kind}_s"] = runs
        timing[f"{kind}_genes"] = int(len(df))
        df.to_csv(os.path.join(workdir, f"hail_{kind}.tsv"), sep="\t", index=False)
    with open(os.path.join(workdir, "hail_timing.json"), "w") as fh:
        json.dump(timing, fh, indent=1)


if __name__ == "__main__":
    main()
