"""Ingest every VCF of bcftools' own test suite one by one and classify the outcome (issue 9, item 5).

Usage::

    .venv/bin/python bench/triage_bcftools_vcfs.py [--data DIR] [--out results.jsonl] [--timeout 120] [--bcf] [FILE ...]

For each ``*.vcf`` of ``DIR`` (default ``../shared/data/bcftools_test_vcfs`` from the repository root): the
file is copied to a temporary directory, bgzipped and indexed there (``bgzip -c``, ``bcftools index -t``;
an unsortable file is ingested as plain text), ingested with ``gdbtools.ingest(..., workers=1)`` in a forked
child process with a time limit, and classified:

- ``ok``: the store's split rows (contig, pos, ref, alt) and per-variant code counts equal
  ``bcftools norm -m- | bcftools +fill-tags`` (as ``tests/oracles.split_variant_counts``, with VCF text
  between the stages, ALT ``.`` records left out: the ingest skips them by design, and the rows compared in
  the store's contig order when the file's differs from ``##contig``); ``verify`` is run too
  and its outcome recorded (``verify_ok``);
- ``mismatch``: rows or counts differ; ``detail`` names which counts (hom_ref/het/hom_alt/missing, i.e. AN)
  on how many variants, with the first example;
- ``refused``: a :class:`~gdbtools.errors.GdbError` other than "unexpected error" (``oneline``: whether its
  message is one line before the ``fix:``);
- ``unexpected``: a GdbError "unexpected error while reading" (the wrapped exception is recorded) or any
  other exception (a traceback), with the innermost gdbtools frame;
- ``hang``: the time limit passed; ``bcftools-rejects``: ``bcftools view`` cannot read the file (no oracle);
  ``oracle-failed``: ingest worked but ``bcftools norm | +fill-tags`` failed.

One JSON line per file goes to ``--out``; a summary by class is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gdbtools, whatever the environment's editable install points to


def _expected(path: Path, n_samples: int):
    """``tests/oracles.split_variant_counts``, reading a tag fill-tags left unset (``.``, a record without GT)
    as 0, i.e. every call missing, as bcftools counts it."""
    import io

    import pandas as pd

    # as oracles._pipe, but VCF text between the stages: BCF cannot carry undeclared contigs or tags
    norm = subprocess.run(["bcftools", "norm", "-m-", "-Ov", str(path)], capture_output=True)
    if norm.returncode != 0:
        raise RuntimeError("bcftools norm: " + norm.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
    filled = subprocess.run(["bcftools", "+fill-tags", "-Ov", "-", "--", "-t", "AC_Het,AC_Hom,AC_Hemi,NS"],
                            input=norm.stdout, capture_output=True)
    if filled.returncode != 0:
        raise RuntimeError("bcftools +fill-tags: " + filled.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
    query = subprocess.run(["bcftools", "query", "-f",
                            "%CHROM\t%POS\t%REF\t%ALT\t%AC_Het\t%AC_Hom\t%AC_Hemi\t%NS\n", "-"],
                           input=filled.stdout, capture_output=True, check=True)
    text = query.stdout.decode()
    df = pd.read_csv(io.StringIO(text), sep="\t", header=None, dtype=str,
                     names=["contig", "pos", "ref", "alt", "het", "hom", "hemi", "ns"], keep_default_na=False)
    tags = ["het", "hom", "hemi", "ns"]
    df[tags] = 0 if n_samples == 0 else df[tags].replace(".", "0")
    out = pd.DataFrame({"contig": df["contig"], "pos": df["pos"].astype(np.int64), "ref": df["ref"],
                        "alt": df["alt"]})
    out["n_het"] = df["het"].astype(np.int64)
    out["n_hom_alt"] = df["hom"].astype(np.int64) // 2 + df["hemi"].astype(np.int64)
    out["n_missing"] = n_samples - df["ns"].astype(np.int64)
    out["n_hom_ref"] = n_samples - out["n_het"] - out["n_hom_alt"] - out["n_missing"]
    return out


def _prepare(src: Path, tmp: Path, bcf: bool = False) -> tuple[Path, str]:
    """bgzip + tabix-index `src` into `tmp` (with `bcf`: ``bcftools view -Ob`` + CSI index); returns (path to
    ingest, note)."""
    view = subprocess.run(["bcftools", "view", "-Ov", "-o", os.devnull, str(src)], capture_output=True)
    if view.returncode != 0:
        return src, "bcftools-rejects: " + view.stderr.decode("utf-8", "replace").strip().splitlines()[-1][:300]
    if bcf:
        out = tmp / (src.stem + ".bcf")
        conv = subprocess.run(["bcftools", "view", "-Ob", "-o", str(out), str(src)], capture_output=True)
        if conv.returncode != 0:
            return src, "bcf-convert-failed: " + conv.stderr.decode("utf-8", "replace").strip().splitlines()[-1][:300]
        idx = subprocess.run(["bcftools", "index", "-c", str(out)], capture_output=True)
        if idx.returncode != 0:
            return out, "not indexed: " + idx.stderr.decode("utf-8", "replace").strip().splitlines()[-1][:200]
        return out, "indexed"
    gz = tmp / (src.name + ".gz")
    with open(gz, "wb") as fh:
        subprocess.run(["bgzip", "-c", str(src)], stdout=fh, check=True)
    idx = subprocess.run(["bcftools", "index", "-t", str(gz)], capture_output=True)
    if idx.returncode != 0:
        return gz, "not indexed: " + idx.stderr.decode("utf-8", "replace").strip().splitlines()[-1][:200]
    return gz, "indexed"


def _innermost_gdbtools_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/gdbtools/" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} ({f.name})"


def _compare(store, path: Path) -> dict:
    """Rows and per-variant code counts of `store` against bcftools norm -m- | +fill-tags."""
    try:
        expected = _expected(path, store.n_samples)
    except Exception as exc:  # the oracle's own failure is a class of its own
        return {"cls": "oracle-failed", "detail": str(exc).strip().splitlines()[-1][:300]}
    ref_only = int((expected["alt"] == ".").sum())  # ALT "." records: not variants, skipped by design
    expected = expected[expected["alt"] != "."].reset_index(drop=True)
    variants = store.variants(["contig", "pos", "ref", "alt"])
    got_keys = list(zip(variants["contig"].astype(str), variants["pos"].astype(int), variants["ref"],
                        variants["alt"]))
    want_keys = list(zip(expected["contig"].astype(str), expected["pos"].astype(int), expected["ref"],
                         expected["alt"]))
    reordered = False
    if got_keys != want_keys and sorted(got_keys) == sorted(want_keys):
        # same rows, another contig order (the store follows ##contig, bcftools the file): compare in the
        # store's order, matching each contig's rows in file order
        rank = {c: i for i, c in enumerate(dict.fromkeys(k[0] for k in got_keys))}
        order = sorted(range(len(want_keys)), key=lambda i: (rank[want_keys[i][0]], i))
        expected = expected.iloc[order].reset_index(drop=True)
        want_keys = [want_keys[i] for i in order]
        reordered = True
    if got_keys != want_keys:
        from collections import Counter

        missing = list((Counter(want_keys) - Counter(got_keys)).elements())
        extra = list((Counter(got_keys) - Counter(want_keys)).elements())
        first = next((i for i, (a, b) in enumerate(zip(got_keys, want_keys)) if a != b),
                     min(len(got_keys), len(want_keys)))
        return {"cls": "mismatch", "what": "rows", "n_missing_rows": len(missing), "n_extra_rows": len(extra),
                "ref_only_skipped": ref_only,
                "detail": f"store {len(got_keys)} rows, bcftools {len(want_keys)} (ALT . excluded); "
                          f"not in store: {missing[:3]}; only in store: {extra[:3]}; first difference at row "
                          f"{first}"}
    counts = np.zeros((store.n_variants, 4), dtype=np.int64)
    for block in store.blocks():
        codes = block.codes()
        rows = slice(block.variant_offset, block.variant_offset + block.n_variants)
        for k in range(4):
            counts[rows, k] = (codes == k).sum(axis=1)
    names = ["n_hom_ref", "n_het", "n_hom_alt", "n_missing"]
    want = expected[names].to_numpy()
    if store.n_samples == 0 or np.array_equal(counts, want):
        return {"cls": "ok", "n_variants": store.n_variants, "n_samples": store.n_samples, "reordered": reordered,
                "ref_only_skipped": ref_only}
    bad_rows = np.flatnonzero((counts != want).any(axis=1))
    bad_cols = [names[k] for k in range(4) if (counts[:, k] != want[:, k]).any()]
    r = int(bad_rows[0])
    an_store = 2 * int(counts[r, :3].sum())
    return {"cls": "mismatch", "what": "counts", "columns": bad_cols, "n_rows": int(bad_rows.size),
            "reordered": reordered,
            "detail": f"{len(bad_rows)}/{store.n_variants} variants differ in {', '.join(bad_cols)}; first "
                      f"{got_keys[r]}: store {counts[r].tolist()} vs bcftools {want[r].tolist()} "
                      f"(store AN if all diploid {an_store})"}


def _one(src: str, out_q, bcf: bool = False) -> None:
    """Child: prepare, ingest, compare, verify; put one result dict on `out_q`."""
    from gdbtools.errors import GdbError
    from gdbtools.ingest import ingest, verify
    from gdbtools.store.reader import Store

    result: dict = {"file": Path(src).name}
    tmp = Path(tempfile.mkdtemp(prefix="triage-"))
    try:
        path, note = _prepare(Path(src), tmp, bcf)
        result["prep"] = note
        if note.startswith(("bcftools-rejects", "bcf-convert-failed")):
            result["cls"] = note.split(":")[0]
        else:
            try:
                ingest(path, tmp / "store", workers=1, progress=False)
                store = Store(tmp / "store")
            except GdbError as exc:
                cause = exc.__cause__
                unexpected = exc.message.startswith("unexpected error")
                result.update(cls="unexpected" if unexpected else "refused", message=str(exc).splitlines()[0][:400],
                              oneline="\n" not in exc.message,
                              where=_innermost_gdbtools_frame(cause if cause is not None else exc))
            except Exception as exc:  # classified, not hidden
                result.update(cls="unexpected", message=f"traceback: {type(exc).__name__}: {exc}"[:400],
                              where=_innermost_gdbtools_frame(exc))
            else:
                result["ingest_stats"] = {k: v for k, v in store.manifest.get("stats", {}).items()
                                          if isinstance(v, (int, float, str))}
                result.update(_compare(store, path))
                try:
                    report = verify(store, progress=False)
                    result["verify_ok"] = report.ok
                    if not report.ok:
                        result["verify"] = str(report).splitlines()[:3]
                except Exception as exc:
                    result["verify_ok"] = False
                    result["verify"] = [f"{type(exc).__name__}: {exc}"[:300], _innermost_gdbtools_frame(exc)]
    except Exception as exc:
        result.update(cls="script-error", message=f"{type(exc).__name__}: {exc}"[:400])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out_q.put(result)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "bcftools_test_vcfs"))
    parser.add_argument("--out", default="triage_results.jsonl")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--bcf", action="store_true", help="convert each file to indexed BCF first (the fast "
                        "reader reads BCF by region)")
    args = parser.parse_args(argv)
    files = [Path(f) for f in args.files] or sorted(Path(args.data).glob("*.vcf"))
    import gdbtools.ingest  # noqa: F401 - imported (and numba warmed) once in the parent; children fork
    from gdbtools.ingest.encode import warm_up

    warm_up()
    ctx = mp.get_context("fork")
    by_class: dict[str, list[str]] = {}
    with open(args.out, "w") as out:
        for n, f in enumerate(files, 1):
            q = ctx.Queue()
            child = ctx.Process(target=_one, args=(str(f), q, args.bcf))
            t0 = time.perf_counter()
            child.start()
            try:
                result = q.get(timeout=args.timeout)
            except Exception:  # queue.Empty: the time limit
                child.kill()
                result = {"file": f.name, "cls": "hang", "detail": f"no result within {args.timeout:.0f} s"}
            child.join(5)
            result["seconds"] = round(time.perf_counter() - t0, 2)
            out.write(json.dumps(result) + "\n")
            out.flush()
            by_class.setdefault(result["cls"], []).append(f.name)
            print(f"[{n}/{len(files)}] {f.name}: {result['cls']} "
                  f"{result.get('message') or result.get('detail') or ''}"[:200], file=sys.stderr, flush=True)
    for cls, names in sorted(by_class.items()):
        print(f"{cls}: {len(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
