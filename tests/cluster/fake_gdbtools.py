"""A stand-in for the ``gdbtools`` command with the contract the slurm/ templates are written against.

    gdbtools ingest INPUT... --out STORE [--metadata TSV] [--build B] [--partition-by contig]
                    [--init | --partition I | --finalize]        (none of them: all three in one go)
    gdbtools qc STORE --out DIR
    gdbtools freq STORE --by COLUMNS --out FILE
    gdbtools report STORE --qc DIR --freq FILE --out DIR
    gdbtools export FILE --out DIR
    gdbtools run PIPELINE.yaml [--check] [--dry-run] [--force STEP]   (a file without `steps:` is invalid)

User errors exit with status 2 (as the real CLI). Controlled by environment variables:

- ``FAKE_GDB_PARTITIONS``: number of partitions the plan has (default 3);
- ``FAKE_GDB_VERBS``: the commands that exist (default all five);
- ``FAKE_GDB_FAIL``: ``WHAT:CODE[:once]`` with WHAT a verb or ``partitionI``: exit with CODE there (once:
  only the first time, the way a crash or a time limit hits a job);
- ``FAKE_GDB_SLEEP``: seconds each partition takes (default 0);
- ``FAKE_GDB_LOG``: a file that gets one line per invocation (``verb what job-id``).

The lead replaces this by the real CLI once ``gdbtools ingest/qc/freq/report/export`` exist.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

VERBS = ("ingest", "qc", "freq", "report", "export", "run")


def fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def log(*parts):
    if os.environ.get("FAKE_GDB_LOG"):
        with open(os.environ["FAKE_GDB_LOG"], "a") as f:
            f.write(" ".join(str(p) for p in parts) + f" {os.environ.get('SLURM_JOB_ID', '-')}\n")


def maybe_fail(what: str, state_dir: Path):
    spec = os.environ.get("FAKE_GDB_FAIL", "")
    if not spec:
        return
    target, code, *once = spec.split(":")
    if target != what:
        return
    if once:
        marker = state_dir / f".fake-failed-{what}"
        if marker.exists():
            return
        state_dir.mkdir(parents=True, exist_ok=True)
        marker.touch()
    print(f"fake gdbtools: simulated failure at {what} (exit {code})", file=sys.stderr)
    sys.exit(int(code))


def parse(args: list[str], flags: set[str], options: set[str]):
    positional, opts = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags:
            opts[arg] = True
            i += 1
        elif arg in options:
            if i + 1 >= len(args):
                fail(f"{arg} needs a value")
            opts[arg] = args[i + 1]
            i += 2
        elif arg.startswith("--"):
            fail(f"no such option: {arg}")
        else:
            positional.append(arg)
            i += 1
    return positional, opts


def atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def ingest(args: list[str]):
    inputs, opts = parse(args, {"--init", "--finalize"},
                         {"--out", "--metadata", "--build", "--partition-by", "--partition"})
    if not inputs:
        fail("no input VCF/BCF given")
    for path in inputs:
        if not Path(path).is_file():
            fail(f"{path}: no such input file", 2)
    if "--out" not in opts:
        fail("--out STORE is required")
    if "--metadata" in opts and not Path(opts["--metadata"]).is_file():
        fail(f"{opts['--metadata']}: no such metadata file")
    store = Path(opts["--out"])
    plan = store / "plan.json"
    n = int(os.environ.get("FAKE_GDB_PARTITIONS", "3"))

    def do_init():
        store.mkdir(parents=True, exist_ok=True)
        if not plan.exists():
            atomic_write(plan, json.dumps({"partitions": n, "inputs": inputs}))
        print(f"gdbtools: plan written to {plan}")
        print(n)

    def do_partition(i: int):
        if not plan.exists():
            fail(f"{store}: no ingest plan; run with --init first")
        total = json.loads(plan.read_text())["partitions"]
        if not 0 <= i < total:
            fail(f"partition {i} out of range 0..{total - 1}")
        done = store / f"part-{i}.done"
        if done.exists():
            print(f"partition {i} is complete already")
            return
        log("partition", i)
        maybe_fail(f"partition{i}", store)
        time.sleep(float(os.environ.get("FAKE_GDB_SLEEP", "0")))
        atomic_write(done, os.environ.get("SLURM_JOB_ID", "-"))

    def do_finalize():
        if not plan.exists():
            fail(f"{store}: no ingest plan; run with --init first")
        total = json.loads(plan.read_text())["partitions"]
        missing = [i for i in range(total) if not (store / f"part-{i}.done").exists()]
        if missing:
            fail(f"{store}: partition(s) {', '.join(map(str, missing))} missing; run them, then --finalize again")
        log("finalize", "-")
        atomic_write(store / "manifest.json", json.dumps({"partitions": total}))
        print(f"gdbtools: {store} is complete")

    if opts.get("--init"):
        do_init()
    elif "--partition" in opts:
        do_partition(int(opts["--partition"]))
    elif opts.get("--finalize"):
        do_finalize()
    else:
        maybe_fail("ingest", store)
        do_init()
        for i in range(json.loads(plan.read_text())["partitions"]):
            do_partition(i)
        do_finalize()


def need_store(path: str) -> Path:
    store = Path(path)
    if not (store / "manifest.json").exists():
        fail(f"{store}: not a complete cohort store (no manifest.json)")
    return store


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("gdbtools, version 0.0+fake")
        return 0
    if not argv:
        fail("usage: gdbtools COMMAND ...")
    verb, args = argv[0], argv[1:]
    verbs = os.environ.get("FAKE_GDB_VERBS", " ".join(VERBS)).split()
    if verb not in verbs:
        fail(f"No such command '{verb}'.")
    if args[:1] in (["--help"], ["-h"]):
        print(f"Usage: gdbtools {verb} ...")
        return 0
    if verb == "ingest":
        ingest(args)
        return 0
    log(verb, "-")
    if verb == "run":
        pos, opts = parse(args, {"--check", "--dry-run"}, {"--force"})
        path = Path(pos[0])
        if "steps:" not in path.read_text():
            fail(f"{path}: no steps")
        if not opts.get("--check"):
            maybe_fail("run", path.parent)
            log("ran", path.name)
        return 0
    if verb == "qc":
        pos, opts = parse(args, set(), {"--out"})
        need_store(pos[0])
        maybe_fail("qc", Path(opts["--out"]).parent)
        Path(opts["--out"]).mkdir(parents=True, exist_ok=True)
        (Path(opts["--out"]) / "sample_qc.tsv").write_text("s\tcall_rate\n")
    elif verb == "freq":
        pos, opts = parse(args, set(), {"--out", "--by"})
        need_store(pos[0])
        maybe_fail("freq", Path(opts["--out"]).parent)
        Path(opts["--out"]).write_text(f"by={opts.get('--by')}\n")
    elif verb == "report":
        pos, opts = parse(args, set(), {"--out", "--qc", "--freq"})
        need_store(pos[0])
        maybe_fail("report", Path(opts["--out"]).parent)
        Path(opts["--out"]).mkdir(parents=True, exist_ok=True)
        (Path(opts["--out"]) / "index.html").write_text("<html></html>\n")
    elif verb == "export":
        pos, opts = parse(args, set(), {"--out"})
        if not Path(pos[0]).exists():
            fail(f"{pos[0]}: no such table")
        maybe_fail("export", Path(opts["--out"]).parent)
        Path(opts["--out"]).mkdir(parents=True, exist_ok=True)
        (Path(opts["--out"]) / "sites.vcf").write_text("##fileformat=VCFv4.3\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
