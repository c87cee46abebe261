"""Statistics on a cohort store: allele frequencies, variant and sample QC, sex check, outliers, batches.

Reads blocks through :mod:`gdbtools.store`, computes through :mod:`gdbtools.backend`, returns pandas
DataFrames whose columns are declared in :mod:`gdbtools.stats.variables`.  Knows no CLI and no cluster kind:
it runs on the current Dask client if there is one.

- :mod:`~gdbtools.stats.engine`: the fused pass (blocks -> kernels -> partials -> reduce), a package;
- :mod:`~gdbtools.stats.selection`: samples, regions and groups a statistic runs on;
- :mod:`~gdbtools.stats.ploidy`: ploidy zones (PARs, sex);
- :mod:`~gdbtools.stats.freq`: frequency table, faf, grpmax;
- :mod:`~gdbtools.stats.variant_qc`, :mod:`~gdbtools.stats.sample_qc`, :mod:`~gdbtools.stats.sex_check`,
  :mod:`~gdbtools.stats.outliers`, :mod:`~gdbtools.stats.batch_check`: one table each
  (:mod:`~gdbtools.stats.qc` re-exports them);
- :mod:`~gdbtools.stats.progress`: progress of a pass;
- :mod:`~gdbtools.stats.api`: the functions below.

Conventions and their sources: ``docs/STATISTICS.md``.
"""

from .api import Results, batch_check, compute, freq, sample_qc, sex_check, variant_qc
from .batch_check import benjamini_hochberg, fisher_exact_two_sided
from .freq import GRPMAX_EXCLUDE, filtering_allele_frequency, freq_meta
from .outliers import OUTLIER_METRICS, sample_outliers
from .selection import Group, Selection, build_groups

__all__ = ["Selection", "Group", "build_groups", "Results", "compute", "freq", "variant_qc", "sample_qc",
           "sex_check", "batch_check", "sample_outliers", "freq_meta", "filtering_allele_frequency",
           "fisher_exact_two_sided", "benjamini_hochberg", "GRPMAX_EXCLUDE", "OUTLIER_METRICS"]
