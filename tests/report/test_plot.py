"""gdb.plot on HapMap II's QC tables: spectrum bins against bcftools' AC/AN, contig classes against the
engine's ploidy zones, what each picture says (titles, series, labels), one PNG in a notebook, lazy import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from stats_oracles import HM

from gdbtools import plot
from gdbtools.errors import GdbError
from gdbtools.genome import BUILDS


@pytest.fixture(scope="module")
def hm_tables(hm_qc):
    return {"variant_qc": pd.read_parquet(hm_qc / "variant_qc.parquet"),
            "sample_qc": pd.read_parquet(hm_qc / "sample_qc.parquet"),
            "sex_check": pd.read_csv(hm_qc / "sex_check.tsv", sep="\t"),
            "batch_check": pd.read_parquet(hm_qc / "batch_check.parquet")}


def bcftools_ac_an(data_dir, bcftools_bin) -> pd.DataFrame:
    """AC and AN of HapMap's autosomes from ``bcftools +fill-tags`` (chrX left out: males are written diploid)."""
    tags = subprocess.run([bcftools_bin, "+fill-tags", str(data_dir / HM), "-Ou", "--", "-t", "AC,AN"],
                          capture_output=True, check=True).stdout
    text = subprocess.run([bcftools_bin, "query", "-i", 'CHROM!="X"', "-f", "%AC\t%AN\n"], input=tags,
                          capture_output=True, check=True).stdout.decode()
    return pd.DataFrame([line.split("\t") for line in text.splitlines()], columns=["AC", "AN"]).astype(int)


