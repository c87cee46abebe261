"""The block-decoding sections of the device check (``bench/gpu_check.py``): host steps, and the backend's.

- ``io_split``: read, host decode and host-to-device transfer of every block, each timed alone;
- ``parity``: every block of a ``hybrid2`` and a ``dense2`` store decoded by ``Backend.decode_blocks``
  (:data:`~gdbtools.stats.engine.readahead.DECODE_BATCH` blocks a call, as the pass does) equals
  ``Store.read_block`` (zstd on the host) byte for byte: planes, sparse rows, dtypes;
- ``throughput``: all blocks of the pass's store, their frames read into memory first, decoded batch after
  batch and the device synchronised at the end (host packing into pinned memory, upload, nvCOMP, the frame ->
  plane copies): blocks/s and GB/s of compressed and of decompressed bytes, the latter against the measured
  device-to-device copy bandwidth (a decode writes its output once and reads it once more to rearrange it).

On the ``cupy`` backend this is nvCOMP on the GPU (``decode_fallback`` says why not, when it is not); without a
device the check runs it on the ``host`` backend's twin, so CI exercises the section up to the device.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gdbtools.backend import get_backend
from gdbtools.stats.engine.readahead import DECODE_BATCH

__all__ = ["io_split", "parity", "throughput", "run", "summary_lines"]


def io_split(store, on_device: bool) -> dict:
    """Read, decode and host-to-device transfer of every block, each timed alone (single thread)."""
    from gdbtools.store.format import decode_block

    paths = [store.path / b["path"] for b in store.blocks_meta]
    t0 = time.perf_counter()
    data = [p.read_bytes() for p in paths]
    t_read = time.perf_counter() - t0
    compressed = sum(len(d) for d in data)
    t_decode, t_h2d, decoded = 0.0, 0.0, 0
    cp: Any = None
    if on_device:
        import cupy

        cp = cupy
    for d, p in zip(data, paths):
        t1 = time.perf_counter()
        _, planes, sparse = decode_block(d, p)
        t_decode += time.perf_counter() - t1
        arrays = list(planes.values()) + ([] if sparse is None else [sparse.rows, sparse.ptr, sparse.sample,
                                                                      sparse.code])
        decoded += sum(a.nbytes for a in arrays)
        if cp is not None:
            t2 = time.perf_counter()
            moved = [cp.asarray(a) for a in arrays]
            cp.cuda.Stream.null.synchronize()
            t_h2d += time.perf_counter() - t2
            del moved
    res = {"blocks": len(paths), "compressed_MB": round(compressed / 1e6, 1), "decoded_MB": round(decoded / 1e6, 1),
           "read_s": round(t_read, 3), "read_GB_per_s": round(compressed / t_read / 1e9, 2),
           "decode_s": round(t_decode, 3), "decode_GB_per_s_out": round(decoded / t_decode / 1e9, 2)}
    if cp is not None:
        res.update({"h2d_s": round(t_h2d, 3), "h2d_GB_per_s": round(decoded / t_h2d / 1e9, 2)})
    return res


def _differences(be, store, index: int, decoded) -> list[str]:
    ref = store.read_block(index)
    out = []
    for name, want in (("lo", ref.dense_lo), ("hi", ref.dense_hi), ("fail", ref.dense_fail)):
        got = decoded.planes.get(name)
        if (got is None) != (want is None) or (want is not None and not _same(be.to_host(got), want)):
            out.append(f"block {index} plane {name}")
    if ref.sparse is not None or (decoded.sparse is not None and decoded.sparse.n_rows):
        for name in ("rows", "ptr", "sample", "code", "row"):
            if ref.sparse is None or decoded.sparse is None or not _same(be.to_host(getattr(decoded.sparse, name)),
                                                                         getattr(ref.sparse, name)):
                out.append(f"block {index} sparse {name}")
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def parity(be, stores: dict) -> dict:
    """Every block of each store decoded by `be` against ``Store.read_block``: ``{store: differences}``."""
    res = {}
    for label, store in stores.items():
        n = len(store.blocks_meta)
        problems: list[str] = []
        for start in range(0, n, DECODE_BATCH):
            indices = list(range(start, min(n, start + DECODE_BATCH)))
            batch = be.decode_blocks([store.read_block_frames(i) for i in indices])
            for i, decoded in zip(indices, batch.blocks):
                problems += _differences(be, store, i, decoded)
            batch.release()
        res[label] = {"blocks": n, "encoding": store.blocks_meta[0]["encoding"], "differences": problems[:10],
                      "equal": not problems}
    return res


def throughput(be, store, repeat: int = 3) -> dict:
    """Decode every block of `store` (frames in memory), best of `repeat`; bytes and rates."""
    frames = [store.read_block_frames(i) for i in range(len(store.blocks_meta))]
    chunks = [frames[i:i + DECODE_BATCH] for i in range(0, len(frames), DECODE_BATCH)]
    compressed = sum(f.data.shape[0] + (0 if f.sparse is None else f.sparse.shape[0]) for f in frames)
    raw = sum(f.raw_dense_bytes + f.raw_sparse_bytes for f in frames)
    sync = (lambda: be.xp.cuda.Device().synchronize()) if be.on_device else (lambda: None)
    be.decode_blocks(chunks[0]).release()  # warm-up: buffers, nvCOMP's set-up
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for chunk in chunks:
            be.decode_blocks(chunk).release()
        sync()
        best = min(best, time.perf_counter() - t0)
    return {"blocks": len(frames), "batch": DECODE_BATCH, "seconds": round(best, 4),
            "blocks_per_s": round(len(frames) / best, 1), "compressed_MB": round(compressed / 1e6, 1),
            "decompressed_MB": round(raw / 1e6, 1), "compressed_GB_per_s": round(compressed / best / 1e9, 2),
            "decompressed_GB_per_s": round(raw / best / 1e9, 2)}


def run(backend: str, stores: dict, pass_store, d2d_GB_per_s: float | None = None) -> dict:
    """Parity on `stores` and throughput on `pass_store` with the named backend."""
    be = get_backend(backend)
    res: dict = {"backend": backend, "parity": parity(be, stores)}
    res["decode_fallback"] = getattr(be, "decode_fallback", None)  # the cupy backend: why on the host, if so
    res["on_device"] = bool(be.on_device) and res["decode_fallback"] is None
    res["throughput"] = throughput(be, pass_store)
    if d2d_GB_per_s:
        res["throughput"]["of_d2d"] = round(res["throughput"]["decompressed_GB_per_s"] / d2d_GB_per_s, 3)
    # on a GPU the decode must have run there: a fallback to the host (nvCOMP missing or failing) fails the step
    res["ok"] = all(p["equal"] for p in res["parity"].values()) and (res["on_device"] or not be.on_device)
    return res


def summary_lines(d: dict) -> list[str]:
    """Markdown lines of the section for ``summary.md``."""
    where = ("on the GPU, nvCOMP batched zstd" if d.get("on_device") else
             f"on the host: {d['decode_fallback']}" if d.get("decode_fallback") else "its host twin")
    par = "; ".join(f"{k} ({v['encoding']}, {v['blocks']} blocks): {'equal' if v['equal'] else 'DIFFERENT'}"
                    for k, v in d["parity"].items())
    t = d["throughput"]
    of = f", {t['of_d2d']:.0%} of the copy bandwidth" if t.get("of_d2d") is not None else ""
    return ["", f"Block decoding by the backend ({d['backend']}, {where}), {t['batch']} blocks a call:", "",
            f"- byte for byte against the host decode: {par}",
            f"- throughput: {t['blocks']} blocks in {t['seconds']} s = {t['blocks_per_s']} blocks/s, "
            f"{t['compressed_GB_per_s']} GB/s compressed ({t['compressed_MB']} MB), {t['decompressed_GB_per_s']} "
            f"GB/s decompressed ({t['decompressed_MB']} MB){of}"]
