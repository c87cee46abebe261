"""Functional annotations in INFO (VEP ``CSQ``, bcftools ``BCSQ``, snpEff ``ANN``) -> gene and consequence.

For each split (biallelic) row the entries of its own alternate allele are kept and the most severe
consequence among them wins (Ensembl's severity order, as gnomAD's ``most_severe_consequence``); ``gene`` is
the gene of that entry and ``impact`` its VEP impact class (HIGH, MODERATE, LOW, MODIFIER).

Allele matching: VEP writes alleles without the shared leading base (``-`` for a deletion) unless
``ALLELE_NUM`` is present, which is then used; snpEff writes the ALT as in the VCF; bcftools/csq writes one
consequence list per record (haplotype-aware), which is given to every alternate allele of the record.
"""

from __future__ import annotations

import re

__all__ = ["SEVERITY", "IMPACT", "AnnotationParser", "vep_alleles"]

# Ensembl VEP consequence terms, most severe first (https://www.ensembl.org/info/genome/variation/prediction/
# predicted_data.html), with their impact class.
_TERMS = """
transcript_ablation HIGH
splice_acceptor_variant HIGH
splice_donor_variant HIGH
stop_gained HIGH
frameshift_variant HIGH
stop_lost HIGH
start_lost HIGH
transcript_amplification HIGH
feature_elongation MODIFIER
feature_truncation MODIFIER
inframe_insertion MODERATE
inframe_deletion MODERATE
missense_variant MODERATE
protein_altering_variant MODERATE
splice_donor_5th_base_variant LOW
splice_region_variant LOW
splice_donor_region_variant LOW
splice_polypyrimidine_tract_variant LOW
incomplete_terminal_codon_variant LOW
start_retained_variant LOW
stop_retained_variant LOW
synonymous_variant LOW
coding_sequence_variant MODIFIER
mature_miRNA_variant MODIFIER
5_prime_UTR_variant MODIFIER
3_prime_UTR_variant MODIFIER
non_coding_transcript_exon_variant MODIFIER
intron_variant MODIFIER
NMD_transcript_variant MODIFIER
non_coding_transcript_variant MODIFIER
coding_transcript_variant MODIFIER
upstream_gene_variant MODIFIER
downstream_gene_variant MODIFIER
TFBS_ablation MODIFIER
TFBS_amplification MODIFIER
TF_binding_site_variant MODIFIER
regulatory_region_ablation MODIFIER
regulatory_region_amplification MODIFIER
regulatory_region_variant MODIFIER
intergenic_variant MODIFIER
sequence_variant MODIFIER
"""
SEVERITY: dict[str, int] = {}
IMPACT: dict[str, str] = {}
for _rank, _line in enumerate(_TERMS.split()[::2]):
    SEVERITY[_line] = _rank
IMPACT = dict(zip(_TERMS.split()[::2], _TERMS.split()[1::2]))

# snpEff and bcftools/csq spellings -> SO terms
_SYNONYMS = {
    "missense": "missense_variant", "synonymous": "synonymous_variant", "stop_gained": "stop_gained",
    "stop_lost": "stop_lost", "start_lost": "start_lost", "frameshift": "frameshift_variant",
    "inframe_insertion": "inframe_insertion", "inframe_deletion": "inframe_deletion",
    "inframe_altering": "protein_altering_variant", "splice_acceptor": "splice_acceptor_variant",
    "splice_donor": "splice_donor_variant", "splice_region": "splice_region_variant",
    "stop_retained": "stop_retained_variant", "start_retained": "start_retained_variant",
    "5_prime_utr": "5_prime_UTR_variant", "3_prime_utr": "3_prime_UTR_variant", "intron": "intron_variant",
    "non_coding": "non_coding_transcript_variant", "coding_sequence": "coding_sequence_variant",
    "feature_elongation": "feature_elongation", "intergenic": "intergenic_variant",
    "exon_loss_variant": "transcript_ablation", "disruptive_inframe_deletion": "inframe_deletion",
    "disruptive_inframe_insertion": "inframe_insertion", "conservative_inframe_deletion": "inframe_deletion",
    "conservative_inframe_insertion": "inframe_insertion", "5_prime_UTR_premature_start_codon_gain_variant":
    "5_prime_UTR_variant", "intragenic_variant": "intron_variant", "intergenic_region": "intergenic_variant",
    "non_coding_exon_variant": "non_coding_transcript_exon_variant", "non_coding_transcript_exon_variant":
    "non_coding_transcript_exon_variant", "initiator_codon_variant": "start_retained_variant",
    "upstream_gene_variant": "upstream_gene_variant", "downstream_gene_variant": "downstream_gene_variant",
}
_UNKNOWN = len(SEVERITY)


