"""Scheduling a pass: in this process, or as named Dask tasks with a tree reduction of the per-sample partials.

Without a client the blocks are one task run here.  With one, tasks are runs of consecutive blocks of about
:data:`TASK_VARIANTS` variants, keyed ``gdbtools-<pass>-blocks-<token>-<i>`` (the dashboard groups them as
``gdbtools-freq-blocks``...); the per-sample partials are summed in a tree on the workers
(``gdbtools-<pass>-samples-sum``) and only the per-variant rows come back whole.
"""

from __future__ import annotations

import uuid

import numpy as np

from ...backend import get_backend
from ...errors import GdbError
from ...progress import Progress
from .plan import BlockSpec, PassResult, Plan, Task
from .task import run_task

__all__ = ["TASK_VARIANTS", "run_pass", "resolve_backend", "split_tasks"]

TASK_VARIANTS = 65_536  # variants per Dask task (whole blocks)


def _resolve_here(name: str) -> str:
    return get_backend(name).name


def resolve_backend(name: str = "auto", client=None) -> str:
    """The backend name a pass uses: ``"auto"`` resolved once (on a worker when a client is given)."""
    if name not in ("auto", "numpy", "host", "cupy"):
        raise GdbError(f"unknown backend {name!r}", fix="use auto, numpy, host or cupy")
    if client is not None:
        return client.submit(_resolve_here, name, pure=False, key=f"gdbtools-backend-{uuid.uuid4().hex}").result()
    return _resolve_here(name)


def split_tasks(specs: list[BlockSpec], zone: np.ndarray, atype: np.ndarray, per_task: int) -> list[Task]:
    """Runs of whole blocks of about `per_task` variants (at least one block each)."""
    tasks: list[Task] = []
    cur: list[BlockSpec] = []
    start = count = 0
    row = 0
    for spec in specs:
        nv = spec.stop - spec.start
        if cur and count + nv > per_task:
            tasks.append(Task(cur, zone[start:row], atype[start:row]))
            cur, start, count = [], row, 0
        cur.append(spec)
        count += nv
        row += nv
    if cur:
        tasks.append(Task(cur, zone[start:row], atype[start:row]))
    return tasks


def _merge_samples(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    out = {}
    for key in a:
        if key == "filtered" and (a[key] is None or b[key] is None):
            out[key] = a[key] if b[key] is None else b[key]
        else:
            out[key] = a[key] + b[key]
    return out


def _samples_of(part: dict):
    return part["samples"]


def _strip_samples(part: dict) -> dict:
    return {k: v for k, v in part.items() if k != "samples"}


def _run_dask(client, plan: Plan, tasks: list[Task], name: str, bar: Progress) -> tuple[list, dict | None]:
    """Tasks on `client`: ``(per-variant partials in task order, summed per-sample partials)``."""
    from distributed import as_completed

    token = uuid.uuid4().hex
    prefix = f"gdbtools-{name}"
    scattered = client.scatter(plan, broadcast=True, hash=False)
    futures = client.map(run_task, [scattered] * len(tasks), tasks, pure=False,
                         key=[f"{prefix}-blocks-{token}-{i}" for i in range(len(tasks))])
    sizes = {f.key: sum(s.stop - s.start for s in t.blocks) for f, t in zip(futures, tasks)}
    sample_futs = [client.submit(_samples_of, f, pure=False, key=f"{prefix}-samples-{token}-{i}")
                   for i, f in enumerate(futures)]
    level = 0
    while len(sample_futs) > 1:  # tree reduction of the per-sample partials on the workers
        nxt = [client.submit(_merge_samples, sample_futs[i], sample_futs[i + 1], pure=False,
                             key=f"{prefix}-samples-sum-{token}-{level}-{i}")
               for i in range(0, len(sample_futs) - 1, 2)]
        if len(sample_futs) % 2:
            nxt.append(sample_futs[-1])
        sample_futs = nxt
        level += 1
    stripped = [client.submit(_strip_samples, f, pure=False, key=f"{prefix}-rows-{token}-{i}")
                for i, f in enumerate(futures)]
    for fut in as_completed(futures):
        bar.update(sizes[fut.key])
    variant_parts = client.gather(stripped)
    samples = sample_futs[0].result() if sample_futs else None
    return variant_parts, samples


def run_pass(plan: Plan, specs: list[BlockSpec], zone: np.ndarray, atype: np.ndarray, *, client=None,
             task_variants: int | None = None, name: str = "stats", progress: bool = True) -> PassResult:
    """Run `plan` over the blocks `specs` (rows aligned with `zone`/`atype`), locally or on `client`.

    Parameters
    ----------
    specs : list of BlockSpec
    zone, atype : (V,) uint8
        Zone and allele type of every selected row, in the order of `specs`.
    client : distributed.Client or None
        Run as Dask tasks on it (tasks of about `task_variants` variants, default :data:`TASK_VARIANTS`);
        ``None``: in this process.
    name : str
        The pass's name in task keys and progress (``"freq"``, ``"qc"``, ``"sex-check"``).
    progress : bool
        Show progress (:class:`gdbtools.progress.Progress`).
    """
    with Progress(name, int(zone.shape[0]), enabled=progress) as bar:
        if client is None:
            part = run_task(plan, Task(specs, zone, atype), bar.update)
            variant_parts, samples = [part], part["samples"]
        else:
            tasks = split_tasks(specs, zone, atype, task_variants or TASK_VARIANTS)
            variant_parts, samples = _run_dask(client, plan, tasks, name, bar)
    return _reduce(plan, variant_parts, samples)


def _reduce(plan: Plan, variant_parts: list[dict], samples: dict | None) -> PassResult:
    """Concatenate the per-variant partials (task order) into a :class:`PassResult`."""
    counts = {}
    for view, groups in plan.keep.items():
        if groups:
            arrays = [p["counts"][view] for p in variant_parts]
            counts[view] = np.concatenate(arrays) if arrays else np.zeros((0, len(groups), 6), np.int32)
    hwe = None
    if plan.hwe_view is not None:
        hwe = np.concatenate([p["hwe"] for p in variant_parts]) if variant_parts else np.zeros((0, 4))
    index = np.concatenate([p["index"] for p in variant_parts]) if variant_parts else np.zeros(0, np.int64)
    has_adj = any(p["has_adj"] for p in variant_parts)
    timers: dict[str, float] = {}
    for p in variant_parts:
        for key, value in p["timers"].items():
            timers[key] = timers.get(key, 0.0) + value
    if samples is None:
        return PassResult(index, counts, hwe, None, None, None, None, 0, has_adj, plan.backend, timers)
    return PassResult(index, counts, hwe, samples["class_counts"], samples["class_sizes"], samples["filtered"],
                      samples["wmiss"], int(samples["wtotal"]), has_adj, plan.backend, timers)
