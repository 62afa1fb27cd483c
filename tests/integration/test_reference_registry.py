"""The reference registry on real files: build, list, resolve, refuse, replace; and the CLI."""

from __future__ import annotations

import gzip
import json
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mappy
import numpy as np
import pytest

from genejobs.cli import references as ref_cli
from genejobs.errors import ValidationError
from genejobs.references.gtf import sha256_file
from genejobs.references.registry import ReferenceRegistry

pytestmark = pytest.mark.integration

GTF_NAME = "tiny.v1.gtf"


def _genome(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    chr1 = [rng.choice("ACGT") for _ in range(30_000)]
    chr1[1500:1502], chr1[1998:2000] = "GT", "AG"  # GA's intron, 0-based [1500, 2000)
    return {"chr1": "".join(chr1), "chr2": "".join(rng.choice("ACGT") for _ in range(8_000))}


def _fasta(path: Path, genome: dict[str, str]) -> Path:
    with open(path, "w") as fh:
        for name, seq in genome.items():
            fh.write(f">{name}\n")
            fh.write("\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    return path


def _gtf(path: Path, rows: list[tuple[str, int, int, str, str]]) -> Path:
    lines = [
        f'{c}\tT\texon\t{s}\t{e}\t.\t{st}\t.\tgene_id "{g}"; gene_name "{g}N";\n'
        for c, s, e, st, g in rows
    ]
    path.write_text("".join(lines))
    return path


GENES = [
    ("chr1", 1001, 1500, "+", "GA"),
    ("chr1", 2001, 2400, "+", "GA"),
    ("chr1", 5001, 5800, "-", "GB"),
    ("chr2", 101, 700, "+", "GC"),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ref-src")
    genome = _genome(1)
    fa = _fasta(d / "genome.fa", genome)
    fa_gz = d / "genome.fa.gz"
    fa_gz.write_bytes(gzip.compress(fa.read_bytes()))
    return {
        "fasta": fa,
        "fasta_gz": fa_gz,
        "fasta_v2": _fasta(d / "genome_v2.fa", _genome(2)),
        "gtf": _gtf(d / GTF_NAME, GENES),
        "gtf2": _gtf(d / "tiny.v2.gtf", GENES[:2]),
        "bad_fasta": d / "bad.fa",
        "bad_gtf": d / "bad.gtf",
        "chrom_gtf": _gtf(d / "chrom.gtf", GENES + [("chrUn", 1, 50, "+", "GX")]),
        "long_gtf": _gtf(d / "long.gtf", [("chr2", 7_900, 8_001, "+", "GY")]),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> ReferenceRegistry:
    """One registry with 'tiny' built from a gzipped FASTA (index built once per module)."""
    registry = ReferenceRegistry(tmp_path_factory.mktemp("refs"))
    said: list[str] = []
    info = registry.add(
        "tiny", sources["fasta_gz"], [(GTF_NAME, sources["gtf"])], progress=said.append
    )
    assert info.name == "tiny" and said[-1] == "reference 'tiny' is ready"
    return registry


def _visible(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_add_list_and_available(built: ReferenceRegistry, sources: dict[str, Path]) -> None:
    [info] = built.list()
    assert info.chromosomes == {"chr1": 30_000, "chr2": 8_000}
    assert info.genome_size == 38_000
    assert info.annotations[GTF_NAME].n_genes == 3
    assert info.annotations[GTF_NAME].gtf_sha256 == sha256_file(sources["gtf"])
    assert info.index_size_bytes > 0 and info.preset == "splice:sr"
    # the gzipped source is stored as a plain FASTA with the same content
    assert info.fasta_path.read_bytes() == sources["fasta"].read_bytes()
    assert info.fasta_sha256 == sha256_file(sources["fasta"])
    assert built.available() == {"tiny": [GTF_NAME]}
    assert _visible(built.root) == ["tiny"]  # nothing hidden left behind
    manifest = json.loads((info.folder / "manifest.json").read_text())
    assert manifest["name"] == "tiny" and manifest["chromosomes"]["chr2"] == 8_000


def test_resolve_gives_paths_and_gene_model(built: ReferenceRegistry) -> None:
    ref = built.resolve("tiny", GTF_NAME)
    assert ref.index_path.is_file() and ref.gene_model_path.is_file()
    model = ref.load_gene_model()
    assert model.gene_ids == ["GA", "GB", "GC"]
    assert model.genes[0].exons == ((1000, 1500), (2000, 2400))
    assert model.genes[1].strand == "-"


def test_unknown_ref_and_gtf_list_what_is_available(built: ReferenceRegistry) -> None:
    with pytest.raises(ValidationError) as err:
        built.resolve("hg19", GTF_NAME)
    assert err.value.message == "ref: 'hg19' is not a registered reference (available: tiny)"
    with pytest.raises(ValidationError) as err:
        built.resolve("tiny", "gencode.v17.annotation.gtf")
    assert err.value.message == (
        "gtf: 'gencode.v17.annotation.gtf' is not registered for reference 'tiny' "
        f"(available: {GTF_NAME})"
    )
    with pytest.raises(ValidationError, match="not a registered reference"):
        built.get("../tiny")


def test_empty_registry(tmp_path: Path) -> None:
    registry = ReferenceRegistry(tmp_path / "none")
    assert registry.list() == [] and registry.available() == {}
    with pytest.raises(ValidationError, match=r"available: none registered"):
        registry.get("hg38")


def test_built_index_aligns_a_read(built: ReferenceRegistry) -> None:
    info = built.get("tiny")
    # the preset is not stored in the .mmi: give it when loading, as the pipeline does
    aligner = mappy.Aligner(str(info.index_path), preset=info.preset)
    assert aligner, "the index could not be loaded"
    genome = {name: aligner.seq(name) for name in aligner.seq_names}
    assert len(genome["chr1"]) == 30_000
    # a spliced read: the last 60 bases of exon 1 of GA, then the first 60 of exon 2
    seq = genome["chr1"][1440:1500] + genome["chr1"][2000:2060]
    hits = list(aligner.map(seq))
    assert hits, "no alignment"
    hit = hits[0]
    assert (hit.ctg, hit.r_st, hit.r_en, hit.strand) == ("chr1", 1440, 2060, 1)
    assert "N" in hit.cigar_str  # the intron is skipped
    rc = mappy.revcomp(genome["chr2"][200:320])
    hit2 = next(iter(aligner.map(rc)))
    assert (hit2.ctg, hit2.r_st, hit2.r_en, hit2.strand) == ("chr2", 200, 320, -1)


@pytest.mark.parametrize(
    ("fasta_text", "gtf_key", "message"),
    [
        (">chr1\nACGTXX\n", "gtf", "bad.fa, line 2: invalid character 'X'"),
        (None, "bad_gtf", "tiny.v1.gtf, line 1: expected 9 tab-separated columns"),
        (None, "chrom_gtf", "gene GX is on 'chrUn', which the genome does not have"),
        (None, "long_gtf", "gene GY ends at 8001, past the end of 'chr2' (8000 bp)"),
    ],
)
def test_malformed_input_is_refused_and_leaves_nothing(
    tmp_path: Path,
    sources: dict[str, Path],
    fasta_text: str | None,
    gtf_key: str,
    message: str,
) -> None:
    sources["bad_gtf"].write_text("chr1 T exon 1 10 . + . gene_id A;\n")
    fasta = sources["fasta"]
    if fasta_text is not None:
        fasta = sources["bad_fasta"]
        fasta.write_text(fasta_text)
    registry = ReferenceRegistry(tmp_path / "refs")
    with pytest.raises(ValidationError) as err:
        registry.add("broken", fasta, [(GTF_NAME, sources[gtf_key])])
    assert message in err.value.message
    assert registry.list() == []
    assert _visible(registry.root) == []  # no .building-* folder, no half reference


def test_invalid_names_are_refused(tmp_path: Path, sources: dict[str, Path]) -> None:
    registry = ReferenceRegistry(tmp_path / "refs")
    for name in ("", "../evil", ".hidden", "a/b", "x" * 129):
        with pytest.raises(ValidationError, match="name: "):
            registry.add(name, sources["fasta"], [(GTF_NAME, sources["gtf"])])
    with pytest.raises(ValidationError, match="gtf: at least one annotation"):
        registry.add("ok", sources["fasta"], [])
    with pytest.raises(ValidationError, match="is not a valid annotation name"):
        registry.add("ok", sources["fasta"], [("../x.gtf", sources["gtf"])])
    assert _visible(registry.root) == []


def test_replacing_keeps_the_old_reference_when_the_new_build_fails(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    registry = ReferenceRegistry(tmp_path / "refs")
    old = registry.add("g", sources["fasta"], [(GTF_NAME, sources["gtf"])])
    with pytest.raises(ValidationError):
        registry.add("g", sources["fasta_v2"], [(GTF_NAME, sources["chrom_gtf"])])
    kept = registry.get("g")
    assert kept.fasta_sha256 == old.fasta_sha256 and kept.built_ms == old.built_ms
    assert kept.fasta_path.read_bytes() == sources["fasta"].read_bytes()
    assert _visible(registry.root) == ["g"]
    # a successful rebuild replaces it whole, and the old folder is gone
    new = registry.add("g", sources["fasta_v2"], [("tiny.v2.gtf", sources["gtf2"])])
    assert new.fasta_sha256 == sha256_file(sources["fasta_v2"])
    assert registry.available() == {"g": ["tiny.v2.gtf"]}
    assert _visible(registry.root) == ["g"]
    # and a further annotation can be added to it in place
    registry.add_annotation("g", GTF_NAME, sources["gtf"])
    assert registry.available() == {"g": [GTF_NAME, "tiny.v2.gtf"]}
    assert registry.resolve("g", GTF_NAME).load_gene_model().gene_ids == ["GA", "GB", "GC"]


def test_cli_add_and_list(
    tmp_path: Path, sources: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "cli-refs"
    rc = ref_cli.main(
        [
            "--root",
            str(root),
            "add",
            "tiny",
            "--fasta",
            str(sources["fasta"]),
            "--gtf",
            str(sources["gtf"]),
            "--gtf",
            str(sources["gtf2"]),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == "tiny: 2 sequences, 38,000 bp, annotations: tiny.v1.gtf, tiny.v2.gtf"
    assert "building the minimap2 index" in err
    assert ReferenceRegistry(root).available() == {"tiny": ["tiny.v1.gtf", "tiny.v2.gtf"]}

    assert ref_cli.main(["--root", str(root), "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "genome", "bp"]
    assert len(lines) == 2
    row = lines[1].split()
    assert row[0] == "tiny" and row[1] == "38,000"
    assert lines[1].endswith("tiny.v1.gtf, tiny.v2.gtf")

    # errors are one line on stderr and exit code 2, never a traceback
    missing = tmp_path / "missing.fa"
    rc = ref_cli.main(
        ["--root", str(root), "add", "x", "--fasta", str(missing), "--gtf", str(sources["gtf"])]
    )
    assert rc == 2
    assert capsys.readouterr().err.strip() == f"error: '{missing}' does not exist or is not a file"
    rc = ref_cli.main(
        [
            "--root",
            str(root),
            "add",
            "x",
            "--fasta",
            str(sources["fasta"]),
            "--gtf",
            str(sources["chrom_gtf"]),
        ]
    )
    assert rc == 2 and "chrUn" in capsys.readouterr().err
    assert ReferenceRegistry(root).available() == {"tiny": ["tiny.v1.gtf", "tiny.v2.gtf"]}


def _big_fasta(path: Path, bases: int) -> Path:
    """A random genome big enough that indexing it takes a few seconds."""
    rng = np.random.default_rng(3)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, bases)]
    lines = seq[: bases - bases % 60].reshape(-1, 60)
    with open(path, "wb") as fh:
        for chrom, part in enumerate(np.array_split(lines, 2)):
            fh.write(f">chr{chrom + 1}\n".encode())
            fh.write(np.hstack([part, np.full((len(part), 1), ord("\n"), np.uint8)]).tobytes())
    return path


def _start_add(root: Path, fasta: Path, gtf: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "genejobs.cli", "ref", "--root", str(root), "add", "tiny"]
    cmd += ["--fasta", str(fasta), "--gtf", str(gtf)]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _wait_for(child: subprocess.Popen[str], text: str) -> list[str]:
    said = []
    assert child.stderr is not None
    for line in child.stderr:
        said.append(line)
        if text in line:
            return said
    raise AssertionError(f"never said {text!r}: {said}")


def _wait_until(condition: Callable[[], object]) -> None:
    for _ in range(200):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _index_builders(root: Path) -> list[int]:
    """Processes still building an index under ``root``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "genejobs.references.index" in cmdline and str(root) in cmdline:
                pids.append(int(proc.name))
    return pids


def test_an_interrupted_add_registers_nothing_and_keeps_the_old_one(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    root = tmp_path / "refs"
    registry = ReferenceRegistry(root)
    registry.add("tiny", sources["fasta"], [(GTF_NAME, sources["gtf"])])
    manifest = (root / "tiny" / "manifest.json").read_bytes()
    big = _big_fasta(tmp_path / "big.fa", 15_000_000)
    gtf = _gtf(tmp_path / "big.gtf", [("chr1", 1001, 1500, "+", "GA")])

    # SIGTERM while minimap2 indexes: the build folder and the index process go.
    child = _start_add(root, big, gtf)
    said = _wait_for(child, "building the minimap2 index")
    assert any(re.search(r"big.fa: [1-9]0%", line) for line in said), said  # progress
    _wait_until(lambda: _index_builders(root))
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143
    assert err.strip().endswith("terminated: nothing was registered")
    assert "Traceback" not in err
    assert sorted(p.name for p in root.iterdir()) == ["tiny"]
    assert (root / "tiny" / "manifest.json").read_bytes() == manifest
    assert not _index_builders(root)

    # SIGKILL: nothing can clean up at once, the index process dies with its parent,
    # and the next add removes the abandoned folder.
    child = _start_add(root, big, gtf)
    _wait_for(child, "building the minimap2 index")
    child.kill()
    child.wait(timeout=30)
    _wait_until(lambda: not _index_builders(root))
    assert [p.name for p in root.iterdir() if p.name.startswith(".building-")]
    assert ReferenceRegistry(root).available() == {"tiny": [GTF_NAME]}
    registry.add("other", sources["fasta"], [(GTF_NAME, sources["gtf"])])
    assert sorted(p.name for p in root.iterdir()) == ["other", "tiny"]


def test_beds_are_registered_and_offered(tmp_path: Path, sources: dict[str, Path]) -> None:
    from genejobs.jobs.browse import reference_catalogue

    registry = ReferenceRegistry(tmp_path / "refs")
    with pytest.raises(ValidationError, match=r"bed\[0\]"):
        registry.add("b", sources["fasta"], [(GTF_NAME, sources["gtf"])], beds=("ftp://x/y",))
    info = registry.add(
        "b", sources["fasta"], [(GTF_NAME, sources["gtf"])], beds=("s3a://bucket/genes.bed",)
    )
    assert info.beds == ("s3a://bucket/genes.bed",)
    (entry,) = reference_catalogue(registry.available(), registry)
    assert entry["name"] == "b" and entry["annotations"] == [GTF_NAME]
    assert entry["beds"] == ["s3a://bucket/genes.bed"]
    assert entry["genome_size"] == info.genome_size and entry["genes"] > 0


def test_dry_run_names_the_samples_the_cache_will_answer(
    tmp_path: Path, sources: dict[str, Path]
) -> None:
    """A sample aligned before (same inputs, reference, adapter) is reported as cached."""
    import numpy as np

    from genejobs.config import Settings
    from genejobs.jobs.dryrun import dry_run
    from genejobs.jobs.run.cache import SampleCache, sample_cache_key, sample_inputs
    from genejobs.jobs.service import JobService
    from genejobs.jobs.store.auth import Principal
    from genejobs.pipeline.records import (
        CountStats,
        ReadRun,
        ReadStats,
        SampleParams,
        SampleResult,
        SampleSpec,
    )
    from genejobs.storage import Storage

    data = tmp_path / "data"
    data.mkdir()
    for s in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            (data / f"{s}_R{mate}.fq.gz").write_bytes(
                gzip.compress(f"@r/{mate}\nACGT\n+\nIIII\n".encode())
            )
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(tmp_path / "home"),
            "GENEJOBS_ALLOWED_ROOTS": str(data),
            "GENEJOBS_REFERENCE_ROOT": str(tmp_path / "refs"),
        },
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
    )
    registry = ReferenceRegistry(settings.reference_root)
    info = registry.add("tiny", sources["fasta"], [(GTF_NAME, sources["gtf"])])
    storage = Storage.from_settings(settings)
    service = JobService(settings, storage=storage, references=registry.available)
    admin = Principal(user="u", role="admin", projects=("p",))
    sample = SampleSpec("W1", "W", (ReadRun(*(str(data / f"W1_R{m}.fq.gz") for m in (1, 2))),))
    key = sample_cache_key(
        sample,
        sample_inputs(storage, sample),
        fasta_sha256=info.fasta_sha256,
        gtf_sha256=info.annotations[GTF_NAME].gtf_sha256,
        params=SampleParams(),
    )
    genes = ["GA", "GB", "GC"]
    SampleCache(settings.sample_cache_root).put(
        key,
        SampleResult(
            "W1",
            genes,
            {
                lt: np.zeros(3, dtype=np.int64)
                for lt in ("fr-unstranded", "fr-firststrand", "fr-secondstrand")
            },
            ReadStats(pairs_in=1),
            CountStats(),
        ),
    )
    body = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": g,
                "group_inputs": [
                    {
                        "sample_name": s,
                        "files": [str(data / f"{s}_R1.fq.gz"), str(data / f"{s}_R2.fq.gz")],
                    }
                    for s in (f"{g}1", f"{g}2")
                ],
            }
            for g in ("K", "W")
        ],
        "ref": "tiny",
        "gtf": GTF_NAME,
        "output": str(data / "out"),
    }
    got = dry_run(service, principal=admin, project_id="p", body=body)
    assert {s["sample_name"]: s["cached"] for s in got["samples"]} == {
        "K1": False,
        "K2": False,
        "W1": True,
        "W2": False,
    }
    assert got["estimate_ms"] is None and got["measured_jobs"] == 0  # nothing finished here
    # with another adapter the counts would differ: not cached
    again = dry_run(service, principal=admin, project_id="p", body=body | {"adapt": "ACGT"})
    assert not any(s["cached"] for s in again["samples"])
    service.close()
