"""Ingest one file of bcftools' own test suite and classify the outcome (shared by the test and the bench script).

:func:`check_file` runs in a forked child (:func:`run_files` runs up to `workers` at a time, each with a time
limit, and reports a crash or a timeout as such). For one ``*.vcf``:

1. bgzip + tabix-index it into a temporary directory (in /dev/shm when there: :data:`SCRATCH`), ingest it
   (``workers=1``, defaults: adj on, half calls haploid, no metadata, so no sexes);
2. ``ok``: the store's split rows (contig, pos, ref, alt) and per-variant code counts equal ``bcftools norm -m-
   | bcftools +fill-tags`` (:func:`expected_counts`), ALT ``.`` records left out (the ingest skips them, counted
   as ``n_ref_only``) and rows compared in the store's contig order where the file's differs from
   ``##contig``; ``verify`` must pass (``verify_ok``); else ``mismatch`` (``detail`` names the first);
   ``refused``: a :class:`~gdbtools.errors.GdbError` (``message``: its first line; ``oneline``);
   ``unexpected``: an "unexpected error" GdbError or any other exception; ``bcftools-rejects``: the ingest
   failed and ``bcftools view`` cannot read the file either; ``oracle-failed``: ingest worked, the oracle not;
3. with ``bcf=True``, the file converted to BCF (``bcftools view -Ob``, CSI-indexed) is ingested by region
   (``partition_records`` small: several windows per contig, read by the fast BCF reader where it can) and
   compared with the VCF store (``bcf``: ``same``, ``differs: ...``, ``refused``/``unexpected: ...`` or
   ``convert-failed``: bcftools cannot write the file as BCF).
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from helpers import store_code_counts

if TYPE_CHECKING:
    from gdbtools.store.reader import Store

FILL_TAGS = "AC_Het,AC_Hom,AC_Hemi,NS"


def _scratch() -> str | None:
    """Where each file's temporary work goes: /dev/shm (memory) when it is there with room to spare, else the
    default temporary directory. A file's bgzipped copy, BCF twin and two stores are a few MB; in memory, the
    store writer's fsyncs (about 20 a file, 8,000 over the suite) cost nothing."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    return shm if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > 512 * 2**20 else None


SCRATCH = _scratch()


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else "(no message)"


def expected_counts(path: Path, n_samples: int):
    """Per split variant: contig, pos, ref, alt, n_hom_ref, n_het, n_hom_alt, n_missing from ``bcftools norm -m-
    | bcftools +fill-tags`` (as ``tests/oracles.split_variant_counts``, with VCF text between the stages: BCF
    cannot carry undeclared contigs or tags). A tag fill-tags leaves unset (``.``, a record without GT) reads
    as 0: every call missing, as bcftools counts it. Raises RuntimeError naming the stage that failed."""
    import pandas as pd

    norm = subprocess.run(["bcftools", "norm", "-m-", "-Ov", str(path)], capture_output=True)
    if norm.returncode != 0:
        raise RuntimeError("bcftools norm: " + _last_line(norm.stderr))
    filled = subprocess.run(["bcftools", "+fill-tags", "-Ov", "-", "--", "-t", FILL_TAGS], input=norm.stdout,
                            capture_output=True)
    if filled.returncode != 0:
        raise RuntimeError("bcftools +fill-tags: " + _last_line(filled.stderr))
    query = subprocess.run(["bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%AC_Het\t%AC_Hom\t%AC_Hemi\t%NS\n",
                            "-"], input=filled.stdout, capture_output=True, check=True)
    df = pd.read_csv(io.StringIO(query.stdout.decode()), sep="\t", header=None, dtype=str, keep_default_na=False,
                     names=["contig", "pos", "ref", "alt", "het", "hom", "hemi", "ns"])
    tags = ["het", "hom", "hemi", "ns"]
    df[tags] = 0 if n_samples == 0 else df[tags].replace(".", "0")
    out = pd.DataFrame({"contig": df["contig"], "pos": df["pos"].astype(np.int64), "ref": df["ref"],
                        "alt": df["alt"]})
    out["n_het"] = df["het"].astype(np.int64)
    out["n_hom_alt"] = df["hom"].astype(np.int64) // 2 + df["hemi"].astype(np.int64)
    out["n_missing"] = n_samples - df["ns"].astype(np.int64)
    out["n_hom_ref"] = n_samples - out["n_het"] - out["n_hom_alt"] - out["n_missing"]
    return out


def store_counts(store) -> tuple[list[tuple], np.ndarray]:
    """The store's variant keys (contig, pos, ref, alt) and ``(V, 4) int64`` code counts (hom-ref, het,
    hom-alt, missing) per variant."""
    variants = store.variants(["contig", "pos", "ref", "alt"])
    keys = list(zip(variants["contig"].astype(str), variants["pos"].astype(int), variants["ref"], variants["alt"]))
    return keys, store_code_counts(store)