def test_spectrum_bins__one_bin_per_count_then_frequency_bins(data_dir, bcftools_bin, hm_tables):
    oracle = bcftools_ac_an(data_dir, bcftools_bin)
    mac = np.minimum(oracle["AC"], oracle["AN"] - oracle["AC"]).to_numpy()
    labels, counts, excluded = plot.spectrum_bins(oracle["AC"], oracle["AN"], discrete_max=5, n_log_bins=6)
    assert labels[:5] == ["1", "2", "3", "4", "5"] and len(labels) == 11
    assert counts[:5].tolist() == [int((mac == k).sum()) for k in range(1, 6)]
    assert counts[5:].sum() == (mac > 5).sum() and excluded == {"monomorphic": int((mac == 0).sum()), "no_calls": 0}
    # each frequency bin holds the variants between its edges (edges log-spaced from the lowest MAF above 5 to 0.5)
    maf = mac[mac > 5] / oracle["AN"].to_numpy()[mac > 5]
    edges = np.geomspace(maf.min(), 0.5, 7)
    inside = [int(((maf >= lo) & ((maf < hi) | (i == 5) & (maf <= hi))).sum())
              for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    assert counts[5:].tolist() == inside
    # the store's variant QC gives the same spectrum on the autosomes
    vq = hm_tables["variant_qc"]
    auto = vq[vq["contig"] != "X"]
    assert np.array_equal(plot.spectrum_bins(auto["AC"], auto["AN"])[1], counts)
    # unfolded: all-alternate variants are in the top bin, not left out
    _, unfolded, left = plot.spectrum_bins(oracle["AC"], oracle["AN"], folded=False)
    assert left["monomorphic"] == int((oracle["AC"] == 0).sum())
    assert unfolded.sum() == int((oracle["AC"] > 0).sum())


def test_af_spectrum__title_counts_what_is_left_out(hm_tables):
    vq = hm_tables["variant_qc"]
    fig = plot.af_spectrum(vq)
    (axis,) = fig.axes
    monomorphic = int(((vq["AC"] == 0) | (vq["AC"] == vq["AN"])).sum())
    assert f"{len(vq) - monomorphic:,} variants (not shown: {monomorphic:,} monomorphic)" in axis.get_title()
    assert [t.get_text() for t in axis.get_xticklabels()][:5] == ["1", "2", "3", "4", "5"]
    with pytest.raises(GdbError, match="no column AC_nfe"):
        plot.af_spectrum(vq, ac="AC_nfe")


def test_contig_class__agrees_with_the_engine_zones(hm_store, hm_tables):
    from gdbtools.stats import ploidy as pl

    vq = hm_tables["variant_qc"]
    classes = plot.contig_class(vq["contig"].to_numpy(), vq["pos"].to_numpy(), hm_store.build_name)
    zones = pl.variant_zones(vq["contig"].to_numpy(), vq["pos"].to_numpy(), hm_store.build)
    expected = {pl.AUTO: "autosomes", pl.X_PAR: "chrX PAR", pl.X_NONPAR: "chrX non-PAR"}
    assert classes.tolist() == [expected.get(z, "") for z in zones]
    assert (classes == "chrX non-PAR").sum() == (vq["contig"] == "X").sum() == 365  # HapMap has no PAR SNP
    # GRCh38 names, both PARs, chrY, chrM, an unplaced contig
    contig = np.array(["chr2", "chrX", "chrX", "chrX", "chrX", "chrY", "chrM", "chrUn_KI270302v1"], dtype=object)
    pos = np.array([5, 10_000, 10_001, 2_781_480, 155_701_383, 20_000, 100, 50])
    zones = pl.variant_zones(contig, pos, BUILDS["GRCh38"])
    assert plot.contig_class(contig, pos, "GRCh38").tolist() == [expected.get(z, "") for z in zones] == [
        "autosomes", "chrX non-PAR", "chrX PAR", "chrX non-PAR", "chrX PAR", "", "", ""]
    no_build = plot.contig_class(vq["contig"].to_numpy(), vq["pos"].to_numpy(), None)
    assert (no_build == "chrX non-PAR").sum() == (vq["contig"] == "X").sum()


def _lambda(p) -> float:
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    return float(np.median(chi2.isf(p, 1)) / chi2.ppf(0.5, 1))


def test_hwe_qq__panels_per_contig_class_pooled_or_per_group(hm_store, hm_tables):
    vq = hm_tables["variant_qc"]
    classes = plot.contig_class(vq["contig"].to_numpy(), vq["pos"].to_numpy(), hm_store.build_name)
    fig = plot.hwe_qq(vq, build=hm_store.build_name)
    assert "all samples pooled in one test" in fig.get_suptitle()
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["autosomes: p_value_hwe\n(diploid calls; polymorphic variants)",
                      "chrX non-PAR: p_value_hwe_x\n(with males, Graffelman-Weir; polymorphic variants)"]
    for axis, cls, column in zip(fig.axes, ("autosomes", "chrX non-PAR"), ("p_value_hwe", "p_value_hwe_x")):
        p = vq.loc[(classes == cls) & (vq["AC"] > 0) & (vq["AC"] < vq["AN"]), column]
        (legend,) = [t.get_text() for t in axis.get_legend().get_texts()]
        assert legend == f"{p.notna().sum():,} variants, lambda {_lambda(p):.2f}"
    # one series per group, each group's own test; the title says so
    groups = {"a": vq, "b": vq.iloc[::2]}
    fig = plot.hwe_qq(groups, build=hm_store.build_name)
    assert "2 groups, each tested apart" in fig.get_suptitle()
    assert [t.get_text().split(":")[0] for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(GdbError, match="no autosome or chrX variant"):
        plot.hwe_qq(vq.assign(contig="Y"))


def test_sex_check__problem_samples_labelled(hm_tables):
    table = hm_tables["sex_check"]
    fig = plot.sex_check(table, max_labels=20)
    (axis,) = fig.axes
    problems = table.loc[table["status"] == "PROBLEM", "sample_id"].tolist()
    assert [t.get_text() for t in axis.texts] == problems[:20]
    assert f"{len(problems) - 20} more PROBLEM samples not labelled" in axis.get_title()
    assert "no chrY variants" in axis.get_title()  # HapMap has no chrY: F against the reported sex
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert f"PROBLEM ({len(problems)})" in legend


def test_sample_metrics_and_batch_effect__one_panel_each(hm_store, hm_tables):
    sq = hm_tables["sample_qc"]
    pops = hm_store.samples.set_index("sample_index")["pop.group"]
    fig = plot.sample_metrics(sq, pops, group_name="pop.group")
    assert [a.get_ylabel() for a in fig.axes] == list(plot.SAMPLE_METRICS.values())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == sorted(pops.unique())
    # the heterozygosity points are n_het / n_called of each sample
    points = fig.axes[1].collections[0].get_offsets()[:, 1]
    assert np.allclose(np.sort(points), np.sort(sq["n_het"] / sq["n_called"]), rtol=0, atol=1e-12)
    bc = hm_tables["batch_check"]
    fig = plot.batch_effect(bc)
    assert [p.get_height() for p in fig.axes[1].patches] == [
        int(((bc["batch"] == b) & bc["flagged"]).sum()) for b in bc.attrs["batches"]]


def test_figure__shows_once_as_png_in_ipython(hm_tables):
    import io

    from IPython.core.interactiveshell import InteractiveShell
    from PIL import Image

    fig = plot.af_spectrum(hm_tables["variant_qc"])
    data, _ = InteractiveShell.instance().display_formatter.format(fig)
    assert "image/png" in data
    Image.open(io.BytesIO(data["image/png"])).verify()


def test_import__gdbtools_plot_loads_no_matplotlib():
    code = ("import sys, json, gdbtools\ngdbtools.plot\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
