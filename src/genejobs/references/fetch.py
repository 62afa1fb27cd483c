"""``ref fetch``: a catalogue reference downloaded, verified, checked and registered.

Order matters: every file is downloaded and verified against its source's published
checksums, then the FASTA's and GTF's sequence names are compared, then the gene sets
are built, and only then does ``ReferenceRegistry.add`` index and register it. The
downloads live in ``<root>/.downloads/<name>-<release>/`` (the upstream layout) until
registration succeeds, so an interrupted or failed fetch registers nothing and the
next one resumes from what is there.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genejobs.errors import ValidationError
from genejobs.references import checksums
from genejobs.references.catalogue import Catalogue, CatalogueEntry, RemoteFile
from genejobs.references.download import ChecksumMismatch, retrieve
from genejobs.references.genesets import (
    go_gene_sets,
    go_release_of,
    reactome_gene_sets,
    write_gmt,
)
from genejobs.references.registry import ReferenceInfo, ReferenceRegistry


@dataclass
class FetchOptions:
    mirrors: dict[str, str]
    progressbar: bool = False
    index_k: int | None = None
    index_w: int | None = None
    transcriptome: bool = True
    gene_sets: bool = True
    register_as: str | None = None


def default_name(entry: CatalogueEntry) -> str:
    """``GRCh38-gencode-46``: the release is part of the name, so releases never mix."""
    return f"{entry.name}-{entry.release}"


def download_folder(registry: ReferenceRegistry, entry: CatalogueEntry) -> Path:
    return registry.root / ".downloads" / f"{entry.name}-{entry.release}"


@dataclass
class _Downloads:
    """What the fetch has downloaded so far: files by role, their records for the
    provenance, and each checksum list read (URL -> file name -> sum), read once."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    published: dict[str, dict[str, str]] = field(default_factory=dict)


def _published_sum(
    downloads: _Downloads, f: RemoteFile, sums_url: str, say: Callable[[str], None]
) -> str:
    """The checksum the source publishes for ``f``; its current list is read once per fetch."""
    assert f.checksums and f.algorithm
    if sums_url not in downloads.published:
        say(f"reading {sums_url}")
        sums_path = downloads.folder / f.source / (f.checksums + ".current")
        sums_path.unlink(missing_ok=True)  # always the source's current list
        retrieve(sums_url, sums_path)
        downloads.published[sums_url] = checksums.parse_checksums(
            sums_path.read_text(errors="replace"), f.algorithm, label=sums_url
        )
    expected = downloads.published[sums_url].get(f.name)
    if expected is None:
        raise ValidationError(
            f"{sums_url} lists no checksum for {f.name}; refusing to use it unverified"
        )
    return expected


def _verified_download(
    catalogue: Catalogue,
    f: RemoteFile,
    options: FetchOptions,
    downloads: _Downloads,
    record: dict[str, Any],
    say: Callable[[str], None],
) -> Path:
    """A file whose source publishes checksums: downloaded, then checked against them
    (a mismatch removes the download)."""
    assert f.algorithm is not None
    url = catalogue.url(f, options.mirrors)
    sums_url = catalogue.checksum_url(f, options.mirrors)
    assert sums_url is not None
    expected = _published_sum(downloads, f, sums_url, say)
    say(f"downloading {url}")
    path = retrieve(
        url,
        downloads.folder / f.source / f.path,
        md5=expected if f.algorithm == "md5" else None,
        progressbar=options.progressbar,
    )
    if f.algorithm != "md5":  # pooch checked the MD5 itself
        got = checksums.compute(path, f.algorithm)
        if got != expected:
            path.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{url}: checksum mismatch: {sums_url} publishes {f.algorithm} "
                f"'{expected}', the download has '{got}'; the download was removed"
            )
    record.update(
        algorithm=f.algorithm, checksum=expected, checksums_file=catalogue.checksum_url(f)
    )
    say(f"  {f.name}: {f.algorithm} {expected} verified")
    return path


