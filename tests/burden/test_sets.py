"""Gene sets against independent oracles: ``bcftools view -R`` of each gene's BED lines (record overlap, as
bcftools reads regions), the same genes written as GTF or with ``chr`` names, and a plain Python lookup of an
annotation table."""

from __future__ import annotations

import gzip
import subprocess

import numpy as np
import pandas as pd
import pytest
from burden_oracles import CODING_BED, ENSEMBL_BED, GNOMAD_TSV, KG22, REFFLAT_BED

from gdbtools.burden.masks import read_annotations
from gdbtools.burden.sets import gene_sets, read_gene_intervals
from gdbtools.errors import GdbError


@pytest.fixture(scope="module")
def kg22_variants(kg22_store):
    return kg22_store.variants(["contig", "pos", "ref", "alt"])


def _bcftools_members(bcftools_bin, vcf, bed_lines: pd.DataFrame, tmp_path) -> set[tuple[int, str, str]]:
    bed = tmp_path / "gene.bed"
    bed_lines[["contig", "start0", "end"]].to_csv(bed, sep="\t", header=False, index=False)
    out = subprocess.run([bcftools_bin, "query", "-R", str(bed), "-f", "%POS\t%REF\t%ALT\n", str(vcf)],
                         capture_output=True, text=True, check=True).stdout
    return {(int(p), r, a) for p, r, a in (line.split("\t") for line in out.splitlines())}


@pytest.mark.parametrize("bed", [REFFLAT_BED, CODING_BED])
def test_gene_sets__bed_overlap_equals_bcftools_regions(kg22_store, kg22_variants, data_dir, bcftools_bin, bed,
                                                        tmp_path):
    sets = gene_sets(kg22_store, kg22_variants, genes=data_dir / bed)
    assert sets.report["n_genes_with_variants"] == len(sets) > 50
    intervals = read_gene_intervals(data_dir / bed)
    chr22 = intervals[intervals["contig"] == "22"]
    rng = np.random.default_rng(5)
    by_name = {s.name: s for s in sets}
    names = rng.choice(sorted(set(chr22["name"])), size=40, replace=False)
    for name in names:
        want = _bcftools_members(bcftools_bin, data_dir / KG22, chr22[chr22["name"] == name], tmp_path)
        got = set()
        if name in by_name:
            v = kg22_variants.loc[by_name[name].variant_index]
            got = set(zip(v["pos"].tolist(), v["ref"].tolist(), v["alt"].tolist()))
        assert got == want, name
    # sorted by (contig order, start); variant indices ascending within a set
    assert [s.start for s in sets] == sorted(s.start for s in sets)
    assert all(np.all(np.diff(s.variant_index) > 0) for s in sets)


def test_gene_sets__chr_names_gtf_and_header_bed_give_the_same_sets(kg22_store, kg22_variants, data_dir, tmp_path):
    base = gene_sets(kg22_store, kg22_variants, genes=data_dir / REFFLAT_BED)
    iv = read_gene_intervals(data_dir / REFFLAT_BED)
    chr_bed = tmp_path / "genes_chr.bed.gz"
    with gzip.open(chr_bed, "wt") as f:
        f.write("track name=genes\n#chrom\tstart\tend\tname\n")
        for r in iv.itertuples():
            f.write(f"chr{r.contig}\t{r.start0}\t{r.end}\t{r.name}\n")
    gtf = tmp_path / "genes.gtf"
    with open(gtf, "w") as f:
        f.write("#!genome-build GRCh37\n")
        for r in iv.itertuples():
            attrs = f'gene_id "ID{r.Index}"; gene_name "{r.name}";'
            f.write(f"{r.contig}\ttest\tgene\t{r.start0 + 1}\t{r.end}\t.\t+\t.\t{attrs}\n")
            f.write(f"{r.contig}\ttest\texon\t{r.start0 + 1}\t{r.start0 + 2}\t.\t+\t.\t{attrs}\n")  # not a gene
    for other in (chr_bed, gtf):
        sets = gene_sets(kg22_store, kg22_variants, genes=other)
        assert [(s.name, s.contig, s.start, s.end) for s in sets] == [(s.name, s.contig, s.start, s.end)
                                                                        for s in base]
        for a, b in zip(sets, base):
            np.testing.assert_array_equal(a.variant_index, b.variant_index)


