"""`ref fetch` against a local mirror of the upstream layout (never the internet):
verification, resume, refusal, registration, and the CLI's messages."""

from __future__ import annotations

import gzip
import http.server
import json
import shutil
from pathlib import Path

import pytest

from genejobs.cli import references as ref_cli
from genejobs.errors import NotFound, ValidationError
from genejobs.references.catalogue import load_catalogue
from genejobs.references.download import ChecksumMismatch, DiskFull
from genejobs.references.fetch import FetchOptions, download_folder, fetch_reference
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.sim.upstream import RangeHandler, serve, write_upstream

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = simulate(
        tmp_path_factory.mktemp("sim"), SimConfig(n_genes=150, write_reads=False, seed=3)
    )
    root = tmp_path_factory.mktemp("upstream")
    write_upstream(root, Path(sim.genome), Path(sim.gtf), Path(sim.truth_genes))
    return root


@pytest.fixture
def mirror(upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of the upstream (tests may corrupt it), served over HTTP."""
    root = tmp_path / "mirror"
    shutil.copytree(upstream, root)
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(root / "catalogue.yaml"))
    with serve(root) as url:
        yield root, url


def _options(url: str) -> FetchOptions:
    return FetchOptions(mirrors={"*": url}, index_k=11, index_w=5, transcriptome=False)


def test_fetch_verifies_checks_registers_and_records_provenance(mirror, tmp_path: Path) -> None:
    root, url = mirror
    registry = ReferenceRegistry(tmp_path / "refs")
    catalogue = load_catalogue()
    said: list[str] = []
    info = fetch_reference(
        registry, catalogue, catalogue.get("SIM1"), _options(url), progress=said.append
    )
    assert info.name == "SIM1-gencode-1"
    assert set(info.chromosomes) == {"chr1", "chr2"}
    assert list(info.annotations) == ["gencode.v1.primary_assembly.annotation.gtf.gz"]
    p = info.provenance
    assert p["source"] == "gencode" and p["release"] == "1" and p["checksums_verified"]
    fasta = next(f for f in p["files"] if f["role"] == "fasta")
    md5sums = (root / "Gencode_sim/release_1/MD5SUMS").read_text()
    assert fasta["algorithm"] == "md5" and fasta["checksum"] in md5sums
    assert fasta["url"].startswith("https://ftp.ebi.ac.uk/pub/databases/gencode/Gencode_sim/")
    assert any("md5" in m and "verified" in m for m in said)
    # GO: annotations made to the leaves reach their parent (is_a and part_of).
    go = {s["name"]: s for s in info.gene_sets}["GO"]
    assert go["release"] == "2024-06-17"
    gmt = {
        line.split("\t")[0]: line.rstrip("\n").split("\t")[2:]
        for line in (info.folder / go["file"]).read_text().splitlines()
    }
    up, down = (
        gmt["GO:0090002 simulated up-regulation"],
        gmt["GO:0090003 simulated down-regulation"],
    )
    steady = gmt["GO:0090004 simulated steady state"]
    assert set(gmt["GO:0090001 simulated regulation"]) == set(up) | set(down) | set(steady)
    assert steady[0] not in up  # the NOT annotation did not count
    reactome = (info.folder / "genesets/Reactome.gmt").read_text()
    assert "R-SIM-0001 Simulated pathway up" in reactome and "Human only" not in reactome
    assert not download_folder(registry, catalogue.get("SIM1")).exists()  # cleaned up


def test_ensembl_layout_is_verified_with_bsd_sums(mirror, tmp_path: Path) -> None:
    _root, url = mirror
    registry = ReferenceRegistry(tmp_path / "refs")
    catalogue = load_catalogue()
    opts = _options(url)
    opts.gene_sets = False
    info = fetch_reference(registry, catalogue, catalogue.get("SIM1-ensembl"), opts)
    assert set(info.chromosomes) == {"1", "2"}
    assert {f["algorithm"] for f in info.provenance["files"]} == {"bsd-sum"}


class _Dropping(RangeHandler):
    """Serves the FASTA's first 3000 bytes, then drops the connection (once per path)."""

    dropped: set[str] = set()

    def send_head(self):  # type: ignore[no-untyped-def]
        if self.path.endswith(".fa.gz") and self.path not in self.dropped:
            self.dropped.add(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "999999")
            self.end_headers()
            with open(self.translate_path(self.path), "rb") as fh:
                self.wfile.write(fh.read(3000))
            self.wfile.flush()
            self.close_connection = True
            return None
        return super().send_head()


def test_an_interrupted_download_registers_nothing_and_resumes_with_a_range(
    upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(upstream / "catalogue.yaml"))
    registry = ReferenceRegistry(tmp_path / "refs")
    catalogue = load_catalogue()
    entry = catalogue.get("SIM1")
    ranges: list[str] = []

    class Recording(RangeHandler):
        def send_head(self):  # type: ignore[no-untyped-def]
            if self.headers.get("Range"):
                ranges.append(f"{self.path} {self.headers['Range']}")
            return super().send_head()

    with serve(upstream, _Dropping) as url, pytest.raises(Exception, match="resume"):
        fetch_reference(registry, catalogue, entry, _options(url))
    assert registry.list() == []
    part = next(download_folder(registry, entry).rglob("*.fa.gz.part"))
    assert part.stat().st_size == 3000
    with serve(upstream, Recording) as url:
        info = fetch_reference(registry, catalogue, entry, _options(url))
    assert info.provenance["checksums_verified"]
    assert any(r.endswith(".fa.gz bytes=3000-") for r in ranges), ranges


def test_a_corrupted_file_is_refused_naming_it_and_both_sums(mirror, tmp_path: Path) -> None:
    root, url = mirror
    gtf = root / "Gencode_sim/release_1/gencode.v1.primary_assembly.annotation.gtf.gz"
    data = bytearray(gtf.read_bytes())
    data[-20] ^= 0xFF
    gtf.write_bytes(bytes(data))
    registry = ReferenceRegistry(tmp_path / "refs")
    catalogue = load_catalogue()
    with pytest.raises(ChecksumMismatch) as err:
        fetch_reference(registry, catalogue, catalogue.get("SIM1"), _options(url))
    msg = err.value.message
    assert gtf.name in msg and "checksum mismatch" in msg
    published = next(
        line.split()[0]
        for line in (root / "Gencode_sim/release_1/MD5SUMS").read_text().splitlines()
        if line.endswith(gtf.name)
    )
    assert published in msg and len([w for w in msg.split() if len(w.strip("',;")) == 32]) >= 2
    assert registry.list() == []
    # Ensembl's BSD sums too.
    ens = root / "release-1/gtf/sim/Sim.SIM1.1.gtf.gz"
    ens.write_bytes(gzip.compress(b'chr1\tx\texon\t1\t2\t.\t+\t.\tgene_id "a";\n'))
    with pytest.raises(
        ChecksumMismatch, match=r"Sim\.SIM1\.1\.gtf\.gz.*bsd-sum '\d+ \d+'.*'\d+ \d+'"
    ):
        fetch_reference(registry, catalogue, catalogue.get("SIM1-ensembl"), _options(url))


def test_a_mirror_404_names_the_url(mirror, tmp_path: Path) -> None:
    root, url = mirror
    (root / "Gencode_sim/release_1/SIM1.primary_assembly.genome.fa.gz").unlink()
    catalogue = load_catalogue()
    with pytest.raises(NotFound, match=rf"{url}/Gencode_sim/release_1/SIM1\.primary.*404"):
        fetch_reference(
            ReferenceRegistry(tmp_path / "refs"), catalogue, catalogue.get("SIM1"), _options(url)
        )


def test_disjoint_sequence_names_are_refused_naming_some_of_each(mirror, tmp_path: Path) -> None:
    root, url = mirror
    rel = root / "Gencode_sim/release_1"
    gtf = rel / "gencode.v1.primary_assembly.annotation.gtf.gz"
    text = gzip.decompress(gtf.read_bytes()).replace(b"chr", b"scaffold_")
    gtf.write_bytes(gzip.compress(text))
    sums = [
        line for line in (rel / "MD5SUMS").read_text().splitlines() if not line.endswith(gtf.name)
    ]
    import hashlib

    sums.append(f"{hashlib.md5(gtf.read_bytes()).hexdigest()}  {gtf.name}")
    (rel / "MD5SUMS").write_text("\n".join(sums) + "\n")
    catalogue = load_catalogue()
    registry = ReferenceRegistry(tmp_path / "refs")
    with pytest.raises(ValidationError, match=r"share no sequence name.*chr1, chr2.*scaffold_1"):
        fetch_reference(registry, catalogue, catalogue.get("SIM1"), _options(url))
    assert registry.list() == []


def test_disk_full_keeps_the_partial_file_and_says_so(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from genejobs.references import download

    _root, url = mirror
    real_open = open
    written = {"n": 0}

    class FullFile:
        def __init__(self, fh):  # type: ignore[no-untyped-def]
            self.fh = fh

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *a):  # type: ignore[no-untyped-def]
            self.fh.close()

        def seek(self, n):  # type: ignore[no-untyped-def]
            self.fh.seek(n)

        def truncate(self):  # type: ignore[no-untyped-def]
            self.fh.truncate()

        def write(self, data):  # type: ignore[no-untyped-def]
            if written["n"] >= 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            written["n"] += 1
            self.fh.write(data[:1000])
            self.fh.flush()

    def fake_open(path, mode="r", *a, **k):  # type: ignore[no-untyped-def]
        fh = real_open(path, mode, *a, **k)
        return FullFile(fh) if str(path).endswith(".fa.gz.part") else fh

    monkeypatch.setattr(download, "open", fake_open, raising=False)
    monkeypatch.setattr(download, "_CHUNK", 1000)
    catalogue = load_catalogue()
    registry = ReferenceRegistry(tmp_path / "refs")
    with pytest.raises(
        DiskFull, match=r"disk full while downloading .*1,000 bytes kept in .*resume"
    ):
        fetch_reference(registry, catalogue, catalogue.get("SIM1"), _options(url))
    assert registry.list() == []
    assert (
        next(download_folder(registry, catalogue.get("SIM1")).rglob("*.part")).stat().st_size
        == 1000
    )


def test_cli_fetch_catalogue_list_and_bad_names(
    mirror, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _root, url = mirror
    refs = tmp_path / "refs"
    assert ref_cli.main(["--root", str(refs), "fetch", "SIM2"]) == 2
    assert "did you mean SIM1" in capsys.readouterr().err
    assert ref_cli.main(["--root", str(refs), "fetch", "SIM1", "--release", "2"]) == 2
    assert "known releases: 1" in capsys.readouterr().err
    args = ["--root", str(refs), "fetch", "SIM1", "--mirror", url, "--no-transcriptome"]
    assert ref_cli.main(args + ["--index-k", "11", "--index-w", "5"]) == 0
    assert "SIM1-gencode-1: Simulated species SIM1, gencode release 1" in capsys.readouterr().out
    assert ref_cli.main(["--root", str(refs), "list"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("SIM1-gencode-1"))
    assert " gencode " in row and " 1 " in row and " yes " in row and "GO,Reactome" in row
    assert ref_cli.main(["catalogue", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["SIM1-gencode"]["files"][0]["algorithm"] == "md5"
    assert "GRCh38-gencode" in entries


def test_a_file_url_mirror_works(upstream: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(upstream / "catalogue.yaml"))
    monkeypatch.setenv("GENEJOBS_REFERENCE_MIRROR", upstream.as_uri())
    refs = tmp_path / "refs"
    argv = ["--root", str(refs), "fetch", "SIM1-ensembl", "--no-gene-sets", "--no-transcriptome"]
    assert ref_cli.main(argv + ["--index-k", "11", "--index-w", "5"]) == 0
    info = ReferenceRegistry(refs).get("SIM1-ensembl-1")
    assert info.provenance["mirror"] == upstream.as_uri()


_ = http
