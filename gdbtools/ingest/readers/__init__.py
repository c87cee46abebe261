"""Readers of VCF/BCF records for ingest: the fast readers, and the one place that picks them or htslib.

Modules (each looks only at those listed before it; none but :mod:`.select` knows of htslib/cyvcf2):

- :mod:`.errors`: :class:`FastPathUnsupported` (fall back to htslib), :class:`SiteParseError`
- :mod:`.header`: read and check a VCF/BCF header (:func:`read_header`, :class:`VcfHeader`, ``##`` lines)
- :mod:`.bgzf`: BGZF blocks: walking, libdeflate inflation, CRC checks, a prefetch thread, batches
- :mod:`.index`: .tbi/.csi indexes: find one for a file, where a region query starts
- :mod:`.kernels`: what the numba kernels share: status codes, reasons, byte values, genotype stores
- :mod:`.vcf_kernels`, :mod:`.bcf_kernels`: numba kernels: VCF text lines / BCF records -> cyvcf2's layout
- :mod:`.base`: what both fast readers share (region queries, batching, records)
- :mod:`.vcf`, :mod:`.bcf`: the fast readers of BGZF VCF text and of BCF 2.2
- :mod:`.fast`: open the fast reader that fits a file
- :mod:`.select`: :func:`open_reader`: fast or htslib (:mod:`gdbtools.ingest.htslib`), and why
"""
