"""The registry of named references: one folder each under the reference root.

``<root>/<name>/`` holds ``genome.fa``, ``genome.mmi``, one gene model per
annotation (``annotations/<gtf>.genes.json``) and ``manifest.json``. A reference
is built in a hidden folder and renamed into place with its manifest already
written, so a half-built reference is never offered to jobs.
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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from genejobs.errors import NotFound, ValidationError
from genejobs.references.fasta import read_fasta_summary
from genejobs.references.gtf import load_gene_model, parse_gtf, save_gene_model, sha256_file
from genejobs.references.index import ALIGNER_PRESET, build_index
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
                a["name"], folder / a["gene_model"], a["gtf_sha256"], int(a["n_genes"])
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
    ) -> ReferenceInfo:
        """Validate, index and register; replaces an existing reference only on success.

        ``beds`` are storage URIs of gene-model BED files for QC; they are offered to
        users (the console's QC field), not copied: a job reads its ``bed`` from storage.
        """
        say = progress or (lambda _msg: None)
        if not _NAME.match(name or ""):
            raise ValidationError(
                f"name: '{name}' must start with a letter or digit and use only letters, "
                "digits, '.', '_' or '-' (at most 128 characters)"
            )
        if not gtfs:
            raise ValidationError("gtf: at least one annotation is required")
        for i, bed in enumerate(beds):
            parse_uri(bed, field=f"bed[{i}]")
        self.root.mkdir(parents=True, exist_ok=True)
        building = self.root / f".building-{name}-{uuid.uuid4().hex[:8]}"
        building.mkdir()
        try:
            say(f"checking {fasta.name}")
            chromosomes = read_fasta_summary(fasta)
            _copy_plain(fasta, building / "genome.fa")
            annotations = []
            (building / "annotations").mkdir()
            for gtf_name, gtf_path in gtfs:
                annotations.append(self._annotation(building, gtf_name, gtf_path, chromosomes, say))
            say("building the minimap2 index")
            build_index(building / "genome.fa", building / "genome.mmi")
            manifest = {
                "name": name,
                "fasta_sha256": sha256_file(building / "genome.fa"),
                "chromosomes": chromosomes,
                "annotations": annotations,
                "built_ms": int(time.time() * 1000),
                "preset": ALIGNER_PRESET,
                "beds": list(beds),
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
        model = parse_gtf(gtf_path, name=gtf_name)
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
        save_gene_model(model, folder / rel)
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


def _copy_plain(src: Path, dest: Path) -> None:
    """Copy a FASTA, decompressing a gzipped one: ``genome.fa`` is always plain text."""
    if not is_gzip_file(src):
        shutil.copyfile(src, dest)
        return
    with gzip.open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


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
