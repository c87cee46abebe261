"""``gdbtools burden``: gene-based rare-variant tests of one trait on a cohort store.

The options come from :class:`gdbtools.optionsets.BurdenOptions`, the table is written by
:func:`gdbtools.outputs.write_burden` (the pipeline's ``burden`` step calls the same function).
"""

from __future__ import annotations

import time

import click

from ..options import click_options, from_kwargs
from ..optionsets import BurdenOptions
from . import main


@main.command("burden")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output .parquet or .tsv(.gz).")
@click.option("--overwrite", is_flag=True, help="Replace an existing result at --out (whole: nothing of the "
              "earlier one remains).")
@click_options(BurdenOptions)
def burden_cmd(store, out, overwrite, **kwargs):
    """Burden, SKAT, SKAT-O, ACAT-V per gene x mask x frequency bin, and ACAT-O per gene.

    \b
    Examples:
      gdbtools burden store/ --phenotypes pheno.tsv --trait ldl --covariates age,sex,PC1,PC2 \\
          --genes genes.bed --max-af 0.01 --max-af 0.001 --out ldl.parquet
      gdbtools burden store/ --phenotypes pheno.tsv --trait t2d --binary --masks masks.yaml \\
          --annotations anno.tsv --tests burden,skato,acato --samples "population == 'nfe'" --out t2d.tsv
    \b
    The phenotype TSV has a sample_id column and one column per trait or covariate. One row per gene x
    mask x bin x test (gene, mask, bin, max_af, test, n_variants, n_carriers, mac, beta, se, stat, p,
    p_method, rho) and one ACAT-O row per gene (mask and bin '*'). A mask x bin without qualifying variants
    is listed with n_variants 0 and p NaN. The metadata (Parquet schema, or <out>.meta.json for TSV) holds
    the null model (n, cases/controls, covariates), the samples dropped and why (not in the store, not in
    the file, missing values), the genes without qualifying variants, the p-value methods used, and the
    provenance. An existing --out is refused unless --overwrite.
    """
    from ..outputs import open_selection, write_burden

    opts = from_kwargs(BurdenOptions, kwargs)
    t0 = time.perf_counter()
    res = write_burden(open_selection(store, opts), opts, out, overwrite=overwrite)
    cc = f", {res['n_cases']} cases / {res['n_controls']} controls" if res.get("n_cases") is not None else ""
    best = f"; smallest p {res['min_p']:.3g} ({res['min_p_gene']})" if res["min_p"] is not None else ""
    click.echo(f"{res['n_genes']} genes, {res['n_rows']} rows ({res['n_samples']} samples{cc}) -> {out} in "
               f"{time.perf_counter() - t0:.1f} s{best}")
    if res["n_genes_without_qualifying_variants"]:
        click.secho(f"{res['n_genes_without_qualifying_variants']} genes have no qualifying variant in any mask x "
                    "bin (listed with n_variants 0; see the metadata)", fg="yellow", err=True)
