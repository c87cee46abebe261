"""The fused pass: genotype blocks -> backend kernels -> small partials -> one reduction.

One pass over the selected blocks computes everything a request asks for.  The package, one idea a module:

- :mod:`~.plan`: :class:`Plan` (what a pass computes), :class:`BlockSpec`, :class:`Task`, :class:`PassResult`;
- :mod:`~.counts`: count derivation (kernel counts -> ``(V, G, 6)`` genotype counts by ploidy, totals,
  allele classes and variant states of sample QC);
- :mod:`~.readahead`: block decoding ahead of the compute (on the host in threads, or batched by the backend
  on its device), the buffer pool, the thread split;
- :mod:`~.device`: the plan's masks on the backend's device;
- :mod:`~.task`: one task (a run of blocks) in named steps: variant counts, HWE, sample counts, F sums;
- :mod:`~.schedule`: the pass in this process or as named Dask tasks, and the reduction.

Partials are small: per-variant rows (G x 6 integers) and per-sample vectors ``(N, C, 3)``.  Memory is
bounded by the block size (plus the read-ahead) and the partials.  Integer results are identical on every
backend (the kernels are exact, the weighted sums fixed point).
"""

from .counts import (
                     ATYPE_NAMES,
                     COUNT_FIELDS,
                     DEL,
                     F_ZONES,
                     HAP_ALT,
                     HAP_REF,
                     HET,
                     HOM,
                     INS,
                     MISSING,
                     OTHER_TYPE,
                     REF,
                     STAR,
                     STATE_MONO,
                     STATE_POLY,
                     STATE_SINGLETON,
                     TI,
                     TV,
                     allele_classes,
                     derive_counts,
                     genotype_totals,
                     variant_states,
)
from .plan import BlockSpec, PassResult, Plan, Task
from .readahead import (
                        DECODE_BATCH,
                        READ_AHEAD,
                        BackendBlockReader,
                        BlockReader,
                        BufferPool,
                        decode_block,
                        open_store_cached,
                        thread_split,
                        use_backend_decode,
)
from .schedule import TASK_VARIANTS, resolve_backend, run_pass, split_tasks
from .task import TaskRun, run_task

__all__ = ["REF", "HET", "HOM", "HAP_REF", "HAP_ALT", "MISSING", "COUNT_FIELDS", "ATYPE_NAMES", "TI", "TV", "INS",
           "DEL", "STAR", "OTHER_TYPE", "allele_classes", "variant_states", "Plan", "BlockSpec", "Task",
           "PassResult", "run_pass", "run_task", "TaskRun", "resolve_backend", "derive_counts",
           "genotype_totals", "thread_split", "F_ZONES", "STATE_POLY", "STATE_SINGLETON", "STATE_MONO",
           "READ_AHEAD", "BlockReader", "BufferPool", "decode_block", "open_store_cached", "TASK_VARIANTS",
           "split_tasks", "DECODE_BATCH", "BackendBlockReader", "use_backend_decode"]
