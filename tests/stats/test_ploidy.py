"""Ploidy zones at the PAR boundaries of GRCh37, GRCh38 and NCBI36, and the ploidy table (gnomAD's rules).

Oracle: the PAR coordinates published by the Genome Reference Consortium (UCSC/NCBI assembly pages),
written here independently of gdbtools.genome; exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdbtools.genome import get_build
from gdbtools.stats import ploidy as pl

# (build, chrX PAR1 end, chrX PAR2 start, chrY PAR1 end, chrY PAR2 start), 1-based inclusive
PARS = [
    ("GRCh37", 2_699_520, 154_931_044, 2_649_520, 59_034_050),
    ("GRCh38", 2_781_479, 155_701_383, 2_781_479, 56_887_903),
    ("NCBI36", 2_709_520, 154_584_238, 2_709_520, 57_443_438),
]


@pytest.mark.parametrize("build, x1_end, x2_start, y1_end, y2_start", PARS)
def test_variant_zones__par_boundaries_of_each_build(build, x1_end, x2_start, y1_end, y2_start):
    contigs = ["chrX", "X", "chrX", "X", "chrY", "Y", "Y", "chrM", "MT", "chr1", "22", "chrUn_gl000220", "23"]
    pos = [x1_end, x1_end + 1, x2_start - 1, x2_start, y1_end, y1_end + 1, y2_start, 100, 100, 5, 5, 5, x2_start]
    want = [pl.X_PAR, pl.X_NONPAR, pl.X_NONPAR, pl.X_PAR, pl.Y_PAR, pl.Y_NONPAR, pl.Y_PAR, pl.MT, pl.MT, pl.AUTO,
            pl.AUTO, pl.OTHER, pl.X_PAR]
    got = pl.variant_zones(np.array(contigs, dtype=object), np.array(pos), get_build(build))
    np.testing.assert_array_equal(got, want)


def test_variant_zones__no_build_means_no_par():
    got = pl.variant_zones(np.array(["X", "Y", "1"], dtype=object), np.array([100_000, 100_000, 1]), None)
    np.testing.assert_array_equal(got, [pl.X_NONPAR, pl.Y_NONPAR, pl.AUTO])


def test_ploidy_table__gnomad_rules_and_unknown_sex_policies():
    t = pl.ploidy_table("exclude")
    d, h, e = pl.DIPLOID, pl.HAPLOID, pl.EXCLUDED
    assert t[pl.X_NONPAR].tolist() == [d, h, e] and t[pl.Y_NONPAR].tolist() == [e, h, e]
    assert t[pl.Y_PAR].tolist() == [e, d, e] and t[pl.MT].tolist() == [h, h, h]
    assert t[pl.AUTO].tolist() == t[pl.X_PAR].tolist() == [d, d, d]
    assert pl.ploidy_table("diploid")[pl.X_NONPAR].tolist() == [d, h, d]
    with pytest.raises(ValueError):
        pl.ploidy_table("guess")


def test_sex_part__labels_and_missing_values():
    import pandas as pd

    got = pl.sex_part(pd.Series(["XX", "XY", None, "XY"], dtype="string"))
    np.testing.assert_array_equal(got, [0, 1, 2, 1])
