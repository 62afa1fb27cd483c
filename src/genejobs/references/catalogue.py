"""The catalogue of named references (``catalogue.yaml``), read into typed records.

The catalogue is data: species, assembly, source, release, file paths relative to
the source's base URL, the checksum file covering each file and its algorithm, the
sequence names the assembly must hold. A site may add entries in its own file
(``GENEJOBS_REFERENCE_CATALOGUE``); they win over the packaged ones on the same name.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from genejobs.errors import NotFound, ValidationError

ALGORITHMS = ("md5", "bsd-sum")


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file: where it is below its source's base, and what vouches for it."""

    role: str  # fasta, gtf, go-ontology, go-annotations, reactome
    source: str
    path: str
    checksums: str | None = None  # the checksum file (same source), None: unpublished
    algorithm: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class GeneSetSpec:
    """The gene sets fetched with a reference: GO (ontology + species annotations) and
    Reactome (Ensembl gene id → pathway, all levels)."""

    go_release: str
    go_ontology: RemoteFile
    go_annotations: RemoteFile
    reactome: RemoteFile
    reactome_species: str


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    species: str
    assembly: str
    source: str
    release: str
    releases: tuple[str, ...]
    fasta: RemoteFile
    gtf: RemoteFile
    expected_sequences: tuple[str, ...]
    rrna_gene_types: tuple[str, ...]
    mito_sequence: str
    gene_sets: GeneSetSpec | None
    aliases: tuple[str, ...] = ()

    @property
    def files(self) -> list[RemoteFile]:
        out = [self.fasta, self.gtf]
        if self.gene_sets is not None:
            gs = self.gene_sets
            out += [gs.go_ontology, gs.go_annotations, gs.reactome]
        return out

    def summary(self) -> dict[str, Any]:
        """What ``ref catalogue --json`` prints and a manifest records."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "species": self.species,
            "assembly": self.assembly,
            "source": self.source,
            "release": self.release,
            "releases": list(self.releases),
            "files": [
                {
                    "role": f.role,
                    "source": f.source,
                    "path": f.path,
                    "checksums": f.checksums,
                    "algorithm": f.algorithm,
                }
                for f in self.files
            ],
            "expected_sequences": list(self.expected_sequences),
            "qc": {"rrna_gene_types": list(self.rrna_gene_types), "mito": self.mito_sequence},
            "gene_sets": (
                {
                    "go_release": self.gene_sets.go_release,
                    "reactome_species": self.gene_sets.reactome_species,
                }
                if self.gene_sets
                else None
            ),
        }


@dataclass
class Catalogue:
    bases: dict[str, str]  # source -> base URL
    licences: dict[str, str]
    entries: dict[str, dict[str, Any]]  # name -> raw entry (releases filled in on lookup)
    gene_set_sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.entries)

    def _aliases(self) -> dict[str, str]:
        out = {}
        for name, raw in self.entries.items():
            for alias in raw.get("aliases", ()):
                out[str(alias)] = name
        return out

    def get(self, name: str, release: str | None = None) -> CatalogueEntry:
        """The entry ``name`` (or an alias) at ``release`` (default: the pinned one).

        Unknown names and releases are refused listing the close ones.
        """
        aliases = self._aliases()
        key = name if name in self.entries else aliases.get(name)
        if key is None:
            known = sorted([*self.entries, *aliases])
            close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise NotFound(
                f"reference '{name}' is not in the catalogue; {hint}"
                f"known: {', '.join(sorted(self.entries))} (genejobs ref catalogue)"
            )
        raw = self.entries[key]
        releases = tuple(str(r) for r in raw.get("releases", [raw["release"]]))
        chosen = str(release) if release is not None else str(raw["release"])
        if chosen not in releases:
            close = difflib.get_close_matches(chosen, releases, n=3, cutoff=0.3)
            raise NotFound(
                f"release '{chosen}' of '{key}' is not in the catalogue; "
                + (f"close: {', '.join(close)}; " if close else "")
                + f"known releases: {', '.join(releases)}"
            )
        return self._entry(key, raw, chosen, releases)

    def _entry(
        self, name: str, raw: dict[str, Any], release: str, releases: tuple[str, ...]
    ) -> CatalogueEntry:
        source = str(raw["source"])
        if source not in self.bases:
            raise ValidationError(f"catalogue: '{name}' names unknown source '{source}'")
        gs_raw = raw.get("gene_sets")
        values = {"release": release, "go_release": str((gs_raw or {}).get("go_release", ""))}

        def remote(role: str, spec: dict[str, Any]) -> RemoteFile:
            algorithm = spec.get("algorithm")
            if algorithm is not None and algorithm not in ALGORITHMS:
                raise ValidationError(
                    f"catalogue: '{name}' {role}: unknown checksum algorithm '{algorithm}' "
                    f"(known: {', '.join(ALGORITHMS)})"
                )
            return RemoteFile(
                role=role,
                source=str(spec.get("source", source)),
                path=str(spec["path"]).format(**values),
                checksums=str(spec["checksums"]).format(**values)
                if spec.get("checksums")
                else None,
                algorithm=algorithm,
            )

        gene_sets = None
        if gs_raw:
            go = self.gene_set_sources["go"]
            reactome = self.gene_set_sources["reactome"]
            gene_sets = GeneSetSpec(
                go_release=values["go_release"],
                go_ontology=remote("go-ontology", {"source": go["source"], "path": go["ontology"]}),
                go_annotations=remote(
                    "go-annotations", {"source": go["source"], "path": gs_raw["go_annotations"]}
                ),
                reactome=remote(
                    "reactome", {"source": reactome["source"], "path": reactome["mapping"]}
                ),
                reactome_species=str(gs_raw["reactome_species"]),
            )
        qc = raw.get("qc", {})
        return CatalogueEntry(
            name=name,
            species=str(raw["species"]),
            assembly=str(raw["assembly"]),
            source=source,
            release=release,
            releases=releases,
            fasta=remote("fasta", raw["fasta"]),
            gtf=remote("gtf", raw["gtf"]),
            expected_sequences=tuple(str(s) for s in raw.get("expected_sequences", ())),
            rrna_gene_types=tuple(qc.get("rrna_gene_types", ())),
            mito_sequence=str(qc.get("mito_sequence", "")),
            gene_sets=gene_sets,
            aliases=tuple(str(a) for a in raw.get("aliases", ())),
        )

    def base_url(self, source: str, mirrors: dict[str, str] | None = None) -> str:
        """The base URL of ``source``: a mirror for it (or for all, key ``*``) when given."""
        mirrors = mirrors or {}
        base = mirrors.get(source) or mirrors.get("*") or self.bases[source]
        return base.rstrip("/")

    def url(self, f: RemoteFile, mirrors: dict[str, str] | None = None) -> str:
        return f"{self.base_url(f.source, mirrors)}/{f.path}"

    def checksum_url(self, f: RemoteFile, mirrors: dict[str, str] | None = None) -> str | None:
        return f"{self.base_url(f.source, mirrors)}/{f.checksums}" if f.checksums else None


def _read(text: str, label: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"catalogue {label}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"catalogue {label}: expected a mapping at the top")
    return data


def load_catalogue(extra: Path | None = None) -> Catalogue:
    """The packaged catalogue, with a site's entries (``extra`` or the environment's
    GENEJOBS_REFERENCE_CATALOGUE) laid over it."""
    data = _read(
        resources.files("genejobs.references").joinpath("catalogue.yaml").read_text(),
        "catalogue.yaml",
    )
    site = extra or (
        Path(os.environ["GENEJOBS_REFERENCE_CATALOGUE"])
        if os.environ.get("GENEJOBS_REFERENCE_CATALOGUE")
        else None
    )
    if site is not None:
        if not site.is_file():
            raise NotFound(f"catalogue '{site}' does not exist")
        more = _read(site.read_text(), str(site))
        for key in ("sources", "gene_sets", "references"):
            data[key] = {**data.get(key, {}), **(more.get(key) or {})}
    return Catalogue(
        bases={k: str(v["base"]) for k, v in data["sources"].items()},
        licences={k: str(v.get("licence", "")) for k, v in data["sources"].items()},
        entries=dict(data["references"]),
        gene_set_sources=dict(data.get("gene_sets", {})),
    )


def parse_mirrors(values: list[str] | None, env: str | None = None) -> dict[str, str]:
    """``URL`` (every source) or ``SOURCE=URL`` (one source), from flags and the
    environment's GENEJOBS_REFERENCE_MIRROR (flags win)."""
    out: dict[str, str] = {}
    for value in ([env] if env else []) + list(values or []):
        source, sep, url = value.partition("=")
        if sep and "://" not in source:
            out[source] = url
        else:
            out["*"] = value
    for url in out.values():
        if not url.startswith(("http://", "https://", "file://", "ftp://")):
            raise ValidationError(f"mirror: '{url}' is not an http(s)://, ftp:// or file:// URL")
    return out
