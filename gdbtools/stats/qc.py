"""The QC tables, re-exported from their modules (one table a module).

- :mod:`~gdbtools.stats.variant_qc`: :func:`variant_qc_table`;
- :mod:`~gdbtools.stats.sample_qc`: :func:`sample_qc_table`;
- :mod:`~gdbtools.stats.sex_check`: :func:`sex_check_table`, :func:`infer_sex`;
- :mod:`~gdbtools.stats.outliers`: :func:`sample_outliers`;
- :mod:`~gdbtools.stats.batch_check`: :func:`batch_check_table`, :func:`fisher_exact_two_sided`,
  :func:`benjamini_hochberg`.
"""

from .batch_check import batch_check_table, benjamini_hochberg, fisher_exact_two_sided
from .outliers import MAD_SCALE, OUTLIER_METRICS, sample_outliers
from .sample_qc import sample_qc_table
from .sex_check import Y_METHODS, infer_sex, sex_check_table
from .variant_qc import variant_qc_table

__all__ = ["variant_qc_table", "sample_qc_table", "sex_check_table", "infer_sex", "sample_outliers",
           "batch_check_table", "fisher_exact_two_sided", "benjamini_hochberg", "OUTLIER_METRICS", "Y_METHODS",
           "MAD_SCALE"]
