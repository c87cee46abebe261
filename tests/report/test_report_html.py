"""The HTML report of a real QC directory (HapMap II): every section, numbers equal to the QC files, nothing to
load from anywhere (every image a data: URI that decodes to a PNG), missing tables stated, wrong inputs refused."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli

from gdbtools.errors import GdbError
from gdbtools.optionsets import ReportOptions
from gdbtools.outputs import OutputExists
from gdbtools.report import SECTIONS, write_report
from gdbtools.store.format import sha256_file

#: every attribute through which a page can make the browser fetch something
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "data", "poster", "background", "formaction", "manifest",
                  "ping", "xlink:href", "cite", "longdesc", "lowsrc", "dynsrc", "codebase", "archive"}


class _Page(HTMLParser):
    """Tags, ids, URL-valued attributes, text and <style> contents of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.imgs: list[dict] = []
        self.metas: list[dict] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES or name.startswith("on") or (name == "style" and "url(" in (value or "")):
                self.urls.append((tag, name, value or ""))
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "meta":
            self.metas.append(attrs)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_report__has_every_section_with_the_qc_numbers(hm_report, hm_qc):
    page = parse(hm_report)
    assert [i for i in page.ids if i in SECTIONS] == list(SECTIONS)
    alts = [img["alt"] for img in page.imgs]
    for picture in ("sample QC by group", "sex check", "allele frequency spectrum", "HWE QQ plot", "batch effects"):
        assert picture in alts, f"no {picture} picture in the report ({alts})"
    summary = json.loads((hm_qc / "summary.json").read_text())
    sex = pd.read_csv(hm_qc / "sex_check.tsv", sep="\t")
    outliers = pd.read_csv(hm_qc / "sample_outliers.tsv", sep="\t")
    words = page.words
    n_problem, n_out = int((sex["status"] == "PROBLEM").sum()), int(outliers["outlier"].sum())
    assert f"{n_problem:,} of {len(sex):,} samples with status PROBLEM" in words
    assert f"{n_out:,} of {len(outliers):,} samples outside median +- 4.0 MADs" in words
    assert n_problem > 0 and n_out > 0  # HapMap: ambiguous chrX F of XX samples; outliers within populations
    # the flagged samples are listed by id (tables are folded in <details>, still in the page)
    for sample in list(sex.loc[sex["status"] == "PROBLEM", "sample_id"]) + list(
            outliers.loc[outliers["outlier"], "sample_id"]):
        assert sample in words
    for key in ("n_samples", "n_variants", "n_batch_flagged_variants"):
        assert re.search(rf"{key} {summary[key]}\b", words), key
    # per-population HWE: the QQ title says the groups were tested apart, the text names the column
    assert "each group of 'pop.group' tested apart" in words
    # provenance: the QC run's, and the sha256 of every file the report read
    assert summary["provenance"]["store"]["manifest_sha256"] in words
    for file in ("summary.json", "sample_qc.parquet", "variant_qc.parquet", "sex_check.tsv", "sample_outliers.tsv",
                 "batch_check.parquet"):
        assert f'"{file}": "{sha256_file(hm_qc / file)}"' in words.replace("&quot;", '"'), file


def test_report__loads_nothing_from_anywhere(hm_report):
    """No URL leaves the page: images are data:image/png;base64 URIs that decode to PNGs, links are anchors,
    no script, stylesheet link, frame, object or CSS url()/@import."""
    from PIL import Image

    page = parse(hm_report)
    assert not set(page.tags) & {"script", "link", "iframe", "frame", "object", "embed", "video", "audio",
                                 "source", "track", "base", "svg"}
    assert page.metas == [{"charset": "utf-8"}]  # no http-equiv refresh
    assert not [u for u in page.urls if u[1].startswith("on")], "event handlers run script"
    css = " ".join(page.styles)
    assert "url(" not in css and "@import" not in css
    sizes = []
    for tag, attribute, value in page.urls:
        if tag == "a" and attribute == "href":
            assert value.startswith("#") and value[1:] in SECTIONS, value
            continue
        assert (tag, attribute) == ("img", "src"), (tag, attribute, value[:80])
        assert value.startswith("data:image/png;base64,"), value[:80]
        image = Image.open(io.BytesIO(base64.b64decode(value.split(",", 1)[1], validate=True)))
        image.verify()
        sizes.append(image.size)
    assert len(sizes) >= 5 and all(w > 200 and h > 200 for w, h in sizes), sizes


def test_report__states_missing_tables(hm_store, hm_qc_autosomes, tmp_path):
    """QC of chromosomes 1-22 without a batch column: no sex check or batch check, and the page says why (the
    reasons summary.json gives), with every section still there."""
    out = tmp_path / "r.html"
    res = write_report(hm_store, hm_qc_autosomes, out, ReportOptions(backend="numpy"))
    skipped = json.loads((hm_qc_autosomes / "summary.json").read_text())["skipped"]
    assert set(skipped) == {"sex_check.tsv", "batch_check.parquet"}
    assert res["missing"] == {"sex_check": skipped["sex_check.tsv"], "batch_check": skipped["batch_check.parquet"]}
    page = parse(out)
    assert [i for i in page.ids if i in SECTIONS] == list(SECTIONS)
    words = page.words
    assert f"No sex check: {skipped['sex_check.tsv']}" in words
    assert f"No batch check: {skipped['batch_check.parquet']}" in words
    assert {img["alt"] for img in page.imgs} == {"sample QC by group", "allele frequency spectrum", "HWE QQ plot"}
    assert "all samples pooled in one test" in words


def test_report__refuses_qc_of_another_store_and_other_inputs(hm_store, hm_qc, tmp_path):
    other = tmp_path / "qc"
    shutil.copytree(hm_qc, other)
    summary = json.loads((other / "summary.json").read_text())
    summary["provenance"]["store"]["manifest_sha256"] = "0" * 64
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(GdbError, match="computed on another store") as info:
        write_report(hm_store, other, tmp_path / "r.html")
    assert "summary.json" in str(info.value) and "run `gdbtools qc` on this store" in str(info.value)
    with pytest.raises(GdbError, match="not a QC directory"):
        write_report(hm_store, hm_store.path, tmp_path / "r.html")
    with pytest.raises(GdbError, match="HTML page"):
        write_report(hm_store, hm_qc, tmp_path / "r.pdf")
    with pytest.raises(GdbError, match="--group-by population: no such sample column"):
        write_report(hm_store, hm_qc, tmp_path / "r.html", ReportOptions(group_by="population"))
    assert not (tmp_path / "r.html").exists()


def test_report_cli__writes_once_then_needs_overwrite(hm_store, hm_qc, tmp_path):
    out = tmp_path / "report.html"
    proc = run_cli("report", hm_store.path, "--qc", hm_qc, "--out", out, "--group-by", "pop.group",
                   "--title", "HapMap <QC>")
    assert "5 plots" in proc.stdout  # by population (= the batch column here: drawn once), sex, AFS, QQ, batches
    assert "<title>HapMap &lt;QC&gt;</title>" in out.read_text()  # text is escaped
    again = run_cli("report", hm_store.path, "--qc", hm_qc, "--out", out, check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    with pytest.raises(OutputExists):
        write_report(hm_store, hm_qc, out)
