"""The registry of named references: one folder each under the reference root.

``<root>/<name>/`` holds ``genome.fa``, ``genome.mmi``, one gene model per
annotation (``annotations/<gtf>.genes.json``) and ``manifest.json``. A reference
is built in a hidden folder and renamed into place with its manifest already
written, so a half-built reference is never offered to jobs.

Each annotation may also have a transcriptome for the transcript-level quantifier
(``annotations/<gtf>.transcripts/``: ``transcripts.fa``, ``tx2gene.tsv`` and the
salmon index ``salmon/``), built at ``add`` or later by ``ensure_transcriptome``
(on a job's first use, or ``genejobs ref index-transcripts NAME``).
"""

from __future__ import annotations

import builtins
import gzip
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from genejobs.errors import NotFound, ValidationError
from genejobs.references.fasta import copy_fasta
from genejobs.references.gtf import load_gene_model, parse_gtf, save_gene_model
from genejobs.references.index import ALIGNER_PRESET, build_index, choose_index_params
from genejobs.references.model import GeneModel
from genejobs.storage import Storage, parse_uri
from genejobs.storage.compression import is_gzip_file

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class AnnotationInfo:
    name: str
    gene_model_path: Path
    gtf_sha256: str
    n_genes: int
    transcriptome_path: Path | None = None  # annotations/<gtf>.transcripts, when built


@dataclass(frozen=True)
class ReferenceInfo:
    name: str
    folder: Path
    fasta_path: Path
    index_path: Path
    fasta_sha256: str
    chromosomes: dict[str, int]
    annotations: dict[str, AnnotationInfo]
    built_ms: int
    preset: str
    beds: tuple[str, ...] = ()  # gene-model BEDs (storage URIs) offered for QC's ``bed``
    # Where a fetched reference came from (``ref fetch``): catalogue entry, source,
    # release, each file's URL and verified checksum, date; empty for ``ref add``.
    provenance: dict[str, Any] = field(default_factory=dict)
    # Gene-set collections kept with the reference (``genesets/<name>.gmt``), each
    # {"name", "file", "key", "release", ...}: enrichment runs on them by default.
    gene_sets: tuple[dict[str, Any], ...] = ()

    @property
    def genome_size(self) -> int:
        return sum(self.chromosomes.values())

    @property
    def index_size_bytes(self) -> int:
        return self.index_path.stat().st_size if self.index_path.exists() else 0


@dataclass(frozen=True)
class ResolvedReference:
    """One reference with one of its annotations, as a job uses it."""

    name: str
    gtf_name: str
    fasta_path: Path
    index_path: Path
    gene_model_path: Path
    fasta_sha256: str
    gtf_sha256: str
    transcriptome_path: Path | None = None  # the annotation's transcriptome folder, when built
    folder: Path | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    gene_sets: tuple[dict[str, Any], ...] = ()

    def gene_set_path(self, entry: dict[str, Any]) -> Path:
        assert self.folder is not None
        return self.folder / str(entry["file"])

    def load_gene_model(self) -> GeneModel:
        return _load_cached(str(self.gene_model_path), self.gtf_sha256)


@lru_cache(maxsize=8)
def _load_cached(path: str, _checksum: str) -> GeneModel:
    # Loaded once per worker process, not once per sample: a human gene model
    # takes seconds to read and every sample of every job needs the same one.
    return load_gene_model(Path(path))