def test_gene_sets__overlapping_genes_share_variants(kg22_store, kg22_variants, data_dir):
    sets = gene_sets(kg22_store, kg22_variants, genes=data_dir / ENSEMBL_BED)  # header line "Chr Start End Name"
    counts = np.bincount(np.concatenate([s.variant_index for s in sets]))
    assert counts.max() >= 2  # some variant lies in two genes and is in both sets
    assert sets.report["contigs_not_in_store"][:3] == ["1", "10", "11"]


@pytest.fixture(scope="module")
def gnomad22(data_dir) -> set[tuple[int, str, str]]:
    """gnomAD's consequence table (chr, pos, consequence, gene) on chr22 as (pos, gene, consequence), read in
    plain Python (the oracle of both encodings: read once)."""
    with gzip.open(data_dir / GNOMAD_TSV, "rt") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t") for line in f]
    return {(int(p), g, c) for ch, p, c, g, _ in rows if ch == "22"}


def test_gene_sets__gene_column_and_annotation_table(kg22_store, kg22_variants, gnomad22, data_dir):
    # the variant table's gene column: sets equal the grouping of that column
    by_bed = gene_sets(kg22_store, kg22_variants, genes=data_dir / REFFLAT_BED)
    first_gene = {}
    for s in by_bed:
        for v in s.variant_index.tolist():
            first_gene.setdefault(v, s.name)
    table = kg22_variants.assign(gene=pd.Series(first_gene), consequence="missense_variant")
    sets = gene_sets(kg22_store, table)
    assert sum(s.n_variants for s in sets) == len(first_gene)
    for s in sets:
        assert {first_gene[v] for v in s.variant_index.tolist()} == {s.name}
        assert list(s.annotation) == ["missense_variant"] * s.n_variants
    # gnomAD's consequence table (chr, pos, consequence, gene): positions looked up in plain Python
    ann = read_annotations(data_dir / GNOMAD_TSV, kg22_variants)
    want = gnomad22
    pos_of = kg22_variants["pos"].to_dict()
    got = {(pos_of[v], g, c) for v, g, c in zip(ann["variant_index"], ann["gene"], ann["annotation"])}
    store_pos = set(kg22_variants["pos"].tolist())
    assert got == {w for w in want if w[0] in store_pos}
    assert len(got) > 100
    sets = gene_sets(kg22_store, kg22_variants, annotations=ann)
    for s in sets[:20]:
        for v, a in zip(s.variant_index.tolist(), s.annotation):
            assert (pos_of[v], s.name, a) in got


def test_read_gene_intervals__errors_name_file_and_line(tmp_path):
    bad = tmp_path / "three.bed"
    bad.write_text("22\t100\t200\n")
    with pytest.raises(GdbError, match=r"three.bed: line 1: .*4th"):
        read_gene_intervals(bad)
    bad.write_text("22\t100\t200\tA\n22\tx\t200\tB\n")
    with pytest.raises(GdbError, match=r"line 2: .*not integers"):
        read_gene_intervals(bad)
    gtf = tmp_path / "g.gtf"
    gtf.write_text('22\tt\tgene\t1\t10\t.\t+\t.\ttranscript_id "x";\n')
    with pytest.raises(GdbError, match=r"g.gtf: line 1: .*gene_name"):
        read_gene_intervals(gtf)
    with pytest.raises(GdbError, match="no such gene file"):
        read_gene_intervals(tmp_path / "absent.bed")
