"""Validation of pipeline files: every problem at once, each with its line, key and a fix; nothing runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers import run_cli
from pipeline_helpers import HAIL, make_delivery, write_pipeline

from gdbtools.pipeline import PipelineInvalid, known_kinds, load, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def delivery(data_dir, tmp_path):
    return make_delivery(tmp_path / "incoming" / "d1")


def _yaml(tmp_path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_load__minimal_pipeline_resolves_paths_globs_and_defaults(delivery, tmp_path):
    path = write_pipeline(tmp_path / "p.yaml", {
        "inputs": {"vcf": "incoming/*/*.vcf.gz", "metadata": "incoming/d1/samples.tsv"},
        "outputs": {"store": "store", "dir": "results"},
        "steps": ["ingest", "verify"]})
    p = load(path)
    assert p.name == "p" and p.vcf == [str(delivery / HAIL.name)]  # the .tbi the pattern does not match
    assert p.metadata == str(delivery / "samples.tsv") and p.store == str(tmp_path / "store")
    assert p.workdir == p.out_dir == tmp_path / "results"
    assert [(s.name, s.kind) for s in p.steps] == [("ingest", "ingest"), ("verify", "verify")]
    assert p.steps[0].params["partition_by"] == "region" and p.steps[0].outputs == {"store": str(tmp_path / "store")}
    assert p.steps[1].outputs == {"verify": str(tmp_path / "results" / "verify.json")}


def test_load__environment_variables_with_defaults(delivery, tmp_path):
    spec = {"inputs": {"vcf": "${INCOMING}/${DELIVERY:-d1}/*.vcf.gz"},
            "outputs": {"store": "${ROOT:-/nowhere}/s", "dir": "${ROOT:-/nowhere}/r"}, "steps": ["ingest"]}
    p = load(spec, environ={"INCOMING": str(delivery.parent), "ROOT": str(tmp_path)})
    assert p.vcf == [str(delivery / HAIL.name)] and p.store == str(tmp_path / "s")
    assert p.env == {"INCOMING": str(delivery.parent), "DELIVERY": "d1", "ROOT": str(tmp_path)}
    with pytest.raises(PipelineInvalid, match=r"environment variable INCOMING is not set.*\n.*export INCOMING="):
        load(spec, environ={})


def test_load__reports_every_problem_with_line_key_and_fix(delivery, tmp_path):
    path = _yaml(tmp_path, f"""\
