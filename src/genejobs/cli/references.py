"""``genejobs ref add|fetch|catalogue|list|index-transcripts``: register references
(by files, or by name from the catalogue), build their indexes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from genejobs.config import Settings
from genejobs.errors import GeneJobsError, NotFound
from genejobs.references.registry import ReferenceRegistry, registry_for
from genejobs.storage import Storage, parse_uri


def _local(storage: Storage, uri: str, tmp: Path) -> Path:
    """A local path for a source given as a path or a storage URI (fetched once)."""
    loc = parse_uri(uri if "://" in uri else str(Path(uri).resolve()), field="source")
    if not loc.is_s3:
        if not Path(loc.key).is_file():
            raise NotFound(f"'{uri}' does not exist or is not a file")
        return Path(loc.key)
    dest = tmp / loc.name
    storage.filesystem(loc).get(loc.fs_path, str(dest))
    return dest


def _add_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ref add``: register files as a reference and build its index."""
    add = sub.add_parser("add", help="register a reference and build its index")
    add.add_argument("name")
    add.add_argument("--fasta", required=True)
    add.add_argument(
        "--gtf",
        action="append",
        required=True,
        help="annotation (repeatable); registered under its file name",
    )
    add.add_argument("--index-k", type=int, help="minimizer k (default: chosen by genome size)")
    add.add_argument("--index-w", type=int, help="minimizer window w (with --index-k)")
    add.add_argument(
        "--no-transcriptome",
        action="store_true",
        help="skip the transcriptome and salmon index (built on first use instead)",
    )
    add.add_argument(
        "--bed",
        action="append",
        default=[],
        help="storage URI of a gene-model BED for QC, offered in the console (repeatable)",
    )


def _fetch_subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ref fetch``: a catalogue reference downloaded, verified and registered."""
    fetch = sub.add_parser(
        "fetch",
        help="download a catalogue reference (FASTA, GTF, GO and Reactome sets), verify, "
        "register and index it",
    )
    fetch.add_argument("name", help="a catalogue name or alias (genejobs ref catalogue)")
    fetch.add_argument("--release", help="the source's release (default: the catalogue's)")
    fetch.add_argument(
        "--mirror",
        action="append",
        default=[],
        help="URL replacing every source's base URL, or SOURCE=URL for one source "
        "(repeatable; default GENEJOBS_REFERENCE_MIRROR); the layout below it is upstream's",
    )
    fetch.add_argument("--as", dest="register_as", help="register under this name")
    fetch.add_argument("--no-gene-sets", action="store_true", help="skip GO and Reactome")
    fetch.add_argument("--index-k", type=int, help="minimizer k (default: by genome size)")
    fetch.add_argument("--index-w", type=int, help="minimizer window w (with --index-k)")
    fetch.add_argument(
        "--no-transcriptome",
        action="store_true",
        help="skip the transcriptome and salmon index (built on first use instead)",
    )
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars")


def _listing_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ref catalogue``, ``ref list`` and ``ref index-transcripts``."""
    cat = sub.add_parser("catalogue", help="list the references `ref fetch` knows by name")
    cat.add_argument("--json", action="store_true", help="print JSON")
    ls = sub.add_parser(
        "list",
        help="list references: the service's (GENEJOBS_URL and a token set), else this "
        "machine's registry",
    )
    ls.add_argument("--project", default="default", help="project to ask the service for")
    ls.add_argument(
        "--local", action="store_true", help="read this machine's registry, not the service"
    )
    itx = sub.add_parser(
        "index-transcripts",
        help="build the transcriptome and salmon index of a reference registered before",
    )
    itx.add_argument("name")
    itx.add_argument(
        "--gtf",
        action="append",
        default=[],
        help="NAME=PATH of an annotation's GTF when the registry kept no copy (repeatable); "
        "default: every annotation, from the registry's copy",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="genejobs ref")
    p.add_argument("--root", type=Path, help="reference root (default GENEJOBS_REFERENCE_ROOT)")
    sub = p.add_subparsers(dest="action", required=True)
    _add_subcommand(sub)
    _fetch_subcommand(sub)
    _listing_subcommands(sub)
    a = p.parse_args(argv)
    settings = Settings.from_env()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if a.action in ("add", "fetch") else None
    try:
        return _run(a, settings)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _service_references(a: argparse.Namespace) -> int | None:
    """``ref list`` against the service when GENEJOBS_URL is set: what submit accepts there
    (None: no service configured, so the local registry is read)."""
    url = os.environ.get("GENEJOBS_URL")
    if a.local or a.root or not url:
        return None
    from genejobs.cli.main import _client_token, token_hint
    from genejobs.client import ClientError, GeneJobsClient

    settings = Settings.from_env()
    client = GeneJobsClient(url, _client_token(settings))
    try:
        refs = client.references(a.project)
    except ClientError as exc:
        print(f"error {exc.error_code}: {exc.error_msg}", file=sys.stderr)
        if exc.status == 401:
            print(token_hint(settings), file=sys.stderr)
        return 2
    finally:
        client.close()
    print(f"references on {url} (project {a.project}):")
    print(f"{'name':<16} {'genome bp':>14} {'genes':>8}  annotations")
    for r in refs:
        size = f"{r['genome_size']:,}" if r.get("genome_size") else "—"
        genes = f"{r['genes']:,}" if r.get("genes") else "—"
        print(f"{r['name']:<16} {size:>14} {genes:>8}  {', '.join(r['annotations'])}")
    if not refs:
        print("(none registered: `genejobs ref add` on the server adds one)")
    return 0