def _pinned_download(
    catalogue: Catalogue,
    f: RemoteFile,
    options: FetchOptions,
    downloads: _Downloads,
    record: dict[str, Any],
    say: Callable[[str], None],
) -> Path:
    """A file whose source publishes no checksum (GO, Reactome): pinned by the sha256
    recorded here."""
    url = catalogue.url(f, options.mirrors)
    say(f"downloading {url}")
    path = retrieve(url, downloads.folder / f.source / f.path, progressbar=options.progressbar)
    record.update(algorithm="sha256 (recorded; the source publishes none)")
    record["checksum"] = checksums.sha256_file(path)
    return path


def _download_all(
    catalogue: Catalogue,
    entry: CatalogueEntry,
    options: FetchOptions,
    folder: Path,
    say: Callable[[str], None],
) -> _Downloads:
    """Every file the fetch needs (the gene sets' too, unless left out), each verified or
    pinned, with its record."""
    downloads = _Downloads(folder)
    wanted = entry.files if options.gene_sets else [entry.fasta, entry.gtf]
    for f in wanted:
        record: dict[str, Any] = {"role": f.role, "url": catalogue.url(f), "file": f.name}
        download = _verified_download if f.checksums and f.algorithm else _pinned_download
        path = download(catalogue, f, options, downloads, record, say)
        record["bytes"] = path.stat().st_size
        downloads.files[f.role] = path
        downloads.records.append(record)
    return downloads


def _provenance(
    catalogue: Catalogue,
    entry: CatalogueEntry,
    options: FetchOptions,
    records: list[dict[str, Any]],
) -> dict[str, Any]:
    """Where the reference came from, as the registry keeps it and run.json reports it."""
    return {
        "catalogue_name": entry.name,
        "species": entry.species,
        "assembly": entry.assembly,
        "source": entry.source,
        "release": entry.release,
        "files": records,
        "checksums_verified": all(
            r.get("checksums_file") for r in records if r["role"] in ("fasta", "gtf")
        ),
        "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mirror": options.mirrors.get("*") or options.mirrors.get(entry.source) or None,
        "qc": {"rrna_gene_types": list(entry.rrna_gene_types), "mito": entry.mito_sequence},
        "licence": catalogue.licences.get(entry.source, ""),
    }