def compare_with_bcftools(store, path: Path, got: tuple[list[tuple], np.ndarray] | None = None) -> dict:
    """Rows and per-variant code counts of `store` (`got`: its :func:`store_counts` when already read) against
    :func:`expected_counts` of `path`."""
    try:
        expected = expected_counts(path, store.n_samples)
    except Exception as exc:  # the oracle's own failure is a class of its own
        return {"cls": "oracle-failed", "detail": str(exc).strip().splitlines()[-1][:300]}
    ref_only = int((expected["alt"] == ".").sum())  # ALT "." records: not variants, skipped (and counted)
    expected = expected[expected["alt"] != "."].reset_index(drop=True)
    got_keys, counts = got if got is not None else store_counts(store)
    want_keys = list(zip(expected["contig"].astype(str), expected["pos"].astype(int), expected["ref"],
                         expected["alt"]))
    reordered = False
    if got_keys != want_keys and sorted(got_keys) == sorted(want_keys):
        # same rows, another contig order (the store follows ##contig, bcftools the file)
        rank = {c: i for i, c in enumerate(dict.fromkeys(k[0] for k in got_keys))}
        order = sorted(range(len(want_keys)), key=lambda i: (rank[want_keys[i][0]], i))
        expected = expected.iloc[order].reset_index(drop=True)
        want_keys = [want_keys[i] for i in order]
        reordered = True
    if got_keys != want_keys:
        missing = list((Counter(want_keys) - Counter(got_keys)).elements())
        extra = list((Counter(got_keys) - Counter(want_keys)).elements())
        return {"cls": "mismatch", "what": "rows",
                "detail": f"store {len(got_keys)} rows, bcftools {len(want_keys)} (ALT . excluded); not in store: "
                          f"{missing[:3]}; only in store: {extra[:3]}"}
    names = ["n_hom_ref", "n_het", "n_hom_alt", "n_missing"]
    want = expected[names].to_numpy()
    stats = store.manifest.get("stats", {})
    if stats.get("n_ref_only", 0) != ref_only:
        return {"cls": "mismatch", "what": "n_ref_only",
                "detail": f"manifest n_ref_only {stats.get('n_ref_only')} vs {ref_only} ALT . records"}
    if store.n_samples == 0 or np.array_equal(counts, want):
        return {"cls": "ok", "n_variants": store.n_variants, "n_samples": store.n_samples, "reordered": reordered,
                "ref_only_skipped": ref_only}
    bad = np.flatnonzero((counts != want).any(axis=1))
    r = int(bad[0])
    return {"cls": "mismatch", "what": "counts",
            "detail": f"{bad.size}/{store.n_variants} variants differ; first {got_keys[r]}: store "
                      f"{counts[r].tolist()} vs bcftools {want[r].tolist()} (hom-ref, het, hom-alt, missing)"}


def _innermost_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/gdbtools/" in f.filename]
    return f"{frames[-1].filename.split('/gdbtools/')[-1]}:{frames[-1].lineno}" if frames else ""


def _ingest(path: Path, out: Path, **kw) -> tuple[Store | None, dict]:
    """Ingest; returns (store or None, outcome fields)."""
    from gdbtools.errors import GdbError
    from gdbtools.ingest import ingest
    from gdbtools.store.reader import Store

    try:
        ingest(path, out, workers=1, progress=False, **kw)
        return Store(out), {}
    except GdbError as exc:
        unexpected = exc.message.startswith("unexpected error")
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        return None, {"cls": "unexpected" if unexpected else "refused", "message": str(exc).splitlines()[0][:400],
                      "oneline": "\n" not in exc.message, "where": _innermost_frame(cause)}
    except Exception as exc:  # classified, not hidden
        return None, {"cls": "unexpected", "message": f"traceback: {type(exc).__name__}: {exc}"[:400],
                      "where": _innermost_frame(exc)}


def _bcftools_reads(path: Path) -> str | None:
    view = subprocess.run(["bcftools", "view", "-Ov", "-o", os.devnull, str(path)], capture_output=True)
    return None if view.returncode == 0 else _last_line(view.stderr)


def _bcf_run(src: Path, tmp: Path, vcf_counts: tuple[list[tuple], np.ndarray] | None,
             partition_records: int) -> str:
    """Ingest `src` as indexed BCF by region; compare with the VCF store's :func:`store_counts` (None: the VCF
    was refused)."""
    out = tmp / (src.stem + ".bcf")
    conv = subprocess.run(["bcftools", "view", "-Ob", "-o", str(out), str(src)], capture_output=True)
    if conv.returncode != 0:
        return "convert-failed: " + _last_line(conv.stderr)
    idx = subprocess.run(["bcftools", "index", "-c", str(out)], capture_output=True)
    note = "" if idx.returncode == 0 else f" (not indexed: {_last_line(idx.stderr)}; read whole)"
    store, outcome = _ingest(out, tmp / "store.bcf", partition_records=partition_records)
    if store is None:
        return f"{outcome['cls']}: {outcome['message']}{note}"
    if vcf_counts is None:
        return "ingested (the VCF was not)"
    got, want = store_counts(store), vcf_counts
    if got[0] != want[0]:
        return f"differs: rows ({len(got[0])} vs {len(want[0])} in the VCF store){note}"
    if not np.array_equal(got[1], want[1]):
        return f"differs: code counts{note}"
    return "same" + note


