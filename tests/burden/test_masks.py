"""Masks and frequency bins: the mask YAML, annotation classes, and bins against bcftools +fill-tags AF/AC/AN
(the whole cohort, a population stratum) and an INFO column kept at ingest."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from burden_oracles import GNOMAD_TSV, HAIL, KG22, KG22_META, REFFLAT_BED

from gdbtools.backend import get_backend
from gdbtools.burden.genotypes import gene_matrices
from gdbtools.burden.masks import (
    DEFAULT_CLASSES,
    binning_af,
    mask_bins,
    read_annotations,
    read_masks,
    variant_classes,
)
from gdbtools.burden.sets import VariantSet, gene_sets
from gdbtools.errors import GdbError

MASKS = """\
classes:
  damaging: [stop_gained, frameshift_variant, splice_donor_variant, splice_acceptor_variant, missense_variant]
masks:
  M1: [pLoF]
  M3: [pLoF, missense]
  D: damaging
"""


def _fill_tags(bcftools_bin, vcf, tags: str, extra=(), names=None) -> dict[str, np.ndarray]:
    """bcftools +fill-tags INFO values per record (in VCF order) as float64 arrays (`names`: the INFO fields
    written, default `tags`)."""
    names = names or tags.split(",")
    fmt = "\t".join(f"%INFO/{t}" for t in names) + "\n"
    fill = subprocess.run([bcftools_bin, "+fill-tags", str(vcf), "-Ou", "--", "-t", tags, *extra],
                          capture_output=True, check=True).stdout
    out = subprocess.run([bcftools_bin, "query", "-f", fmt, "-"], input=fill, capture_output=True, check=True)
    table = np.array([line.split("\t") for line in out.stdout.decode().splitlines()], dtype=np.float64)
    return dict(zip(names, table.T))


@pytest.fixture(scope="module")
def kg22_tags(data_dir, bcftools_bin) -> dict[str, np.ndarray]:
    """AF, AC, AN of every kg22 record by bcftools +fill-tags (the oracle of both encodings: run once)."""
    return _fill_tags(bcftools_bin, data_dir / KG22, "AF,AC,AN")


@pytest.fixture(scope="module")
def kg22_pop_tags(data_dir, bcftools_bin, tmp_path_factory) -> dict[str, np.ndarray]:
    """AF of CEU and YRI for every kg22 record by bcftools +fill-tags -S (run once for both encodings)."""
    groups = tmp_path_factory.mktemp("masks") / "groups.txt"
    meta = np.loadtxt(data_dir / KG22_META, dtype=str, skiprows=1, usecols=(0, 2))
    groups.write_text("".join(f"{s}\t{p}\n" for s, p in meta))
    return _fill_tags(bcftools_bin, data_dir / KG22, "AF", ["-S", str(groups)], names=["AF_CEU", "AF_YRI"])


def test_read_masks__defaults_and_file(tmp_path):
    spec = read_masks(None)
    assert spec.masks == {"all": None} and spec.classes == DEFAULT_CLASSES
    path = tmp_path / "m.yaml"
    path.write_text(MASKS)
    spec = read_masks(path)
    assert spec.masks == {"M1": ("pLoF",), "M3": ("pLoF", "missense"), "D": ("damaging",)}
    assert "damaging" in spec.classes and spec.classes["pLoF"] == DEFAULT_CLASSES["pLoF"]
    cls = variant_classes(["stop_gained", "missense", "pLoF", None, "synonymous_variant", "intron_variant"], spec)
    assert cls["pLoF"].tolist() == [True, False, True, False, False, False]
    assert cls["missense"].tolist() == [False, True, False, False, False, False]  # gnomAD's short spelling
    assert cls["damaging"].tolist() == [True, True, False, False, False, False]


@pytest.mark.parametrize("text, pattern", [
    ("masks: {M1: [pLoF, nonsense]}\n", r"m.yaml: masks.M1: mask 'M1' uses the unknown class 'nonsense'"),
    ("masks: {M1: []}\n", r"m.yaml: masks.M1: masks.M1 is empty"),
    ("masks: {M1: [pLoF]}\nclasses: {x: []}\n", r"m.yaml: classes.x: classes.x is empty"),
    ("masks: {M1: [pLoF]}\nbins: [0.01]\n", r"m.yaml: bins: unknown key 'bins'"),
    ("masks:\n  M1: [pLoF\n  M2: x\n", r"m.yaml: line \d+: the mask file is not valid YAML"),
    ("classes: {}\n", r"m.yaml: masks: `masks` must map"),
])
def test_read_masks__errors_name_file_and_key(tmp_path, text, pattern):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(GdbError, match=pattern):
        read_masks(path)


def test_mask_bins__cumulative_bins_and_singletons():
    vset = VariantSet("G", "22", 1, 100, np.arange(6, dtype=np.int64),
                      np.array(["stop_gained", "missense_variant", "synonymous_variant", "frameshift_variant",
                                "missense_variant", None], dtype=object))
    af = np.array([0.0004, 0.003, 0.0004, 0.995, np.nan, 0.2])
    mac = np.array([1, 7, 1, 11, 0, 90])
    bins = mask_bins(vset, read_masks(None), af, mac, [0.01, 0.001], singletons=True)
    assert [(b.mask, b.bin) for b in bins] == [("all", "0.01"), ("all", "0.001"), ("all", "singleton")]
    assert [b.columns.tolist() for b in bins] == [[0, 1, 2, 3], [0, 2], [0, 2]]  # af 0.995 folds to 0.005
    assert np.isnan(bins[2].max_af) and bins[0].max_af == 0.01
    spec = read_masks(None)
    spec.masks = {"M1": ("pLoF",), "M3": ("pLoF", "missense")}
    bins = mask_bins(vset, spec, af, mac, [0.01])
    assert [(b.mask, b.columns.tolist()) for b in bins] == [("M1", [0, 3]), ("M3", [0, 1, 3])]
    bare = VariantSet("G", "22", 1, 100, np.arange(6, dtype=np.int64), None)
    with pytest.raises(GdbError, match="needs variant annotations"):
        mask_bins(bare, spec, af, mac, [0.01])
    assert [b.bin for b in mask_bins(bare, read_masks(None), af, mac)] == ["all"]


def test_bins__cohort_af_and_mac_equal_bcftools_fill_tags(kg22_store, kg22_tags, data_dir, tmp_path):
    tags = kg22_tags
    variants = kg22_store.variants(["contig", "pos", "ref", "alt"])
    ann = read_annotations(data_dir / GNOMAD_TSV, variants)
    sets = gene_sets(kg22_store, variants, genes=data_dir / REFFLAT_BED, annotations=ann)
    path = tmp_path / "m.yaml"
    path.write_text(MASKS)
    spec = read_masks(path)
    samples = np.arange(kg22_store.n_samples)
    thresholds = [0.05, 0.01, 0.001]
    n_checked = n_in = 0
    for vset, gm in gene_matrices(kg22_store, sets, samples, get_backend("host"), progress=False):
        vi = vset.variant_index
        np.testing.assert_allclose(gm.af, tags["AF"][vi], rtol=1e-5, atol=0)  # bcftools prints 6 digits
        mac = np.minimum(tags["AC"][vi], tags["AN"][vi] - tags["AC"][vi])
        np.testing.assert_array_equal(gm.mac, mac)
        if vset.annotation is None or all(a is None for a in vset.annotation):
            continue
        bins = mask_bins(vset, spec, gm.af, gm.mac, thresholds, singletons=True)
        cls = variant_classes(vset.annotation, spec)
        f = np.minimum(tags["AF"][vi], 1 - tags["AF"][vi])
        for b in bins:
            members = np.zeros(vset.n_variants, bool)
            for c in spec.masks[b.mask]:
                members |= cls[c]
            want = members & ((mac == 1) if b.bin == "singleton" else (f <= b.max_af))
            near = np.zeros_like(want) if b.bin == "singleton" else np.abs(f - b.max_af) < 1e-5
            assert (np.isin(np.arange(vset.n_variants), b.columns) == want)[~near].all(), (vset.name, b)
            n_in += b.n_variants
        n_checked += 1
    assert n_checked > 20 and n_in > 100


def test_binning_af__stratum_equals_bcftools_fill_tags_by_population(kg22_store, kg22_pop_tags):
    tags = kg22_pop_tags
    for pop in ("CEU", "YRI"):
        af = binning_af(kg22_store, f"Population={pop}", backend="host")
        np.testing.assert_allclose(af, tags[f"AF_{pop}"], rtol=1e-5, atol=1e-7)
    assert binning_af(kg22_store, None) is None
    with pytest.raises(GdbError, match="no stratum Population=XYZ"):
        binning_af(kg22_store, "Population=XYZ", backend="host")


def test_binning_af__info_column_kept_at_ingest(data_dir, bcftools_bin, tmp_path):
    from gdbtools.ingest import ingest

    store = ingest(data_dir / HAIL, tmp_path / "s", info_fields=("AF",), workers=1, progress=False)
    want = subprocess.run([bcftools_bin, "query", "-f", "%INFO/AF\n", str(data_dir / HAIL)], capture_output=True,
                          text=True, check=True).stdout.split()
    # INFO Floats are float32 in the store (as in the VCF's binary form): equal to the text read as float32
    np.testing.assert_array_equal(binning_af(store, "info_AF"), np.array(want, dtype=np.float32).astype(np.float64))
    with pytest.raises(GdbError, match=r"no column 'info_MAF' \(INFO columns kept at ingest: info_AF\)"):
        binning_af(store, "info_MAF")


def test_read_annotations__regenie_layout(kg22_store, tmp_path):
    v = kg22_store.variants(["contig", "pos", "ref", "alt"]).iloc[[3, 10, 11]]
    lines = [f"chr22:{r.pos}:{r.ref}:{r.alt} GENE{i} pLoF\n" for i, r in enumerate(v.itertuples())]
    lines.append(f"22:{v['pos'].iloc[0]}:{v['ref'].iloc[0]}:XYZ GENE9 pLoF\n")  # wrong alt: no match
    path = tmp_path / "anno.txt"
    path.write_text("".join(lines))
    ann = read_annotations(path, kg22_store.variants(["contig", "pos", "ref", "alt"]))
    assert ann["variant_index"].tolist() == v.index.tolist()
    assert ann["gene"].tolist() == ["GENE0", "GENE1", "GENE2"] and set(ann["annotation"]) == {"pLoF"}
    assert ann.attrs["report"]["n_lines"] == 4 and ann.attrs["report"]["n_lines_matched"] == 3
