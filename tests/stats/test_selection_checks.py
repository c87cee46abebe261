"""Selections that match nothing are errors that show what exists (issue 9 item 1), through the API and the
CLI (exit 2); ``allow_empty=True`` lets them through; a store without samples answers ``freq`` with AN 0."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from helpers import run_cli

import gdbtools
from gdbtools.cli import main
from gdbtools.errors import EmptySelectionError, GdbError, SelectionWarning
from gdbtools.stats.selection_checks import contig_suggestion
from gdbtools.store import PartitionWriter, StoreWriter, pack_codes


@pytest.fixture(scope="module")
def cohort(small_store):
    return gdbtools.open(small_store.path)


def test_sample_query__no_match_lists_the_values_and_suggests_the_case(cohort):
    with pytest.raises(EmptySelectionError) as err:
        cohort.select(samples="population == 'NFE'")
    assert err.value.message == "0 of 300 samples match population == 'NFE'; population has afr, eas, nfe"
    assert err.value.fix.startswith("did you mean population == 'nfe'?")
    with pytest.raises(EmptySelectionError, match=r"0 of 300 samples match sex == 'XY' and population == 'zzz'; "
                                                  r"sex has XX, XY; population has afr, eas, nfe") as err:
        cohort.select(samples="sex == 'XY' and population == 'zzz'")
    assert "allow_empty" in err.value.fix
    with pytest.raises(EmptySelectionError, match=r"0 of the \d+ already selected samples match population == 'afr' "
                                                  r"\(it matches \d+ of 300 samples of the store\)"):
        cohort.select(samples="population == 'nfe'").select(samples="population == 'afr'")


def test_sample_ids_and_masks__empty_is_an_error(cohort):
    with pytest.raises(EmptySelectionError, match="0 of 300 selected samples are in the given sample ids"):
        cohort.select(samples=[])
    with pytest.raises(EmptySelectionError, match="the given mask"):
        cohort.select(samples=np.zeros(300, bool))


def test_region__contig_not_in_the_store(cohort):
    with pytest.raises(EmptySelectionError) as err:
        cohort.select(region="chr17:43044295-43125483")
    assert err.value.message == "chr17 is not in this store (contigs: chr1, chrX)"  # chr1 is no spelling of it
    with pytest.raises(EmptySelectionError, match=r"^X is not in this store \(contigs: chr1, chrX\); did you mean "
                                                  r"chrX\?"):
        cohort.select(region="X:1-1000")
    with pytest.raises(EmptySelectionError, match="1 is not in this store .*did you mean chr1"):
        cohort.select(region="1")
    assert contig_suggestion("17", ["chr17", "chr1"]) == "chr17"
    assert contig_suggestion("chr17", ["17", "1"]) == "17"
    assert contig_suggestion("CHRX", ["chrX"]) == "chrX"


def test_region__no_variants_and_no_overlap(cohort):
    with pytest.raises(EmptySelectionError, match=r"no variants in chr1:1-10 \(chr1 has variants at 1,0"):
        cohort.select(region="chr1:1-10")
    with pytest.raises(EmptySelectionError, match="do not overlap the regions selected before"):
        cohort.select(region="chr1").select(region="chrX")


def test_regions__some_missing_warn_naming_them(cohort):
    with pytest.warns(SelectionWarning, match=r"1 of 2 regions select nothing: chr17 "):
        sub = cohort.select(region=["chrX", "chr17"])
    assert sub.n_variants == cohort.select(region="chrX").n_variants > 0
    with pytest.warns(SelectionWarning, match=r"1 of 3 regions hold no variants: chr1:1-10$"):
        cohort.select(region=["chrX", "chr1:1-10", "chr1"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cohort.select(region=["chrX", "chr1:1000000-1100000"])  # no warning when every region matches


def test_allow_empty__gives_empty_results(cohort):
    none = cohort.select(samples="population == 'NFE'", allow_empty=True)
    f = none.freq(client=False)
    assert none.n_samples == 0 and len(f) == cohort.n_variants and (f["AN"] == 0).all() and f["AF"].isna().all()
    sites = cohort.select(region="chr17", allow_empty=True)
    assert sites.n_variants == 0 and len(sites.freq(client=False)) == 0
    assert len(cohort.select(region="chr1:1-10", allow_empty=True).variant_qc(client=False)) == 0


def test_cli__empty_selection_exits_2_with_the_message(small_store, tmp_path):
    r = CliRunner().invoke(main, ["freq", str(small_store.path), "--samples", "population == 'NFE'", "--out",
                                  str(tmp_path / "f.parquet")])
    assert r.exit_code == 2
    assert "0 of 300 samples match population == 'NFE'; population has afr, eas, nfe" in r.output
    assert "did you mean population == 'nfe'?" in r.output and not (tmp_path / "f.parquet").exists()
    proc = run_cli("freq", small_store.path, "--region", "17:1-1000", "--out", tmp_path / "g.parquet", check=False)
    assert proc.returncode == 2 and "17 is not in this store (contigs: chr1, chrX)" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "g.parquet").exists()


@pytest.fixture(scope="module")
def sampleless_store(tmp_path_factory):
    """A store with sites and no samples, written through the store writer."""
    path = tmp_path_factory.mktemp("nosamples") / "store"
    samples = pd.DataFrame({"sample_id": pd.Series([], dtype=str), "sex": pd.Series([], dtype=str)})
    writer = StoreWriter(path, {"params": {}, "partitions": [{"contig": "chr1", "start": 1, "end": None}]}, samples)
    part = PartitionWriter(path, 0, 0)
    lo, hi = pack_codes(np.zeros((5, 0), np.uint8))
    variants = pa.table({"contig": ["chr1"] * 5, "pos": np.arange(1, 6) * 10, "ref": ["A"] * 5, "alt": ["G"] * 5,
                         "allele_type": ["SNP"] * 5, "is_transition": [True] * 5})
    part.write_block({"lo": lo, "hi": hi}, variants, {}, 10, 50, "chr1")
    part.finish()
    writer.finalize({"build": None})
    return path


@pytest.mark.parametrize("backend", ["numpy", "host"])
def test_store_without_samples__freq_gives_sites_with_an_0(sampleless_store, backend):
    cohort = gdbtools.open(sampleless_store)
    res = cohort.compute(freq=True, variant_qc=True, sample_qc=True, backend=backend, client=False)
    assert res.freq["pos"].tolist() == [10, 20, 30, 40, 50]
    assert (res.freq["AN"] == 0).all() and (res.freq["AC"] == 0).all() and res.freq["AF"].isna().all()
    assert len(res.variant_qc) == 5 and len(res.sample_qc) == 0
    with pytest.raises(GdbError, match="this store has no samples"):
        cohort.select(samples="sex == 'XX'")


def test_store_without_samples__cli_freq(sampleless_store, tmp_path):
    r = CliRunner().invoke(main, ["freq", str(sampleless_store), "--out", str(tmp_path / "f.tsv")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "f.tsv", sep="\t")
    assert len(table) == 5 and (table["AN"] == 0).all()


def test_cli__allow_empty_and_partial_regions(small_store, tmp_path):
    """--allow-empty writes the empty table (AN 0 everywhere); a region that matches nothing beside one that
    does is a one-line warning on the terminal, and the table holds the other region's variants."""
    out = tmp_path / "empty.parquet"
    r = CliRunner().invoke(main, ["freq", str(small_store.path), "--samples", "population == 'NFE'",
                                  "--allow-empty", "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    assert len(table) == small_store.n_variants and (table["AN"] == 0).all()
    proc = run_cli("freq", small_store.path, "--region", "chr1", "--region", "chr17", "--out",
                   tmp_path / "some.parquet", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "chr17" in proc.stderr and "Traceback" not in proc.stderr
    assert len(pd.read_parquet(tmp_path / "some.parquet")) > 0
