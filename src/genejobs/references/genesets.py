"""Gene sets kept with a fetched reference: GO (propagated up its graph) and Reactome.

Both are written once, at fetch, as GMT files (``<id> <name>``, description, genes),
so a job's enrichment reads plain gene sets and never downloads or parses the ontology.

- GO: ``go-basic.obo`` read with goatools; each GAF annotation (``NOT`` qualifiers
  dropped) is propagated to every ancestor over ``is_a`` and ``part_of`` (the true
  path rule), so a gene annotated to "mitotic spindle assembly" also counts for
  "spindle assembly". Sets name genes by symbol (GAF column 3), as the GTF's gene_name.
- Reactome: ``Ensembl2Reactome_All_Levels.txt`` already lists every level of the
  pathway hierarchy; rows of the reference's species, genes by Ensembl gene id.
- KEGG is not offered: its licence forbids free redistribution of its pathway files.
"""

from __future__ import annotations

import gzip
import io
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

from genejobs.errors import ValidationError

MIN_SIZE = 5  # sets with fewer genes are not kept (no test could reach significance)
MAX_SIZE = 2000  # nor the huge roots ("biological_process"): they say nothing
_RELEASE = re.compile(r"^data-version:\s*releases/(\S+)", re.MULTILINE)


def _text_lines(path: Path) -> Iterator[str]:
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        yield from fh


def go_release_of(obo: Path) -> str:
    """The ``data-version: releases/YYYY-MM-DD`` of an OBO header, or ''."""
    with open(obo, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)
    m = _RELEASE.search(head)
    return m.group(1) if m else ""


def go_gene_sets(obo: Path, gaf: Path) -> dict[str, list[str]]:
    """GO term (``GO:… name``) → gene symbols, annotations propagated to ancestors."""
    from goatools.godag.go_tasks import get_go2ancestors
    from goatools.obo_parser import GODag

    with redirect_stdout(io.StringIO()):  # goatools prints what it loaded
        dag = GODag(str(obo), optional_attrs={"relationship"}, load_obsolete=False)
    if not dag:
        raise ValidationError(f"{obo.name}: no GO terms found (is this an OBO file?)")
    terms = {t for t in dag.values() if not t.is_obsolete}
    ancestors = get_go2ancestors(terms, {"part_of"})
    direct: dict[str, set[str]] = defaultdict(set)
    n = 0
    for line in _text_lines(gaf):
        if line.startswith("!"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 15:
            continue
        n += 1
        if "NOT" in cols[3].split("|"):
            continue
        term = dag.get(cols[4])
        if term is None or term.is_obsolete:
            continue
        direct[cols[2]].add(term.id)  # an alt_id resolves to its term's main id
    if n == 0:
        raise ValidationError(f"{gaf.name}: no GAF annotation lines found")
    sets: dict[str, set[str]] = defaultdict(set)
    for gene, ids in direct.items():
        for go_id in ids:
            sets[go_id].add(gene)
            for up in ancestors.get(go_id, ()):
                sets[up].add(gene)
    return {
        f"{go_id} {dag[go_id].name}": sorted(genes)
        for go_id, genes in sorted(sets.items())
        if MIN_SIZE <= len(genes) <= MAX_SIZE
    }


def reactome_gene_sets(mapping: Path, species: str) -> dict[str, list[str]]:
    """Reactome pathway (``R-…-… name``) → Ensembl gene ids of ``species``."""
    sets: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for line in _text_lines(mapping):
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 6 or cols[5] != species:
            continue
        gene = cols[0].split(".")[0]
        sets[cols[1]].add(gene)
        names[cols[1]] = cols[3]
    if not sets:
        raise ValidationError(
            f"{mapping.name}: no Reactome pathways for species '{species}' "
            "(expected Ensembl2Reactome columns: gene, pathway, url, name, evidence, species)"
        )
    return {
        f"{pid} {names[pid]}": sorted(genes)
        for pid, genes in sorted(sets.items())
        if MIN_SIZE <= len(genes) <= MAX_SIZE
    }


def write_gmt(sets: dict[str, list[str]], path: Path, *, description: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for name, genes in sets.items():
            fh.write("\t".join([name.replace("\t", " "), description, *genes]) + "\n")