def _normalise(term: str) -> str:
    term = term.strip().lstrip("*")
    return term if term in SEVERITY else _SYNONYMS.get(term, _SYNONYMS.get(term.lower(), term))


def _severity(term: str) -> int:
    return SEVERITY.get(term, _UNKNOWN)


def vep_alleles(ref: str, alts: list[str]) -> list[str]:
    """The allele strings VEP writes in CSQ for each ALT (first base trimmed when all alleles share it)."""
    if all(a and a[0] == ref[0] for a in alts) and any(len(a) != len(ref) for a in alts) and not any(
            a.startswith("<") or a == "*" for a in alts):
        return [a[1:] or "-" for a in alts]
    return list(alts)


def _format_fields(description: str) -> list[str]:
    match = re.search(r"Format:\s*'?([^'\"]+)'?", description or "")
    if not match:
        return []
    return [f.strip() for f in match.group(1).split("|")]


class AnnotationParser:
    """Parse one annotation INFO field into per-alt ``(gene, consequence, impact)`` tuples."""

    def __init__(self, key: str, description: str):
        self.key = key
        self.kind = {"CSQ": "vep", "vep": "vep", "ANN": "snpeff", "BCSQ": "bcsq"}.get(key, "vep")
        fields = _format_fields(description)
        lower = [f.lower() for f in fields]

        def col(*names):
            for name in names:
                if name.lower() in lower:
                    return lower.index(name.lower())
            return None

        if self.kind == "bcsq":
            self.i_cons, self.i_gene, self.i_allele, self.i_num = 0, 1, None, None
        elif self.kind == "snpeff":
            self.i_allele = col("Allele") if fields else 0
            self.i_cons = col("Annotation") if fields else 1
            self.i_gene = col("Gene_Name") if fields else 3
            self.i_num = None
        else:
            self.i_allele, self.i_cons = col("Allele"), col("Consequence")
            self.i_gene, self.i_num = col("SYMBOL", "Gene"), col("ALLELE_NUM")
        if self.i_cons is None:
            raise ValueError(f"INFO/{key} has no Consequence/Annotation field in its Format description")

    def parse(self, value, ref: str, alts: list[str]) -> list[tuple[str | None, str | None, str | None]]:
        """Per alternate allele: ``(gene, most severe consequence, impact)``; ``None`` where nothing matches."""
        out: list[list] = [[None, None, _UNKNOWN + 1] for _ in alts]
        if value is None:
            return [(None, None, None)] * len(alts)
        entries = value.split(",") if isinstance(value, str) else list(value)
        match_alleles = vep_alleles(ref, alts) if self.kind == "vep" else alts
        for entry in entries:
            parts = entry.split("|")
            if self.i_cons >= len(parts):
                continue
            targets: list[int]
            if self.kind == "bcsq":
                targets = list(range(len(alts)))
            elif self.i_num is not None and self.i_num < len(parts) and parts[self.i_num].isdigit():
                targets = [int(parts[self.i_num]) - 1]
            elif self.i_allele is not None and self.i_allele < len(parts):
                allele = parts[self.i_allele]
                targets = [i for i, a in enumerate(match_alleles) if a == allele]
                if not targets and len(alts) == 1:
                    targets = [0]
            else:
                targets = list(range(len(alts)))
            terms = [_normalise(t) for t in re.split(r"[&+]", parts[self.i_cons]) if t]
            if not terms:
                continue
            best = min(terms, key=_severity)
            gene = parts[self.i_gene] if self.i_gene is not None and self.i_gene < len(parts) else None
            for t in targets:
                if 0 <= t < len(alts) and _severity(best) < out[t][2]:
                    out[t] = [gene or None, best, _severity(best)]
        return [(g, c, IMPACT.get(c) if c else None) for g, c, _ in out]
