"""The gene model the counter needs, as typed records (parsed from GTF elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gene:
    """One gene: its exons (0-based, half-open, sorted and merged) on one strand."""

    gene_id: str
    gene_name: str
    gene_type: str
    chrom: str
    strand: str  # "+" or "-"
    exons: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]


@dataclass
class GeneModel:
    """All genes of one annotation, in GTF order, with a checksum of the source."""

    genes: list[Gene]
    source_checksum: str = ""
    name: str = ""

    @property
    def gene_ids(self) -> list[str]:
        return [g.gene_id for g in self.genes]
