"""Ingest every VCF of bcftools' own test suite one by one and classify the outcome (issue 9, item 5).

Usage::

    .venv/bin/python bench/triage_bcftools_vcfs.py [--data DIR] [--out results.jsonl] [--timeout 60] [--bcf]
        [--workers 2] [FILE ...]

The work is done by ``tests/ingest/bcftools_suite.py`` (shared with ``tests/ingest/test_bcftools_suite.py``,
which asserts the outcome of every file): each ``*.vcf`` of ``DIR`` (default
``../shared/data/bcftools_test_vcfs``) is bgzipped, indexed, ingested in a forked child with a time limit,
compared with ``bcftools norm -m- | bcftools +fill-tags`` and verified; with ``--bcf`` also converted to
indexed BCF, ingested by region and compared with the VCF store. One JSON line per file goes to ``--out``;
a summary by class is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gdbtools, whatever the environment's editable install points to
sys.path.insert(0, str(ROOT / "tests" / "ingest"))

from bcftools_suite import run_files  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bcftools_test_vcfs"))
    parser.add_argument("--out", default="triage_results.jsonl")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bcf", action="store_true", help="also ingest each file as indexed BCF by region (the "
                        "fast reader) and compare the two stores")
    args = parser.parse_args(argv)
    files = [Path(f) for f in args.files] or sorted(Path(args.data).glob("*.vcf"))
    done = [0]
    with open(args.out, "w") as out:
        def report(result: dict) -> None:
            done[0] += 1
            out.write(json.dumps(result) + "\n")
            out.flush()
            detail = result.get("message") or result.get("detail") or ""
            print(f"[{done[0]}/{len(files)}] {result['file']}: {result['cls']} {detail} {result.get('bcf', '')}"[:300],
                  file=sys.stderr, flush=True)

        results = run_files(files, workers=args.workers, timeout=args.timeout, bcf=args.bcf, on_result=report)
    for cls, n in sorted(Counter(r["cls"] for r in results).items()):
        print(f"{cls}: {n}")
    if args.bcf:
        for cls, n in sorted(Counter(r.get("bcf", "-").split(":")[0].split(" (")[0] for r in results).items()):
            print(f"bcf {cls}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
