"""The phenotype TSV: alignment to the store's samples, counted drops, errors naming file, line, column, value.

The expected arrays are built independently with plain Python dictionaries from the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdbtools.burden.phenotypes import load_phenotypes
from gdbtools.errors import GdbError


@pytest.fixture(scope="module")
def samples(kg22_store):
    return kg22_store.samples


def _write(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def pheno(samples, tmp_path):
    """Every store sample but the first 7, in reverse order, plus 3 ids absent from the store; missing values
    of the trait (NA, empty) and of each covariate ('.', NaN)."""
    rng = np.random.default_rng(3)
    ids = samples["sample_id"].tolist()[7:][::-1] + ["NOPE1", "NOPE2", "NOPE3"]
    rows = []
    for i, s in enumerate(ids):
        y = f"{rng.normal():.6f}" if i % 50 else ("NA" if i % 100 else "")
        pc1 = f"{rng.normal():.6f}" if i % 70 != 3 else "."
        age = str(int(rng.integers(20, 80))) if i % 90 != 4 else "NaN"
        rows.append((s, "pop", y, pc1, age))
    return _write(tmp_path / "pheno.tsv", ["IID", "population", "bmi", "PC1", "age"], rows), rows


def test_load_phenotypes__aligned_and_every_drop_counted(samples, pheno):
    path, rows = pheno
    mask = np.ones(len(samples), bool)
    mask[::5] = False  # the cohort's selection
    ph = load_phenotypes(path, samples, "bmi", ["age", "PC1"], mask)
    by_id = {r[0]: r for r in rows}
    store_ids = samples["sample_id"].tolist()

    def num(v):
        return None if v in ("", "NA", ".", "NaN") else float(v)

    want_idx, want_y, want_x = [], [], []
    miss_trait = miss_age = miss_pc = 0
    for i, s in enumerate(store_ids):
        if not mask[i] or s not in by_id:
            continue
        _, _, y, pc1, age = by_id[s]
        y, pc1, age = num(y), num(pc1), num(age)
        miss_trait += y is None
        miss_age += age is None
        miss_pc += pc1 is None
        if None in (y, pc1, age):
            continue
        want_idx.append(i)
        want_y.append(y)
        want_x.append([1.0, age, pc1])
    np.testing.assert_array_equal(ph.sample_index, want_idx)
    np.testing.assert_array_equal(ph.y, want_y)
    np.testing.assert_array_equal(ph.X, want_x)
    assert ph.covariate_names == ["age", "PC1"] and ph.X.dtype == np.float64
    r = ph.report
    assert r["id_column"] == "IID"
    assert r["in_file_not_store"] == {"n": 3, "first": ["NOPE1", "NOPE2", "NOPE3"]}
    not_file = [s for i, s in enumerate(store_ids[:7]) if mask[i]]
    assert r["in_store_not_file"] == {"n": len(not_file), "first": not_file}
    assert r["excluded_by_selection"] == sum(1 for i, s in enumerate(store_ids) if not mask[i] and s in by_id)
    assert r["missing_trait"]["n"] == miss_trait > 0
    assert r["missing_covariate"] == {"age": miss_age, "PC1": miss_pc}
    assert r["n_used"] == len(want_idx)


def test_load_phenotypes__non_numeric_value_names_file_line_column_value(samples, tmp_path):
    ids = samples["sample_id"].tolist()[:5]
    path = _write(tmp_path / "p.tsv", ["sample_id", "y", "PC1"],
                  [(ids[0], 1, 0.1), (ids[1], 2, 0.2), (ids[2], 3, "high"), (ids[3], 4, 0.4)])
    with pytest.raises(GdbError, match=r"p.tsv: line 4, column 'PC1': value 'high' is not a number"):
        load_phenotypes(path, samples, "y", ["PC1"])
    with pytest.raises(GdbError, match=r"no column 'PC2'"):
        load_phenotypes(path, samples, "y", ["PC2"])
    dup = _write(tmp_path / "d.tsv", ["sample_id", "y"], [(ids[0], 1), (ids[0], 2)])
    with pytest.raises(GdbError, match=r"d.tsv: line 3: sample id .* more than once"):
        load_phenotypes(dup, samples, "y")
    none = _write(tmp_path / "n.tsv", ["s", "y"], [("x1", 1), ("x2", 2)])
    with pytest.raises(GdbError, match="no sample has the trait"):
        load_phenotypes(none, samples, "y")


def test_load_phenotypes__no_covariates_gives_the_intercept(samples, tmp_path):
    ids = samples["sample_id"].tolist()
    path = _write(tmp_path / "p.tsv", ["sample", "y"], [(s, i % 2) for i, s in enumerate(ids)])
    ph = load_phenotypes(path, samples, "y")
    assert ph.X.shape == (len(ids), 1) and (ph.X == 1).all()
    np.testing.assert_array_equal(ph.y, pd.Series(range(len(ids))) % 2)