def _say(message: str) -> None:
    """Progress on stderr, at once: stdout keeps the command's result."""
    print(message, file=sys.stderr, flush=True)


def _add(a: argparse.Namespace, registry: ReferenceRegistry, settings: Settings) -> None:
    """``ref add``: the FASTA and GTFs (local paths or storage URIs) registered."""
    storage = Storage.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="genejobs-ref-") as tmp:
        fasta = _local(storage, a.fasta, Path(tmp))
        gtfs = [
            (
                Path(parse_uri(g if "://" in g else str(Path(g).resolve())).key).name,
                _local(storage, g, Path(tmp)),
            )
            for g in a.gtf
        ]
        info = registry.add(
            a.name,
            fasta,
            gtfs,
            beds=tuple(a.bed),
            progress=_say,
            index_k=a.index_k,
            index_w=a.index_w,
            transcriptome=not a.no_transcriptome,
        )
    print(
        f"{info.name}: {len(info.chromosomes)} sequences, {info.genome_size:,} bp, "
        f"annotations: {', '.join(info.annotations)}"
    )


def _fetch(a: argparse.Namespace, registry: ReferenceRegistry, settings: Settings) -> None:
    """``ref fetch``: a failure says that nothing was registered and how to resume."""
    from genejobs.references.catalogue import load_catalogue, parse_mirrors
    from genejobs.references.fetch import FetchOptions, default_name, fetch_reference

    catalogue = load_catalogue()
    entry = catalogue.get(a.name, a.release)
    options = FetchOptions(
        mirrors=parse_mirrors(a.mirror, os.environ.get("GENEJOBS_REFERENCE_MIRROR")),
        progressbar=not a.no_progress and sys.stderr.isatty(),
        index_k=a.index_k,
        index_w=a.index_w,
        transcriptome=not a.no_transcriptome,
        gene_sets=not a.no_gene_sets,
        register_as=a.register_as,
    )
    try:
        info = fetch_reference(
            registry,
            catalogue,
            entry,
            options,
            progress=_say,
        )
    except (KeyboardInterrupt, _Terminated):
        raise
    except GeneJobsError as exc:
        raise type(exc)(
            f"{exc.message} (nothing was registered as "
            f"'{a.register_as or default_name(entry)}'; finished downloads are kept "
            "and the same command resumes)"
        ) from exc
    print(
        f"{info.name}: {entry.species} {entry.assembly}, {entry.source} release "
        f"{entry.release}; {len(info.chromosomes)} sequences, {info.genome_size:,} bp; "
        f"gene sets: {', '.join(g['name'] for g in info.gene_sets) or 'none'}"
    )