def check_file(src: str, bcf: bool = False, partition_records: int = 20) -> dict:
    """Ingest one file (and its BCF twin with `bcf`), compare, verify; one result dict (see the module doc)."""
    from gdbtools.ingest import verify

    src_path = Path(src)
    result: dict = {"file": src_path.name}
    tmp = Path(tempfile.mkdtemp(prefix="bcftools-suite-", dir=SCRATCH))
    try:
        gz = tmp / (src_path.name + ".gz")
        with open(gz, "wb") as fh:
            subprocess.run(["bgzip", "-c", str(src_path)], stdout=fh, check=True)
        subprocess.run(["bcftools", "index", "-t", str(gz)], capture_output=True)  # unsorted: read unindexed
        store, outcome = _ingest(gz, tmp / "store")
        result.update(outcome)
        counts = None
        if store is None:
            rejects = _bcftools_reads(src_path)
            if rejects is not None:
                result.update(cls="bcftools-rejects", detail=rejects)
                return result
        else:
            result["stats"] = {k: v for k, v in store.manifest.get("stats", {}).items() if isinstance(v, int) and v}
            counts = store_counts(store)
            result.update(compare_with_bcftools(store, gz, counts))
            report = verify(store, progress=False)
            result["verify_ok"] = report.ok
            if not report.ok:
                result["verify"] = str(report).splitlines()[:3]
        if bcf:
            result["bcf"] = _bcf_run(src_path, tmp, counts, partition_records)
    except Exception as exc:
        result.update(cls="script-error", message=f"{type(exc).__name__}: {exc}"[:400])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _child(src: str, conn, bcf: bool, partition_records: int) -> None:
    conn.send(check_file(src, bcf, partition_records))
    conn.close()


# Two tiny files for :func:`warm_up`: GT first (the fast VCF and BCF readers) and GT not first (htslib).
_WARM_HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=1000>\n##contig=<ID=2,length=1000>\n"
                '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n")
_WARM_FILES = {
    "warm_fast.vcf": _WARM_HEADER + "1\t10\t.\tA\tC,G\t.\t.\t.\tGT:DP\t0/1:12\t1/2:9\n"
                                    "1\t20\t.\tA\tT\t.\t.\t.\tGT\t./.\t1|1\n"
                                    "2\t5\t.\tAC\tA\t.\t.\t.\tGT\t0/0\t0/1\n",
    "warm_htslib.vcf": _WARM_HEADER + "1\t10\t.\tA\tC\t.\t.\t.\tDP:GT\t12:0/1\t9:1/1\n",
}


def warm_up(bcf: bool, partition_records: int) -> None:
    """Run :func:`check_file` here on two tiny files before forking: the children then inherit the compiled
    encoders and readers (numba) and the imported modules instead of each loading them again (about 0.3 s a
    child), and a cold numba cache is compiled once, not by every child at the same time."""
    tmp = Path(tempfile.mkdtemp(prefix="bcftools-suite-warm-", dir=SCRATCH))
    try:
        for name, text in _WARM_FILES.items():
            (tmp / name).write_text(text)
            result = check_file(str(tmp / name), bcf, partition_records)
            if result.get("cls") != "ok" or (bcf and result.get("bcf") != "same"):
                raise RuntimeError(f"warm-up file {name} did not ingest as expected: {result}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_files(files, *, workers: int = 2, timeout: float = 60.0, bcf: bool = False, partition_records: int = 20,
              on_result=None) -> list[dict]:
    """:func:`check_file` for each file in a forked child, `workers` at a time, each within `timeout` seconds
    (``cls`` ``hang`` past it, ``crash`` when the child dies without a result). Results in `files` order."""
    warm_up(bcf, partition_records)  # compile (or load) encoders and readers once, before forking
    ctx = mp.get_context("fork")
    todo = list(enumerate(map(str, files)))
    running: dict[int, tuple] = {}
    results: dict[int, dict] = {}
    while todo or running:
        while todo and len(running) < workers:
            i, f = todo.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(f, send, bcf, partition_records))
            proc.start()
            send.close()
            running[i] = (f, proc, recv, time.monotonic())
        for i, (f, proc, recv, t0) in list(running.items()):
            result = None
            alive = proc.is_alive()
            if recv.poll():
                try:
                    result = recv.recv()
                except EOFError:
                    result = {"file": Path(f).name, "cls": "crash", "detail": "the child died without a result"}
            elif not alive:
                result = {"file": Path(f).name, "cls": "crash", "detail": f"exit code {proc.exitcode}"}
            elif time.monotonic() - t0 > timeout:
                proc.kill()
                result = {"file": Path(f).name, "cls": "hang", "detail": f"no result within {timeout:.0f} s"}
            if result is not None:
                proc.join(5)
                recv.close()
                result["seconds"] = round(time.monotonic() - t0, 2)
                results[i] = result
                del running[i]
                if on_result is not None:
                    on_result(result)
        time.sleep(0.01)
    return [results[i] for i in sorted(results)]