version: 1
inputz: {{}}
inputs:
  vcf: [{delivery}/*.vcf.gz, {tmp_path}/none/*.vcf.gz]
outputs:
  store: store
  dir: results
steps:
  - kind: ingest
    partiton_by: contig
    block_size: many
  - kind: frek
  - verify
  - kind: verify
cluster:
  kind: local
  nworkers: 2
""")
    with pytest.raises(PipelineInvalid) as info:
        load(path)
    err = info.value
    text = str(err)
    assert text.startswith(f"{path}: 7 problems in the pipeline:")
    wheres = [p.where for p in err.problems]
    assert wheres == ["line 2, inputz", "line 4, inputs.vcf[1]", "line 10, steps[0].partiton_by",
                      "line 11, steps[0].block_size", "line 12, steps[1].kind", "line 14, steps[3]",
                      "line 17, cluster.nworkers"]
    assert "did you mean 'inputs'?" in err.problems[0].fix
    assert "matches no file" in err.problems[1].message
    assert "did you mean 'partition_by'?" in err.problems[2].fix
    assert "ingest.block_size must be an integer" in err.problems[3].message
    assert err.problems[4].message == "unknown step kind 'frek'"
    assert f"the known step kinds are: {', '.join(known_kinds())}" in err.problems[4].fix  # listed, fix names them
    assert "two steps are named 'verify'" in err.problems[5].message and "name: verify_2" in err.problems[5].fix
    assert "n_workers" in err.problems[6].fix


S = "inputs: {store: s}\n"  # a store to read (existence not checked in these cases)


@pytest.mark.parametrize("text, where, message, fix", [
    ("steps: [ingest\n", "line 2, column 1", "not valid YAML", "indentation"),
    (S + "inputs: {}\noutputs: {dir: r}\nsteps: [verify]\n", "line 2, inputs",
     "key 'inputs' appears twice here (first on line 1)", "keep one"),
    (S + "outputs: {dir: r}\nsteps: []\n", "line 3, steps", "steps must be a non-empty list", None),
    ("outputs: {dir: r}\nsteps:\n  - verify\n", "line 3, steps[0]", "reads the cohort store, which neither",
     "add an ingest step before it"),
    (S + "outputs: {store: s}\nsteps: [verify]\n", "line 2, outputs", "outputs.dir is missing", "dir: results"),
    (S + "outputs: {dir: r}\ncluster: {kind: pbs}\nsteps: [verify]\n", "line 3, cluster.kind",
     "unknown cluster kind 'pbs'", "local, local-cuda, slurm"),
    (S + "outputs: {dir: r}\nsteps:\n  - kind: verify\n    out: [a, b]\n", "line 5, steps[0].out",
     "out must be a non-empty string", None),
    (S + "outputs: {dir: r}\nsteps:\n  - kind: freq\n    by: {population: 1}\n", "line 5, steps[0].by",
     "freq.by must be a string or a list of strings", "Sample column to stratify by"),
    ("inputs: {vcf: x.vcf.gz}\noutputs: {dir: r, store: s}\nsteps: [ingest]\n", "line 1, inputs.vcf",
     "no such VCF/BCF file", "check the path"),
])
def test_load__single_problem_names_line_and_fix(tmp_path, text, where, message, fix):
    path = _yaml(tmp_path, text)
    with pytest.raises(PipelineInvalid) as info:
        load(path, check_inputs="vcf" in text)
    (problem,) = info.value.problems
    assert problem.where == where and message in problem.message, str(info.value)
    if fix:
        assert fix in problem.fix
    assert str(info.value).startswith(f"{path}: {where}: ")


def test_load__ingest_into_a_directory_that_is_not_a_store_is_refused(delivery, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.txt").write_text("someone's data")
    with pytest.raises(PipelineInvalid, match="exists and is not a gdbtools store"):
        load({"inputs": {"vcf": str(delivery / HAIL.name)}, "outputs": {"store": "other", "dir": "r"},
              "steps": ["ingest"]}, base_dir=tmp_path)


def test_run__invalid_pipeline_runs_nothing(delivery, tmp_path):
    path = write_pipeline(tmp_path / "p.yaml", {"inputs": {"vcf": str(delivery / HAIL.name)},
                                                "outputs": {"store": "s", "dir": "r"},
                                                "steps": ["ingest", {"kind": "verify", "bogus": 1}]})
    with pytest.raises(PipelineInvalid, match="unknown key 'bogus' in a verify step"):
        run(path)
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()
    cli = run_cli("run", path, check=False)
    assert cli.returncode == 2
    assert re.search(r"p.yaml: line \d+, steps\[1\].bogus: unknown key 'bogus' in a verify step", cli.stderr)
    assert "fix: the keys of a verify step are: kind, name, out" in cli.stderr


def test_example_pipeline__is_valid_and_documents_every_step_kind():
    example = REPO / "examples" / "pipeline.yaml"
    p = load(example, check_inputs=False)
    assert [s.kind for s in p.steps] == ["ingest", "verify", "freq", "freq", "qc", "report", "export", "burden"]
    text = example.read_text()
    for kind in known_kinds():
        assert f"kind: {kind}" in text or f"- {kind}" in text, f"examples/pipeline.yaml does not show {kind}"


def test_cli__list_steps_and_check(delivery, tmp_path):
    listed = run_cli("run", "--list-steps").stdout
    for kind in known_kinds():
        assert f"\n{kind}: " in "\n" + listed
    assert "partition_by (region | contig | file, default region): Partitioning of the work" in listed
    assert "encoding (hybrid2 | dense2, default hybrid2)" in listed  # once missing from the pipeline
    path = write_pipeline(tmp_path / "p.yaml", {"inputs": {"vcf": str(delivery / HAIL.name)},
                                                "outputs": {"store": "s", "dir": "r"}, "steps": ["ingest"]})
    assert "valid; steps: ingest (ingest)" in run_cli("run", path, "--check").stdout
    assert not (tmp_path / "r").exists()


def test_docs_pipeline_example__is_valid():
    """The pipeline shown in docs/SUPERCOMPUTER.md validates (paths aside: they are the supercomputer's)."""
    text = (REPO / "docs" / "SUPERCOMPUTER.md").read_text()
    block = re.search(r"### 4\. A declared pipeline.*?```yaml\n(.*?)```", text, re.S).group(1)
    p = load(yaml.safe_load(block), check_inputs=False, environ={"DELIVERY": "2026-11"})
    assert [s.kind for s in p.steps] == ["ingest", "verify", "freq", "qc"]
    assert p.store == "/data/gdb/cohorts/2026-11" and p.cluster == {"kind": "local", "settings": {"n_workers": 8}}
