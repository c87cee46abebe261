"""The demo: simulate a realistic cohort, ingest it, verify it, compute on it, write the outputs.

This is the "embedded default": everything local, no cluster, no GPU. ``scripts/demo`` (the README's first
command) runs ``gdbtools demo``. It grows with the package: every statistic that exists is computed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["run_demo"]


def _step(text: str) -> float:
    print(f"==> {text}", flush=True)
    return time.time()


def run_demo(out: str | Path = "demo-output", *, n_samples: int = 2_000, length: int = 3_000_000,
             x_length: int = 800_000, seed: int = 2026, workers: int | None = None) -> dict:
    """Run the demo into directory `out`; returns ``{name: path}`` of what it wrote."""
    from .ingest import ingest, verify
    from .simulate import simulate_cohort
    from .store import Store

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    t = _step(f"simulating {n_samples} samples over {length / 1e6:.1f} Mb of chr1 and {x_length / 1e6:.1f} Mb of "
              "chrX with msprime (3 populations, 2 pipelines, ~1% missing calls, AD/DP/GQ)")
    cohort = simulate_cohort(out / "input", n_samples=n_samples, length=length, x_length=x_length, seed=seed)
    print(f"    {cohort.n_records} records -> {cohort.vcf} ({time.time() - t:.0f} s)")
    written["vcf"], written["metadata"] = cohort.vcf, cohort.metadata

    t = _step("ingesting into a cohort store (regions in parallel, multi-allelic split, adj genotype filters)")
    store = ingest(cohort.vcf, out / "store", metadata=cohort.metadata, overwrite=True, workers=workers,
                   partition_records=5_000)
    assert isinstance(store, Store)  # step="all" ingests and returns the store
    m = store.manifest
    print(f"    {store}\n    {m['stats']['n_multiallelic']} multi-allelic records split, "
          f"{m['stats']['n_failed_calls']} calls fail the adj filters ({time.time() - t:.0f} s)")
    written["store"] = store.path

    t = _step("verifying the store against the VCF, record by record")
    report = verify(store)
    print(f"    {report}")
    if not report.ok:
        raise SystemExit("demo: the store does not match its source")

    computed = _compute(store, out)
    written.update(computed)
    summary = out / "demo-summary.json"
    summary.write_text(json.dumps({k: str(v) for k, v in written.items()}, indent=1) + "\n")
    written["summary"] = summary
    print("\nDemo outputs:")
    for name, path in written.items():
        print(f"  {name:<16} {path}")
    return written


def _compute(store, out: Path) -> dict[str, Path]:
    """Frequencies and QC in one pass, written as `gdbtools qc --freq --by population --by sex` writes them."""
    import pandas as pd

    from .cohort import Cohort
    from .optionsets import QcOptions
    from .outputs import write_qc

    cohort = Cohort(store)
    t = _step("allele frequencies by population and sex (adj, faf95, grpmax), variant QC, sample QC, sex check, "
              "outliers and pipeline batch check: one pass")
    qc_dir = out / "qc"
    # the demo regenerates its whole output directory (the store is re-ingested too), so it replaces qc/
    summary = write_qc(cohort, QcOptions(freq=True, by=("population", "sex")), qc_dir, overwrite=True, echo=print)
    written = {("qc_" if name == "summary.json" else "") + name.split(".")[0]: qc_dir / name
               for name in summary["written"] if not name.endswith(".meta.json")}
    vqc = pd.read_parquet(qc_dir / "variant_qc.parquet")
    sex = pd.read_csv(qc_dir / "sex_check.tsv", sep="\t")
    print(f"    {int((vqc['p_value_hwe'] < 1e-6).sum())} variants with HWE mid-p < 1e-6; "
          f"{summary.get('n_sex_problems', 0)} samples whose chrX F disagrees with the reported sex; "
          f"{summary['n_outlier_samples']} sample QC outliers (4 MADs within {summary['outliers_by']}); "
          f"{summary.get('n_batch_flagged_variants', 0)} variants flagged for a pipeline batch effect "
          f"({time.time() - t:.0f} s)")
    written.update(_plots(pd.read_parquet(qc_dir / "freq.parquet"), pd.read_parquet(qc_dir / "sample_qc.parquet"),
                          sex, cohort.samples, out))
    return written


def _plots(freq, sqc, sex, samples, out: Path) -> dict[str, Path]:
    """Two pictures that beat tables: the frequency spectrum by population and the sample QC overview."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        return {}
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.logspace(-4, 0, 30).tolist()
    for pop in sorted(samples["population"].dropna().unique()):
        af = freq.get(f"AF_{pop}")
        if af is not None:
            ax.hist(af[af > 0], bins=bins, histtype="step", label=pop)
    ax.set(xscale="log", xlabel="alternate allele frequency (adj)", ylabel="variants",
           title="Site frequency spectrum by population")
    ax.legend()
    spectrum = out / "frequency_spectrum.png"
    fig.savefig(spectrum, dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    merged = sqc.merge(samples[["sample_id", "pipeline"]], on="sample_id", how="left")
    for name, part in merged.groupby("pipeline"):
        axes[0].scatter(part["call_rate"], part["r_het_hom_var"], s=5, label=name)
    axes[0].set(xlabel="call rate", ylabel="het / hom-var", title="Sample QC by pipeline")
    axes[0].legend()
    for name, part in sex.groupby("reported_sex"):
        axes[1].hist(part["f_stat"], bins=40, alpha=0.7, label=f"reported {name}")
    axes[1].axvline(0.2, color="k", ls=":")
    axes[1].axvline(0.8, color="k", ls=":")
    axes[1].set(xlabel="chrX inbreeding F", title="Sex check")
    axes[1].legend()
    overview = out / "sample_qc.png"
    fig.savefig(overview, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return {"plot_spectrum": spectrum, "plot_sample_qc": overview}