class ReferenceRegistry:
    """References under a local root, optionally published to an S3 prefix.

    With ``remote`` (``s3a://bucket/refs``) the prefix is the registry every node
    shares, and ``root`` is this node's cache: a reference is fetched once, the
    first time a job on this node resolves it, and reused while its manifest is
    unchanged.
    """

    def __init__(
        self, root: Path, *, remote: str | None = None, storage: Storage | None = None
    ) -> None:
        self.root = Path(root)
        self.remote = parse_uri(remote, field="reference root") if remote else None
        if self.remote is not None and storage is None:
            raise ValueError("a remote reference root needs a Storage")
        self.storage = storage

    # -- reading -------------------------------------------------------------

    def _read(self, folder: Path) -> ReferenceInfo:
        return self._info(json.loads((folder / "manifest.json").read_text()), folder)

    def _info(self, m: dict[str, Any], folder: Path) -> ReferenceInfo:
        annotations = {
            a["name"]: AnnotationInfo(
                a["name"],
                folder / a["gene_model"],
                a["gtf_sha256"],
                int(a["n_genes"]),
                folder / a["transcriptome"]["folder"] if a.get("transcriptome") else None,
            )
            for a in m["annotations"]
        }
        return ReferenceInfo(
            name=m["name"],
            folder=folder,
            fasta_path=folder / "genome.fa",
            index_path=folder / "genome.mmi",
            fasta_sha256=m["fasta_sha256"],
            chromosomes=dict(m["chromosomes"]),
            annotations=annotations,
            built_ms=int(m["built_ms"]),
            preset=m["preset"],
            beds=tuple(m.get("beds", ())),
            provenance=dict(m.get("provenance") or {}),
            gene_sets=tuple(m.get("gene_sets") or ()),
        )

    # -- the shared S3 prefix ------------------------------------------------

    def _remote_manifest(self, name: str) -> dict[str, Any] | None:
        assert self.remote is not None and self.storage is not None
        loc = self.remote.join(name, "manifest.json")
        try:
            manifest: dict[str, Any] = json.loads(self.storage.read_bytes(loc))
        except NotFound:
            return None
        return manifest

    def _publish(self, name: str) -> None:
        """Upload a built reference; its manifest goes last, so readers never see half."""
        assert self.remote is not None and self.storage is not None
        folder = self.root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
        for path in files:
            self.storage.put_file(path, self.remote.join(name, *path.relative_to(folder).parts))
        self.storage.put_file(folder / "manifest.json", self.remote.join(name, "manifest.json"))

    def _fetch(self, name: str, manifest: dict[str, Any]) -> Path:
        """This node's copy of a shared reference, downloaded once per manifest."""
        assert self.remote is not None and self.storage is not None
        local = self.root / name
        mine = local / "manifest.json"
        if mine.is_file() and json.loads(mine.read_text()) == manifest:
            return local
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".fetching-{name}-{uuid.uuid4().hex[:8]}"
        try:
            wanted = ["genome.fa", "genome.mmi"] + [
                a["gene_model"] for a in manifest["annotations"]
            ]
            wanted += [str(g["file"]) for g in manifest.get("gene_sets") or ()]
            wanted += [
                f"{a['transcriptome']['folder']}/{rel}"
                for a in manifest["annotations"]
                if a.get("transcriptome")
                for rel in a["transcriptome"]["files"]
            ]
            fs = self.storage.filesystem(self.remote)
            for rel in wanted:
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                fs.get(self.remote.join(name, rel).fs_path, str(dest))
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
            self._swap_in(tmp, local)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return local

    # -- listing ---------------------------------------------------------------

    def list(self) -> list[ReferenceInfo]:
        if self.remote is not None:
            assert self.storage is not None
            out = []
            for name in self.storage.listdir(self.remote):
                m = self._remote_manifest(name) if not name.startswith(".") else None
                if m is not None:
                    out.append(self._info(m, self.root / name))
            return out
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / "manifest.json").is_file():
                continue
            out.append(self._read(folder))
        return out

    def available(self) -> dict[str, builtins.list[str]]:
        return {r.name: sorted(r.annotations) for r in self.list()}

    def get(self, name: str) -> ReferenceInfo:
        folder = self.root / name
        if self.remote is not None and _NAME.match(name or ""):
            manifest = self._remote_manifest(name)
            if manifest is not None:
                return self._info(manifest, self._fetch(name, manifest))
        if not _NAME.match(name or "") or not (folder / "manifest.json").is_file():
            names = ", ".join(sorted(self.available())) or "none registered"
            raise ValidationError(
                f"ref: '{name}' is not a registered reference (available: {names})"
            )
        return self._read(folder)

    def resolve(self, ref: str, gtf: str) -> ResolvedReference:
        info = self.get(ref)
        if gtf not in info.annotations:
            names = ", ".join(sorted(info.annotations)) or "none"
            raise ValidationError(
                f"gtf: '{gtf}' is not registered for reference '{ref}' (available: {names})"
            )
        ann = info.annotations[gtf]
        return ResolvedReference(
            name=info.name,
            gtf_name=gtf,
            fasta_path=info.fasta_path,
            index_path=info.index_path,
            gene_model_path=ann.gene_model_path,
            fasta_sha256=info.fasta_sha256,
            gtf_sha256=ann.gtf_sha256,
            transcriptome_path=ann.transcriptome_path,
            folder=info.folder,
            provenance=info.provenance,
            gene_sets=info.gene_sets,
        )

    # -- building ------------------------------------------------------------

    def add(
        self,
        name: str,
        fasta: Path,
        gtfs: builtins.list[tuple[str, Path]],  # (``list`` is a method of this class)
        *,
        beds: tuple[str, ...] = (),
        progress: Callable[[str], None] | None = None,
        index_k: int | None = None,
        index_w: int | None = None,
        transcriptome: bool = True,
        provenance: dict[str, Any] | None = None,
        gene_sets: tuple[tuple[dict[str, Any], Path], ...] = (),
    ) -> ReferenceInfo:
        """Validate, index and register; replaces an existing reference only on success.

        Everything is built in a hidden folder that is renamed into place at the end:
        an interrupted add (an error, Ctrl-C, SIGTERM via the CLI) removes it, and a
        killed one leaves it to the next add, which removes it (its pid is gone).
        The genome and annotations are streamed, never held whole in memory.
        ``index_k``/``index_w`` override ``choose_index_params``.
        ``beds`` are storage URIs of gene-model BED files for QC; they are offered to
        users (the console's QC field), not copied: a job reads its ``bed`` from storage.

        ``transcriptome``: also build each annotation's transcriptome and salmon index
        (needs salmon; without it the transcriptome is built on first use instead).

        ``provenance`` (from ``ref fetch``) is kept in the manifest; ``gene_sets`` are
        (entry, GMT file) pairs copied to ``genesets/`` and listed in the manifest.
        """
        say = progress or (lambda _msg: None)
        _check_add_request(name, gtfs, beds)
        self.root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(self.root)
        # The pid lets a later add tell a build whose process died from one under way.
        building = self.root / f".building-{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        building.mkdir()
        try:
            say(f"checking and copying {fasta.name}")
            chromosomes, fasta_sha256 = copy_fasta(
                fasta, building / "genome.fa", progress=_percent(say, f"  {fasta.name}")
            )
            annotations = []
            (building / "annotations").mkdir()
            for gtf_name, gtf_path in gtfs:
                annotations.append(self._annotation(building, gtf_name, gtf_path, chromosomes, say))
            k, w = _minimap2_index(building, chromosomes, index_k, index_w, say)
            if transcriptome and salmon_available():
                _transcriptomes(building, annotations, gtfs, say)
            kept_sets = _kept_gene_sets(building, gene_sets)
            manifest = {
                "name": name,
                "fasta_sha256": fasta_sha256,
                "chromosomes": chromosomes,
                "annotations": annotations,
                "built_ms": int(time.time() * 1000),
                "preset": ALIGNER_PRESET,
                "index_k": k,
                "index_w": w,
                "beds": list(beds),
                "provenance": provenance or {},
                "gene_sets": kept_sets,
            }
            (building / "manifest.json").write_text(json.dumps(manifest, indent=1))
            self._swap_in(building, self.root / name)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        if self.remote is not None:
            say(f"publishing to {self.remote.original}/{name}")
            self._publish(name)
        say(f"reference '{name}' is ready")
        return self.get(name)

    def ensure_transcriptome(
        self, name: str, gtf_name: str, *, gtf_path: Path | None = None
    ) -> ResolvedReference:
        """The reference with its annotation's transcriptome, building it if it is missing.

        For a reference registered before transcriptomes existed. The GTF is re-read
        from ``gtf_path`` when given; otherwise the gene model's exons cannot give
        transcripts, so the registered GTF copy (``annotations/<gtf>``) is used if kept,
        and failing that the caller is told to run ``genejobs ref index-transcripts``.
        Concurrent builders are harmless: each builds in its own folder and the first
        rename wins. With a shared S3 root the result is published for other nodes.
        """
        resolved = self.resolve(name, gtf_name)
        if resolved.transcriptome_path is not None and resolved.transcriptome_path.is_dir():
            return resolved
        info = self.get(name)
        source = gtf_path or info.folder / "annotations" / gtf_name
        if not source.is_file():
            raise ValidationError(
                f"quantifier: reference '{name}' has no transcriptome for '{gtf_name}' and its "
                f"GTF was not kept; run `genejobs ref index-transcripts {name} --gtf "
                f"{gtf_name}=PATH` once"
            )
        if not salmon_available():
            raise ValidationError(
                "quantifier: 'transcripts' needs salmon, which is not installed on this node "
                "(scripts/ensure-salmon.sh installs it)"
            )
        entry = _build_transcriptome(info.folder, gtf_name, info.fasta_path, source)
        with _manifest_lock(info.folder):
            m = json.loads((info.folder / "manifest.json").read_text())
            for a in m["annotations"]:
                if a["name"] == gtf_name:
                    a["transcriptome"] = entry
            tmp = info.folder / f".manifest-{uuid.uuid4().hex}.json"
            tmp.write_text(json.dumps(m, indent=1))
            os.replace(tmp, info.folder / "manifest.json")
        if self.remote is not None:
            self._publish(name)
        return self.resolve(name, gtf_name)

    def add_annotation(self, name: str, gtf_name: str, gtf_path: Path) -> ReferenceInfo:
        info = self.get(name)
        entry = self._annotation(info.folder, gtf_name, gtf_path, info.chromosomes, lambda _m: None)
        m = json.loads((info.folder / "manifest.json").read_text())
        m["annotations"] = [a for a in m["annotations"] if a["name"] != gtf_name] + [entry]
        tmp = info.folder / f".manifest-{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(m, indent=1))
        os.replace(tmp, info.folder / "manifest.json")
        if self.remote is not None:
            self._publish(name)
        return self.get(name)

    @staticmethod
    def _annotation(
        folder: Path,
        gtf_name: str,
        gtf_path: Path,
        chromosomes: dict[str, int],
        say: Callable[[str], None],
    ) -> dict[str, object]:
        if not _NAME.match(gtf_name or "") or "/" in gtf_name:
            raise ValidationError(f"gtf: '{gtf_name}' is not a valid annotation name")
        say(f"parsing {gtf_name}")
        model = parse_gtf(gtf_path, name=gtf_name, progress=_percent(say, f"  {gtf_name}"))
        for gene in model.genes:
            if gene.chrom not in chromosomes:
                raise ValidationError(
                    f"{gtf_name}: gene {gene.gene_id} is on '{gene.chrom}', which the genome "
                    f"does not have (it has: {', '.join(list(chromosomes)[:10])})"
                )
            if gene.end > chromosomes[gene.chrom]:
                raise ValidationError(
                    f"{gtf_name}: gene {gene.gene_id} ends at {gene.end}, past the end of "
                    f"'{gene.chrom}' ({chromosomes[gene.chrom]} bp)"
                )
        rel = f"annotations/{gtf_name}.genes.json"
        # Written aside and renamed: add_annotation replaces a live reference's file.
        part = folder / f"{rel}.{uuid.uuid4().hex[:8]}.part"
        try:
            save_gene_model(model, part)
            os.replace(part, folder / rel)
        finally:
            part.unlink(missing_ok=True)
        # The GTF itself is kept (compressed): a transcriptome can be built from it later.
        if is_gzip_file(gtf_path):
            shutil.copyfile(gtf_path, folder / "annotations" / gtf_name)
        else:
            with (
                open(gtf_path, "rb") as fin,
                gzip.open(folder / "annotations" / gtf_name, "wb", 1) as fo,
            ):
                shutil.copyfileobj(fin, fo, 1 << 20)
        return {
            "name": gtf_name,
            "gene_model": rel,
            "gtf_sha256": model.source_checksum,
            "n_genes": len(model.genes),
        }

    @staticmethod
    def _swap_in(building: Path, target: Path) -> None:
        if target.exists():
            old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
            os.replace(building, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(building, target)


def _check_add_request(name: str, gtfs: list[tuple[str, Path]], beds: tuple[str, ...]) -> None:
    """Refuse a bad name, no annotation or a bad BED URI before anything is built."""
    if not _NAME.match(name or ""):
        raise ValidationError(
            f"name: '{name}' must start with a letter or digit and use only letters, "
            "digits, '.', '_' or '-' (at most 128 characters)"
        )
    if not gtfs:
        raise ValidationError("gtf: at least one annotation is required")
    for i, bed in enumerate(beds):
        parse_uri(bed, field=f"bed[{i}]")


def _minimap2_index(
    building: Path,
    chromosomes: dict[str, int],
    index_k: int | None,
    index_w: int | None,
    say: Callable[[str], None],
) -> tuple[int, int]:
    """The genome's minimap2 index, with the caller's k and w or ones fit for its size."""
    genome_bp = sum(chromosomes.values())
    k, w = (index_k, index_w) if index_k and index_w else choose_index_params(genome_bp)
    say(f"building the minimap2 index ({genome_bp:,} bp, k={k}, w={w})")
    build_index(
        building / "genome.fa",
        building / "genome.mmi",
        k=k,
        w=w,
        progress=lambda s: say(f"  indexing… {s:.0f} s"),
    )
    return k, w


def _transcriptomes(
    building: Path,
    annotations: list[dict[str, object]],
    gtfs: list[tuple[str, Path]],
    say: Callable[[str], None],
) -> None:
    """Each annotation's transcriptome and salmon index, recorded in its manifest entry;
    one that cannot be built is said, and the genome path still works."""
    for entry, (_gtf_name, gtf_path) in zip(annotations, gtfs, strict=True):
        say(f"building the transcriptome and salmon index of {entry['name']}")
        try:
            entry["transcriptome"] = _build_transcriptome(
                building, str(entry["name"]), building / "genome.fa", gtf_path
            )
        except ValidationError as exc:  # fine for the genome path; said now,
            # and a transcripts job on it fails with the same reason
            say(f"no transcriptome for {entry['name']}: {exc.message}")


def _kept_gene_sets(
    building: Path, gene_sets: tuple[tuple[dict[str, Any], Path], ...]
) -> list[dict[str, Any]]:
    """The gene sets' GMT files copied to ``genesets/``, as the manifest lists them."""
    kept_sets = []
    for entry, gmt in gene_sets:
        rel = f"genesets/{entry['name']}.gmt"
        (building / "genesets").mkdir(exist_ok=True)
        shutil.copyfile(gmt, building / rel)
        kept_sets.append({**entry, "file": rel})
    return kept_sets


def _percent(say: Callable[[str], None], label: str) -> Callable[[float], None]:
    """A progress callback that says ``label: N%`` each time another 10% is done."""
    said = [-1]

    def report(fraction: float) -> None:
        step = int(fraction * 10)
        if step > said[0]:
            said[0] = step
            say(f"{label}: {10 * step}%")

    return report


def _remove_abandoned(root: Path) -> None:
    """Remove hidden build folders whose building process is gone (killed mid-add)."""
    for folder in root.glob(".building-*"):
        try:
            pid = int(folder.name.rsplit("-", 2)[-2])
        except ValueError:
            continue  # an older name without a pid: the process cannot be checked
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def salmon_available() -> bool:
    return shutil.which("salmon") is not None


def _manifest_lock(folder: Path) -> Any:
    """An exclusive lock on a reference's manifest while an entry is rewritten."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def lock() -> Any:
        with open(folder / ".manifest.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    return lock()


def _build_transcriptome(folder: Path, gtf_name: str, fasta: Path, gtf: Path) -> dict[str, Any]:
    """Transcript FASTA, tx2gene and salmon index into ``annotations/<gtf>.transcripts``."""
    from genejobs.references.transcriptome import build_salmon_index, write_transcriptome

    rel = f"annotations/{gtf_name}.transcripts"
    target = folder / rel
    tmp = folder / "annotations" / f".{gtf_name}.transcripts-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        n = write_transcriptome(
            fasta, gtf, tmp / "transcripts.fa", tmp / "tx2gene.tsv", label=gtf_name
        )
        version = build_salmon_index(tmp / "transcripts.fa", tmp / "salmon")
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # not simply another builder that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"folder": rel, "n_transcripts": n, "salmon": version, "files": files}


def registry_for(settings: Any) -> ReferenceRegistry:
    """The registry the settings name: a local root, or an S3 prefix with a local cache."""
    if getattr(settings, "reference_uri", None):
        from genejobs.storage import Storage as _Storage

        return ReferenceRegistry(
            settings.reference_root,
            remote=settings.reference_uri,
            storage=_Storage.from_settings(settings),
        )
    return ReferenceRegistry(settings.reference_root)
