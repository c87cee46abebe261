"""gdb.describe and Cohort._repr_html_: the numbers shown are the store's and the table's, checked against
pandas on the same data (the oracle), and the HTML is well formed and escapes every value."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser

import pytest

import gdbtools as gdb
from gdbtools.errors import GdbError
from gdbtools.stats.variables import TABLES
from gdbtools.views import Description, Section
from gdbtools.views.table_view import table_kind


class _Checker(HTMLParser):
    """Collects the text of <td>/<th> cells and checks that every opened tag (but void ones) is closed."""

    VOID = {"br", "hr", "img", "meta", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == [], f"unclosed tags: {checker.stack}"
    return checker


def _rows(desc: Description, title_start: str) -> list[tuple]:
    (sec,) = [s for s in desc.sections if s.title.startswith(title_start)]
    return sec.rows


def test_describe__cohort_shows_contig_counts_and_metadata_values(small_store):
    cohort = gdb.open(small_store.path)
    desc = gdb.describe(cohort)
    variants = cohort.store.variants(["contig"])
    assert {r[0]: r[2] for r in _rows(desc, "Contigs")} == variants["contig"].value_counts().to_dict()
    samples = cohort.store.samples
    for column, n_values, missing, counts in _rows(desc, "Sample metadata"):
        expected = samples[column].dropna().astype(str).value_counts()
        assert n_values == len(expected) and missing == int(samples[column].isna().sum())
        for value, n in expected.iloc[:8].items():
            assert f"{value} ({n:,})" in counts
    assert f"{cohort.n_samples:,} of {cohort.store.n_samples:,} samples" in str(desc)
    assert f"genome build {cohort.store.build_name}" in str(desc)


def test_describe__selection_counts_selected_variants_and_samples(small_store):
    cohort = gdb.open(small_store.path)
    pop = sorted(cohort.samples["population"].unique())[0]
    sub = cohort.select(samples=f"population == '{pop}'", region=["chr1:1000000-1200000", "chrX"])
    desc = gdb.describe(sub)
    selected = {r[0]: r[3] for r in _rows(desc, "Contigs")}
    assert selected == {c: int((sub.variants["contig"] == c).sum()) for c in cohort.store.contigs}
    meta = {r[0]: r[3] for r in _rows(desc, "Sample metadata")}
    assert meta["population"] == f"{pop} ({int((cohort.samples['population'] == pop).sum()):,})"
    steps = [r[1] for r in _rows(desc, "Selection") if r[0] == "step"]
    assert steps == [f"samples: population == '{pop}'", "region: chr1:1000000-1200000, chrX"]


def test_cohort_repr_html__is_well_formed_and_matches_the_text(small_store, capsys):
    cohort = gdb.open(small_store.path)
    html = cohort._repr_html_()
    cells = _parse(html).cells
    for contig in cohort.store.manifest["contigs"]:
        assert contig["name"] in cells and f"{contig['n_variants']:,}" in cells
    cohort.describe()
    assert capsys.readouterr().out.strip() == str(gdb.describe(cohort))


def test_description__escapes_values():
    desc = Description("t <1>", ["a & b"], [Section("s", [("<script>x</script>", "<b>")])])
    html = desc._repr_html_()
    assert "<script>x" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert "<script>x</script>" in str(desc)  # the text twin is plain


def test_describe__freq_table_groups_and_columns(small_store):
    cohort = gdb.open(small_store.path)
    freq = cohort.freq(by=["population", "sex"], adj=True, progress=False)
    desc = gdb.describe(freq)
    assert desc.title == "gdbtools freq table"
    samples = cohort.samples
    groups = {r[0]: r[3] for r in _rows(desc, "Sample groups")}
    assert groups["(none)"] == len(samples)
    for (pop, sex), n in samples.groupby(["population", "sex"]).size().items():
        assert groups[f"{pop}_{sex}"] == n
    for pop, n in samples["population"].value_counts().items():
        assert groups[pop] == n
    # every column sits under exactly one variable, the right one, and none is left undeclared
    rows = _rows(desc, "Columns")
    listed = [c for r in rows for c in r[2]]
    assert sorted(listed) == sorted(freq.columns)
    by_var = {r[0]: r[2] for r in rows}
    assert "(not declared)" not in by_var
    assert set(by_var["AC_Het"]) == {c for c in freq.columns if c == "AC_Het" or
                                      (c.startswith("AC_Het_") and c != "AC_Het")}
    assert "AC_Het_nfe" not in by_var["AC"]
    for name, columns in by_var.items():
        assert TABLES["freq"][name].meaning in str(desc)
        assert all(str(freq[c].dtype).lower() == TABLES["freq"][name].dtype.lower()
                   or TABLES["freq"][name].dtype == "str" for c in columns)
    _parse(desc._repr_html_())


def test_describe__knows_each_table_kind(small_store):
    cohort = gdb.open(small_store.path)
    res = cohort.compute(variant_qc=True, sample_qc=True, progress=False)
    assert table_kind(res.variant_qc) == "variant_qc"
    assert table_kind(res.sample_qc) == "sample_qc"
    assert table_kind(cohort.sex_check(progress=False)) == "sex_check"
    assert table_kind(res.sample_qc[["call_rate", "n_het"]]) == "sample_qc"
    import pandas as pd

    other = gdb.describe(pd.DataFrame({"x": [1, 2]}))
    assert other.title.startswith("table (not a gdbtools") and "(not declared)" in str(other)


def test_describe__refuses_what_it_cannot_describe():
    with pytest.raises(GdbError, match="cannot describe a int"):
        gdb.describe(3)


def test_import__loads_no_view_and_no_ipython_outside_ipython():
    code = ("import sys, gdbtools; print(sorted(m for m in ('gdbtools.views', 'IPython', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