def fetch_reference(
    registry: ReferenceRegistry,
    catalogue: Catalogue,
    entry: CatalogueEntry,
    options: FetchOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> ReferenceInfo:
    say = progress or (lambda _m: None)
    started = time.time()
    folder = download_folder(registry, entry)
    downloads = _download_all(catalogue, entry, options, folder, say)
    files = downloads.files
    say("comparing the FASTA's and the GTF's sequence names")
    check_sequence_names(
        fasta_names(files["fasta"]),
        gtf_names(files["gtf"]),
        entry.expected_sequences,
        fasta_label=entry.fasta.name,
        gtf_label=entry.gtf.name,
    )
    name = options.register_as or default_name(entry)
    provenance = _provenance(catalogue, entry, options, downloads.records)
    with tempfile.TemporaryDirectory(prefix="genejobs-sets-", dir=registry.root) as tmp:
        sets = (
            _gene_sets(entry, files, downloads.records, Path(tmp), say) if options.gene_sets else ()
        )
        if entry.gene_sets is not None and options.gene_sets:
            provenance["gene_sets"] = [dict(s) for s, _ in sets]
        info = registry.add(
            name,
            files["fasta"],
            [(entry.gtf.name, files["gtf"])],
            progress=say,
            index_k=options.index_k,
            index_w=options.index_w,
            transcriptome=options.transcriptome,
            provenance=provenance,
            gene_sets=tuple(sets),
        )
    shutil.rmtree(folder, ignore_errors=True)  # registered: the downloads are not needed
    say(f"fetched and registered '{name}' in {time.time() - started:.0f} s")
    return info


def _gene_sets(
    entry: CatalogueEntry,
    files: dict[str, Path],
    records: list[dict[str, Any]],
    tmp: Path,
    say: Callable[[str], None],
) -> list[tuple[dict[str, Any], Path]]:
    gs = entry.gene_sets
    if gs is None:
        return []
    sha = {r["role"]: r["checksum"] for r in records}
    say("building GO gene sets (annotations propagated up the ontology)")
    go = go_gene_sets(files["go-ontology"], files["go-annotations"])
    go_path = tmp / "GO.gmt"
    write_gmt(go, go_path, description="GO")
    say("building Reactome gene sets")
    reactome = reactome_gene_sets(files["reactome"], gs.reactome_species)
    re_path = tmp / "Reactome.gmt"
    write_gmt(reactome, re_path, description="Reactome")
    go_release = go_release_of(files["go-ontology"]) or gs.go_release
    return [
        (
            {
                "name": "GO",
                "key": "gene_name",
                "release": go_release,
                "n_sets": len(go),
                "sources": [gs.go_ontology.name, gs.go_annotations.name],
                "sha256": [sha["go-ontology"], sha["go-annotations"]],
                "licence": "CC BY 4.0",
            },
            go_path,
        ),
        (
            {
                "name": "Reactome",
                "key": "gene_id",
                "release": f"downloaded {time.strftime('%Y-%m-%d', time.gmtime())}",
                "n_sets": len(reactome),
                "sources": [gs.reactome.name],
                "sha256": [sha["reactome"]],
                "licence": "CC0 1.0",
            },
            re_path,
        ),
    ]


# -- sequence names ----------------------------------------------------------------


def _open_bytes(path: Path) -> Any:
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        try:
            from isal import igzip  # 3-4x zlib's speed; installed with dnaio

            return igzip.open(path, "rb")
        except ImportError:  # pragma: no cover - isal ships wheels for our platforms
            return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115


def fasta_names(path: Path) -> list[str]:
    """The FASTA's sequence names, in order, reading headers only (chunks, not lines)."""
    names: list[str] = []
    rest = b""  # the unfinished last line of what was read so far
    try:
        with _open_bytes(path) as fh:
            while chunk := fh.read(1 << 22):
                data = rest + chunk
                cut = data.rfind(b"\n") + 1
                whole, rest = data[:cut], data[cut:]  # ``whole`` starts at a line start
                pos = 0 if whole.startswith(b">") else whole.find(b"\n>") + 1
                while pos > 0 or (pos == 0 and whole.startswith(b">")):
                    end = whole.find(b"\n", pos)
                    header = whole[pos + 1 : end].decode("ascii", "replace").split()
                    names.append(header[0] if header else "")
                    pos = whole.find(b"\n>", end) + 1
                    if pos == 0:
                        break
            if rest.startswith(b">"):
                header = rest[1:].decode("ascii", "replace").split()
                names.append(header[0] if header else "")
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(f"{path.name}: cannot be read as (gzipped) FASTA ({exc})") from exc
    return names


def gtf_names(path: Path) -> set[str]:
    """The GTF's sequence names (column 1 of every feature line)."""
    names: set[str] = set()
    try:
        with _open_bytes(path) as fh:
            for line in fh:
                if line[:1] == b"#" or not line.strip():
                    continue
                names.add(line.split(b"\t", 1)[0].decode("ascii", "replace"))
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(f"{path.name}: cannot be read as (gzipped) GTF ({exc})") from exc
    return names


def _few(names: set[str] | list[str], n: int = 5) -> str:
    items = sorted(names)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def check_sequence_names(
    fasta: list[str],
    gtf: set[str],
    expected: tuple[str, ...],
    *,
    fasta_label: str,
    gtf_label: str,
) -> None:
    """Refuse a FASTA and a GTF that do not describe the same sequences, naming some."""
    in_fasta = set(fasta)
    if not in_fasta:
        raise ValidationError(f"{fasta_label}: no sequences found")
    if not gtf:
        raise ValidationError(f"{gtf_label}: no feature lines found")
    if not in_fasta & gtf:
        raise ValidationError(
            f"{fasta_label} and {gtf_label} share no sequence name: the FASTA has "
            f"{_few(in_fasta)}; the GTF has {_few(gtf)} (mixed sources, e.g. 'chr1' vs '1'?)"
        )
    missing = gtf - in_fasta
    if missing:
        raise ValidationError(
            f"{gtf_label} annotates {len(missing)} sequence(s) that {fasta_label} lacks: "
            f"{_few(missing)} (mixed releases or assemblies?)"
        )
    absent = [s for s in expected if s not in in_fasta]
    if absent:
        raise ValidationError(
            f"{fasta_label} lacks sequences the assembly must have: {_few(absent)} "
            f"(it has {_few(in_fasta)})"
        )