def _catalogue(a: argparse.Namespace, registry: ReferenceRegistry, settings: Settings) -> None:
    """``ref catalogue``: the references ``ref fetch`` knows, as a table or JSON."""
    from genejobs.references.catalogue import load_catalogue

    catalogue = load_catalogue()
    entries = [catalogue.get(n) for n in catalogue.names()]
    if a.json:
        print(json.dumps([e.summary() for e in entries], indent=1))
        return
    print(
        f"{'name':<16} {'species':<25} {'assembly':<9} {'source':<8} "
        f"{'release':<8} {'releases':<18} aliases"
    )
    for e in entries:
        print(
            f"{e.name:<16} {e.species:<25} {e.assembly:<9} {e.source:<8} "
            f"{e.release:<8} {','.join(e.releases):<18} {', '.join(e.aliases)}"
        )


def _index_transcripts(
    a: argparse.Namespace, registry: ReferenceRegistry, settings: Settings
) -> None:
    """``ref index-transcripts``: each annotation's transcriptome, from the given GTFs or
    the registry's copies."""
    given = dict(g.split("=", 1) for g in a.gtf if "=" in g)
    for gtf_name in given or sorted(registry.get(a.name).annotations):
        path = Path(given[gtf_name]) if gtf_name in given else None
        print(f"building the transcriptome of {a.name}/{gtf_name}", file=sys.stderr)
        resolved = registry.ensure_transcriptome(a.name, gtf_name, gtf_path=path)
        print(f"{a.name}/{gtf_name}: {resolved.transcriptome_path}")


def _list_local(a: argparse.Namespace, registry: ReferenceRegistry, settings: Settings) -> None:
    """``ref list`` of this machine's registry, with each reference's provenance."""
    print(
        f"{'name':<20} {'genome bp':>14} {'index MiB':>10}  built             "
        f"{'source':<9} {'release':<8} {'verified':<9} {'gene sets':<12} annotations"
    )
    for info in registry.list():
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.built_ms / 1000))
        p = info.provenance
        source = str(p.get("source") or "files")
        verified = ("yes" if p.get("checksums_verified") else "no") if p else "-"
        sets = ",".join(str(g["name"]) for g in info.gene_sets) or "-"
        print(
            f"{info.name:<20} {info.genome_size:>14,} "
            f"{info.index_size_bytes / 2**20:>10.1f}  {built:<17} {source:<9} "
            f"{str(p.get('release') or '-'):<8} {verified:<9} {sets:<12} "
            f"{', '.join(sorted(info.annotations))}"
        )


_ACTIONS: dict[str, Callable[[argparse.Namespace, ReferenceRegistry, Settings], None]] = {
    "add": _add,
    "fetch": _fetch,
    "catalogue": _catalogue,
    "index-transcripts": _index_transcripts,
}


def _run(a: argparse.Namespace, settings: Settings) -> int:
    """One action, its errors said in a line (never a traceback) with the exit code."""
    if a.action == "list":
        asked = _service_references(a)
        if asked is not None:
            return asked
    registry = ReferenceRegistry(a.root) if a.root else registry_for(settings)
    try:
        _ACTIONS.get(a.action, _list_local)(a, registry, settings)
    except GeneJobsError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Terminated) as exc:
        # The registry removed its half-built folder on the way out.
        what = "terminated" if isinstance(exc, _Terminated) else "interrupted"
        print(f"{what}: nothing was registered", file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    return 0


class _Terminated(BaseException):
    """SIGTERM, raised where the program is, so ``finally`` blocks clean up."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Terminated()
