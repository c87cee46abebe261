"""Declared pipelines: inputs, steps and outputs in one YAML file, run with ``gdbtools run pipeline.yaml``.

::

    version: 1
    name: cohort-2026-11
    inputs:
      vcf: [incoming/2026-11/*.vcf.gz]            # files or globs (relative to this file), or a list
      metadata: incoming/2026-11/samples.tsv
    outputs:
      store: cohorts/2026-11                       # written by the ingest step
      dir: results/2026-11                         # the steps' results, runs/ (records) and state/
    steps:
      - kind: ingest
        partition_by: contig
      - verify
      - kind: freq
        by: [population]
      - kind: qc
    cluster:                                       # optional: the Dask cluster the steps run on
      kind: local
      n_workers: 4

In Python: ``gdbtools.pipeline.run("pipeline.yaml")`` (or a dict of the same content). The whole file is
validated before anything runs (:func:`load`); a step runs only when its inputs (checksums), parameters or
outputs changed (:mod:`.runner`); every run writes a record under ``<workdir>/runs/`` (:mod:`.record`). The
step kinds are a plain table (:data:`.steps.STEPS`: kind -> options dataclass and function); a step's
parameters are the options of the command of the same name (:mod:`gdbtools.optionsets`, docs/OPTIONS.md).
``gdbtools run --list-steps`` lists them; examples/pipeline.yaml documents every key.
"""

from __future__ import annotations

from .errors import PipelineBusy, PipelineError, PipelineInvalid, Problem, RunInterrupted, StepFailed
from .runner import RunResult, StepContext, run
from .spec import Pipeline, StepSpec, load
from .steps import STEPS, StepKind, known_kinds

__all__ = ["run", "load", "STEPS", "StepKind", "StepContext", "known_kinds", "Pipeline",
           "StepSpec", "RunResult", "PipelineError", "PipelineInvalid", "Problem", "StepFailed",
           "RunInterrupted", "PipelineBusy"]
