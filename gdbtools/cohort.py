"""The notebook-facing API: open a cohort store, select samples and regions, compute tables.

>>> import gdbtools as gdb                                                     # doctest: +SKIP
>>> cohort = gdb.open("/data/gdb/cohorts/2026-11")                            # doctest: +SKIP
>>> sub = cohort.select(samples="population == 'nfe' and sex == 'XX'", region="chr1:1-2000000")  # doctest: +SKIP
>>> sub.freq(by=["sex", "population"])                                        # doctest: +SKIP

A :class:`Cohort` is read-only and lazy: opening reads the manifest, nothing else; each statistic reads the
blocks it needs in one pass.  :meth:`Cohort.select` returns a new cohort (selections combine with AND).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .errors import EmptySelectionError, GdbError
from .optionsets import BURDEN_TESTS
from .stats import api
from .stats.outliers import OUTLIER_METRICS, sample_outliers
from .stats.selection import Selection, intersect_regions, store_variant_table
from .store import Store

if TYPE_CHECKING:  # pandas is imported where a DataFrame is made (commands write tables without it)
    import pandas as pd

__all__ = ["Cohort", "open"]


class Cohort:
    """Samples and variants of a cohort store, with the statistics as methods.

    Parameters
    ----------
    store : Store
    selection : Selection, optional
        Default: every sample and variant.
    backend : {"auto", "numpy", "host", "cupy"}
        Default backend of the statistics (chosen once per call).

    Every statistic takes ``backend=``, ``client=`` (``None``: the current Dask client if any, ``False``:
    this process) and ``unknown_sex=`` (``"exclude"`` or ``"diploid"``) keywords, passed to
    :func:`gdbtools.stats.compute`.
    """

    def __init__(self, store: Store, selection: Selection | None = None, *, backend: str = "auto",
                 steps: tuple[str, ...] = ()):
        self.store = store
        self.selection = selection if selection is not None else Selection(store)
        self.backend = backend
        self.steps = steps  #: the select() calls that made this cohort, as written (shown by describe)

    # -- description ------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        sel = self.selection
        regions = "all variants" if sel.regions is None else ", ".join(map(str, sel.regions)) or "no variants"
        return (f"<gdbtools Cohort {str(self.store.path)!r}: {self.n_samples} of {self.store.n_samples} samples, "
                f"{regions}; build {self.store.build_name}>")

    def _repr_html_(self) -> str:  # Jupyter's view: gdbtools.views.describe
        from .views import describe

        return describe(self)._repr_html_()

    def describe(self) -> None:
        """Print the description (build, contigs, metadata values, selection, storage); HTML in Jupyter:
        display the cohort itself, or ``gdb.describe(cohort)``."""
        from .views import describe

        print(describe(self))

    @property
    def n_samples(self) -> int:
        """Selected samples."""
        return int(self.selection.samples.sum())

    @property
    def n_variants(self) -> int:
        """Selected variants (reads the variant positions)."""
        return self.selection.n_variants

    @property
    def samples(self) -> pd.DataFrame:
        """The selected rows of the sample table (sample_id, sample_index, sex, metadata)."""
        return self.store.samples[self.selection.samples]

    @property
    def variants(self) -> pd.DataFrame:
        """The selected rows of the variant table (contig, pos, ref, alt, allele_type, is_transition)."""
        return self.selection.variants

    # -- selection --------------------------------------------------------------------------------------------
    def select(self, samples=None, region=None, *, allow_empty: bool = False) -> Cohort:
        """A cohort with fewer samples and/or variants.

        Parameters
        ----------
        samples : str, sequence of sample ids, or (N,) bool, optional
            A pandas query on the sample table (``"population == 'nfe' and sex == 'XX'"``; quote column
            names with dots in backticks), a list of sample ids, or a mask over all samples of the store.
        region : str or list of str, optional
            ``"chr1:1-2000000"``, ``"X"``...; intersected with the current regions.
        allow_empty : bool
            Accept a selection of no samples or no variants (the statistics then give AN 0 or empty
            tables).  By default that raises :class:`~gdbtools.errors.EmptySelectionError`, whose message shows
            the values and contigs that exist; a region of several that selects nothing gives a
            :class:`~gdbtools.errors.SelectionWarning` either way.

        Raises
        ------
        EmptySelectionError
            No sample matches `samples`, or `region` selects no variant (contig not in the store, no
            variant in the range, no overlap with the regions selected before).
        """
        from .stats.selection_checks import check_regions, check_samples

        before = self.selection.samples
        mask = before.copy()
        if samples is not None:
            hit = self._sample_mask(samples)
            if not allow_empty:
                check_samples(self.store.samples, samples, hit, before)
            mask &= hit
        regions = self.selection.regions if region is None else intersect_regions(self.selection.regions, region)
        selection = Selection(self.store, mask, regions)
        if region is not None:
            try:
                check_regions(self.store.contigs, regions or (), None if allow_empty else
                              store_variant_table(self.store))
            except EmptySelectionError:
                if not allow_empty:
                    raise
        steps = [*self.steps]
        if samples is not None:
            steps.append(f"samples: {samples}" if isinstance(samples, str) else f"samples: {int(hit.sum()):,} given")
        if region is not None:
            steps.append(f"region: {region if isinstance(region, str) else ', '.join(map(str, region))}")
        return Cohort(self.store, selection, backend=self.backend, steps=tuple(steps))

    def _sample_mask(self, samples) -> np.ndarray:
        table = self.store.samples
        if isinstance(samples, str):
            try:
                hit = table.query(samples, engine="python")
            except Exception as exc:  # pandas raises many kinds (UndefinedVariableError, SyntaxError, ...)
                raise GdbError(f"cannot evaluate the sample query {samples!r}: {exc}",
                               fix=f"write a pandas query on the columns {', '.join(map(str, table.columns))} "
                                   "(backticks around names with dots)") from exc
            mask = np.zeros(len(table), dtype=bool)
            mask[table.index.get_indexer(hit.index)] = True
            return mask
        arr = np.asarray(samples)
        if arr.dtype == bool:
            if arr.shape != (len(table),):
                raise GdbError(f"a boolean sample mask needs {len(table)} entries, got {arr.shape}")
            return arr.copy()
        import pandas as pd

        ids = pd.Index(table["sample_id"].astype(str))
        pos = ids.get_indexer([str(x) for x in arr])
        if (pos < 0).any():
            unknown = [str(x) for x, p in zip(arr, pos) if p < 0][:5]
            raise GdbError(f"sample ids not in the store: {', '.join(unknown)}",
                           fix="check the ids against cohort.samples['sample_id']")
        mask = np.zeros(len(table), dtype=bool)
        mask[pos] = True
        return mask

    # -- statistics -------------------------------------------------------------------------------------------
    def _kw(self, kwargs: dict) -> dict:
        kwargs.setdefault("backend", self.backend)
        return kwargs

    def compute(self, **kwargs) -> api.Results:
        """Several tables in one pass: ``compute(freq=["population"], variant_qc=True, sample_qc=True)``.

        See :func:`gdbtools.stats.compute` for the arguments.
        """
        return api.compute(self.selection, **self._kw(kwargs))

    def freq(self, by=(), *, adj: bool = True, **kwargs) -> pd.DataFrame:
        """Allele frequencies (gnomAD / bcftools names) of the selection and of each group of `by`.

        Parameters
        ----------
        by : str or sequence of str (or tuples)
            Sample columns to stratify by: ``["sex", "population"]`` gives groups by sex, by population and
            by both (``AC_XX``, ``AC_nfe``, ``AC_XX_nfe``).
        adj : bool
            Counts of the adj view (genotype filters applied), with ``AC_raw``... of the whole selection.

        Returns
        -------
        DataFrame
            One row per selected variant (index ``variant_index``); ``attrs["freq_meta"]`` lists the groups.
        """
        return api.freq(self.selection, by, adj=adj, **self._kw(kwargs))

    def variant_qc(self, *, adj: bool = False, **kwargs) -> pd.DataFrame:
        """Hail's ``variant_qc`` fields, one row per selected variant."""
        return api.variant_qc(self.selection, adj=adj, **self._kw(kwargs))

    def sample_qc(self, *, adj: bool = False, **kwargs) -> pd.DataFrame:
        """Hail's ``sample_qc`` fields and the inbreeding F, one row per selected sample."""
        return api.sample_qc(self.selection, adj=adj, **self._kw(kwargs))

    def sex_check(self, *, female_max_f: float = 0.2, male_min_f: float = 0.8, y_method: str | None = None,
                  female_max_y_calls: int = 0, male_min_y_calls: int | None = None, **kwargs) -> pd.DataFrame:
        """Reported sex against chrX F (plink ``--check-sex`` thresholds), one row per selected sample.

        ``y_method="ycount"`` or ``"y-only"`` also use the chrY call counts (plink ``--check-sex ycount`` /
        ``y-only``); see :func:`gdbtools.stats.sex_check`.
        """
        kwargs.setdefault("backend", self.backend)
        return api.sex_check(self.selection, female_max_f=female_max_f, male_min_f=male_min_f, y_method=y_method,
                             female_max_y_calls=female_max_y_calls, male_min_y_calls=male_min_y_calls, **kwargs)

    def batch_check(self, by: str = "pipeline", *, adj: bool = False, fdr: float = 0.05, **kwargs) -> pd.DataFrame:
        """Variants whose allele frequency differs between the batches of sample column `by`."""
        return api.batch_check(self.selection, by, adj=adj, fdr=fdr, **self._kw(kwargs))

    def sample_outliers(self, by: str | None = None, *, metrics=OUTLIER_METRICS, n_mads: float = 4.0,
                        sample_qc: pd.DataFrame | None = None, **kwargs) -> pd.DataFrame:
        """Samples more than `n_mads` MADs from the median of their group of column `by` (gnomAD).

        `sample_qc` reuses a sample QC table of this cohort instead of computing it.
        """
        table = sample_qc if sample_qc is not None else self.sample_qc(**kwargs)
        groups = None
        if by is not None:
            if by not in self.store.samples.columns:
                raise GdbError(f"no sample column {by!r}", fix=f"use one of {', '.join(self.store.samples.columns)}")
            groups = self.store.samples[by].reindex(table.index)
        return sample_outliers(table, groups, metrics=metrics, n_mads=n_mads)

    def burden(self, phenotypes, trait: str, *, binary: bool = False, covariates=(), genes=None, masks=None,
               max_af=(0.01,), tests=BURDEN_TESTS, **kwargs) -> pd.DataFrame:
        """Gene-based rare-variant tests of `trait`: burden, SKAT, SKAT-O, ACAT-V per gene x mask x bin, and
        ACAT-O per gene (regenie / SAIGE-GENE+ vocabulary).

        Parameters
        ----------
        phenotypes : path
            TSV with a ``sample_id`` column and one column per trait or covariate.
        trait : str
            Its column; ``binary=True`` for a 0/1 trait (logistic score test with the saddle-point
            approximation), else quantitative (linear).
        covariates : sequence of str
            Covariate columns (principal components among them); an intercept is always included.
        genes : path, optional
            Gene BED (4th column = name) or GTF; default: the variant table's ``gene`` column.
        masks : path, optional
            Mask YAML; default: one mask ``all`` of every variant of a gene.
        max_af : sequence of float
            Frequency bins (AF <= each).
        tests : sequence of str
            Among ``burden, skat, skato, acatv, acato``.
        **kwargs
            ``annotations``, ``singletons``, ``score``, ``collapse_mac``, ``af_from``, ``adj``, ``allow_empty``,
            ``backend``, ``progress`` of :func:`gdbtools.burden.run.burden`.

        Returns
        -------
        DataFrame
            One row per gene x mask x bin x test (:data:`gdbtools.stats.variables.BURDEN`); ``attrs`` hold the
            null model's summary, the phenotype report (samples dropped and why), the genes without qualifying
            variants and the count of each p-value method.
        """
        from .burden.run import burden

        kwargs.setdefault("backend", self.backend)
        return burden(self.selection, phenotypes, trait, binary=binary, covariates=covariates, genes=genes,
                      masks=masks, max_af=max_af, tests=tests, **kwargs)


def open(path: str | os.PathLike, *, backend: str = "auto") -> Cohort:
    """Open a cohort store read-only as a :class:`Cohort`: reads the manifest and the sample table (what every
    selection and statistic starts from; the variant table is read when first needed)."""
    store = Store(path)
    store.sample_arrow  # noqa: B018 - read now, not inside the first statistic (bench/RESULTS.md, first / warm)
    return Cohort(store, backend=backend)
