"""Options defined once: the CLI, the pipeline steps and docs/OPTIONS.md come from gdbtools.optionsets; the CLI
starts without the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gdbtools.cli import allocator, main
from gdbtools.options import specs
from gdbtools.optionsets import CLI_ONLY, OPTION_SETS, IngestOptions, options_markdown
from gdbtools.pipeline import STEPS, load

REPO = Path(__file__).resolve().parents[1]


def _cli_params(command: str) -> set[str]:
    cmd = main.commands[command]
    return {p.name for p in cmd.params if not (isinstance(p, click.Option) and p.name == "help")}


@pytest.mark.parametrize("kind", sorted(OPTION_SETS))
def test_cli_and_pipeline_take_the_same_parameters(kind):
    pipeline = {s.name for s in specs(STEPS[kind].options)}
    cmd = main.commands[kind]
    cli_only = {p.name for p in cmd.params
                if (p.opts[0] if isinstance(p, click.Option) else p.name.upper()) in CLI_ONLY[kind]}
    assert len(cli_only) == len(CLI_ONLY[kind]), (cli_only, CLI_ONLY[kind])  # every listed one exists
    assert _cli_params(kind) - cli_only == pipeline


def test_a_pipeline_step_takes_every_option_of_the_command(tmp_path):
    """`encoding` once could not be set in a pipeline; every option of ingest validates as a step key now."""
    step = {"kind": "ingest", "encoding": "dense2", "adj_gq": 30, "info": "AF", "workers": 2}
    p = load({"inputs": {"vcf": "x.vcf.gz"}, "outputs": {"store": "s", "dir": "r"}, "steps": [step]},
             base_dir=tmp_path, check_inputs=False)
    opts = p.steps[0].options
    assert isinstance(opts, IngestOptions) and opts.encoding == "dense2" and opts.info == ("AF",)
    assert opts.ingest_kwargs()["adj"]["min_gq"] == 30


def test_ingest_adj_defaults_are_the_library_defaults():
    from gdbtools.ingest import ADJ_DEFAULTS

    assert IngestOptions().adj_setting() == ADJ_DEFAULTS


def test_docs_options_md_is_the_generated_reference():
    committed = (REPO / "docs" / "OPTIONS.md").read_text()
    assert committed == options_markdown(), "regenerate: python -c 'from gdbtools.optionsets import " \
        "options_markdown; open(\"docs/OPTIONS.md\", \"w\").write(options_markdown())'"


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom gdbtools.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "for cmd in ('ingest', 'freq', 'qc', 'report', 'export', 'burden', 'run'):\n"
            "    try:\n        main([cmd, '--help'])\n    except SystemExit:\n        pass\n"
            "import json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'numba', 'dask', 'distributed', 'pyarrow', 'numpy', 'scipy', 'matplotlib'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == [], heavy


@pytest.mark.parametrize("preset", [None, "mimalloc"])
def test_commands_use_the_c_librarys_allocator_for_arrow_unless_the_user_chose(preset):
    """The CLI sets Arrow's default pool to the C library's malloc (mimalloc re-faults the pages it frees on
    every Parquet write: bench/RESULTS.md); a pool the user names in ARROW_DEFAULT_MEMORY_POOL is kept."""
    code = ("from gdbtools.cli import main\n"
            "@main.command('probe')\ndef probe():\n    import pyarrow as pa\n"
            "    print(pa.default_memory_pool().backend_name)\n"
            "main(['probe'])")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if preset:
        env["ARROW_DEFAULT_MEMORY_POOL"] = preset
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert proc.stdout.split()[-1] == (preset or "system")


_REALLOC = """
import json, resource, sys, threading
import numpy as np
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def rounds():
    for _ in range(5):
        bufs = [np.ones(20 << 17) for _ in range(3)]  # three 20 MiB buffers, freed together
        del bufs
def measure():
    rounds()
    t0 = faults()
    rounds()
    in_main = faults() - t0
    t = threading.Thread(target=rounds)
    t.start(); t.join()
    t1 = faults()
    t = threading.Thread(target=rounds)
    t.start(); t.join()
    print(json.dumps([in_main, faults() - t1]))
if sys.argv[1] == "cli":  # measured inside a command (what every gdbtools command runs in)
    from gdbtools.cli import main
    main.command("probe")(measure)
    main(["probe"])
else:
    measure()
"""


@pytest.mark.skipif(not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"), reason="not glibc")
def test_commands_keep_the_memory_they_free_for_their_next_buffers():
    """After the CLI's import (cli.allocator), buffers freed and made again, in the main thread or another, reuse
    their pages; with glibc's defaults the same rounds fault thousands of pages in again (bench/RESULTS.md)."""
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}

    def run(mode):
        proc = subprocess.run([sys.executable, "-c", _REALLOC, mode], capture_output=True, text=True, check=True,
                              env=env)
        return json.loads(proc.stdout.splitlines()[-1])

    main_faults, thread_faults = run("cli")
    assert main_faults < 100 and thread_faults < 100
    main_default, thread_default = run("plain")
    assert main_default + thread_default > 2000


def test_allocator__a_user_who_tunes_malloc_keeps_the_settings():
    env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}
    assert allocator.configure(env) == {} and env["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    env = {"MALLOC_ARENA_MAX": "2"}
    assert allocator.configure(env) == {} and env["ARROW_DEFAULT_MEMORY_POOL"] == "system"


def test_version__is_the_installed_distributions_read_without_importlib_metadata():
    code = ("import sys, gdbtools\nv = gdbtools.__version__\nloaded = 'importlib.metadata' in sys.modules\n"
            "from importlib import metadata\nprint(v, metadata.version('gdbtools'), loaded)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours, installed, loaded = proc.stdout.split()
    assert ours == installed and loaded == "False"


def test_required_options_and_float_lists_in_a_pipeline_step(tmp_path):
    """burden's phenotypes/trait are required (CLI and pipeline alike); max_af is a list of numbers."""
    from gdbtools.optionsets import BurdenOptions
    from gdbtools.pipeline import PipelineInvalid

    base = {"inputs": {"store": "s"}, "outputs": {"dir": "r"}}
    with pytest.raises(PipelineInvalid) as err:
        load({**base, "steps": [{"kind": "burden", "trait": "ldl", "max_af": ["x"]}]}, base_dir=tmp_path,
             check_inputs=False)
    text = str(err.value)
    assert "burden.phenotypes is required" in text and "burden.max_af must be a number or a list" in text
    (tmp_path / "p.tsv").write_text("sample_id\tldl\n")
    p = load({**base, "steps": [{"kind": "burden", "phenotypes": "p.tsv", "trait": "ldl", "max_af": 0.001}]},
             base_dir=tmp_path, check_inputs=False)
    opts = p.steps[0].options
    assert isinstance(opts, BurdenOptions) and opts.max_af == (0.001,)
    assert opts.phenotypes == str(tmp_path / "p.tsv")  # relative to the pipeline file
    assert [s.name for s in specs(BurdenOptions) if s.required] == ["phenotypes", "trait"]
