"""FASTQ reading (runs as one stream; errors name the sample, run and file) and adapter
trimming, paired and single-end.

Trimming is checked against the cutadapt command line run on the same files with
the same settings: the trimmer uses cutadapt's matching, so any difference is ours.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import dnaio
import pytest

from genejobs.errors import InputError
from genejobs.pipeline.reads import ReadChunk, SampleReads
from genejobs.pipeline.records import ReadRun, ReadStats, SampleSpec
from genejobs.pipeline.trim import TRUSEQ_READ1, TRUSEQ_READ2, ReadTrimmer, read2_adapter
from genejobs.storage import Storage


def write_fastq(path: Path, names: list[str], seqs: list[str] | None = None) -> Path:
    seqs = seqs or ["ACGTTGCA" * 5] * len(names)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as fh:
        for name, seq in zip(names, seqs, strict=True):
            fh.write(f"@{name}\n{seq}\n+\n{'I' * len(seq)}\n")
    return path


def sample_reads(tmp_path: Path, *runs: tuple[str, ...]) -> SampleReads:
    """Sample 'S1' made of ``runs`` (file names under ``tmp_path``: one or two per run)."""
    storage = Storage(allowed_roots=(tmp_path,))
    spec = SampleSpec("S1", "g", tuple(ReadRun(*(str(tmp_path / f) for f in run)) for run in runs))
    return SampleReads(storage, spec)


def pairs(tmp_path: Path, r1: str, r2: str, chunk: int = 10) -> list[ReadChunk]:
    return list(sample_reads(tmp_path, (r1, r2)).chunks(chunk))


def names(n: int, suffix: str) -> list[str]:
    return [f"read{i}{suffix}" for i in range(n)]


@pytest.mark.parametrize(
    ("s1", "s2"),
    [("/1", "/2"), ("", ""), (".1", ".2"), ("_1", "_2"), (" 1:N:0:ACGT", " 2:N:0:ACGT")],
)
def test_mate_naming_conventions_are_accepted(tmp_path, s1, s2):
    write_fastq(tmp_path / "a.fq.gz", names(25, s1))
    write_fastq(tmp_path / "b.fq.gz", names(25, s2))
    chunks = pairs(tmp_path, "a.fq.gz", "b.fq.gz")
    assert [len(c.r1) for c in chunks] == [10, 10, 5]
    assert chunks[-1].r1[-1].name.startswith("read24")


def test_plain_uncompressed_fastq_is_read_and_progress_reaches_one(tmp_path):
    write_fastq(tmp_path / "a.fq", names(30, "/1"))
    write_fastq(tmp_path / "b.fq", names(30, "/2"))
    reads = sample_reads(tmp_path, ("a.fq", "b.fq"))
    assert reads.fraction_done == 0.0
    assert sum(len(c.r1) for c in reads.chunks(7)) == 30
    assert reads.pairs_read == 30 and reads.fraction_done == 1.0


@pytest.mark.parametrize(("n1", "n2"), [("read7/1", "read8/2"), ("r1", "r2"), ("x.1", "x.3")])
def test_mismatched_pair_names_name_the_sample_both_files_and_the_pair(tmp_path, n1, n2):
    first = [f"a{i}/1" for i in range(12)] + [n1]
    second = [f"a{i}/2" for i in range(12)] + [n2]
    write_fastq(tmp_path / "a.fq.gz", first)
    write_fastq(tmp_path / "b.fq.gz", second)
    with pytest.raises(InputError) as err:
        pairs(tmp_path, "a.fq.gz", "b.fq.gz")
    msg = str(err.value)
    assert msg.startswith("sample 'S1': read pair 13 does not match")
    assert f"'{n1}'" in msg and f"'{n2}'" in msg
    assert "a.fq.gz" in msg and "b.fq.gz" in msg


@pytest.mark.parametrize(("n1", "n2", "short"), [(25, 23, "b"), (20, 21, "a"), (10, 0, "b")])
def test_a_file_with_fewer_reads_is_named(tmp_path, n1, n2, short):
    write_fastq(tmp_path / "a.fq.gz", names(n1, "/1"))
    write_fastq(tmp_path / "b.fq.gz", names(n2, "/2"))
    with pytest.raises(InputError, match=rf"^sample 'S1': file '[^']*/{short}\.fq\.gz' ends early"):
        pairs(tmp_path, "a.fq.gz", "b.fq.gz")


def test_truncated_gzip_is_named(tmp_path):
    rng = random.Random(5)
    seqs = ["".join(rng.choice("ACGT") for _ in range(60)) for _ in range(3000)]
    write_fastq(tmp_path / "a.fq.gz", names(3000, "/1"), seqs)
    write_fastq(tmp_path / "b.fq.gz", names(3000, "/2"), seqs)
    data = (tmp_path / "b.fq.gz").read_bytes()
    (tmp_path / "cut.fq.gz").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"^sample 'S1': file '[^']*/cut\.fq\.gz' "):
        pairs(tmp_path, "a.fq.gz", "cut.fq.gz", chunk=500)
    # a damaged trailer (CRC) is found at the end, after every read was returned
    bad = bytearray(data)
    bad[-8] ^= 0xFF
    (tmp_path / "crc.fq.gz").write_bytes(bytes(bad))
    with pytest.raises(InputError, match=r"crc\.fq\.gz' is truncated or corrupt"):
        pairs(tmp_path, "a.fq.gz", "crc.fq.gz", chunk=500)


@pytest.mark.parametrize("empty", ["zero-bytes", "gzip-of-nothing"])
def test_empty_files_hold_no_reads(tmp_path, empty):
    for name in ("a.fq.gz", "b.fq.gz"):
        if empty == "zero-bytes":
            (tmp_path / name).write_bytes(b"")
        else:
            write_fastq(tmp_path / name, [])
    with pytest.raises(InputError, match=r"^sample 'S1': file '[^']*/a\.fq\.gz' holds no reads"):
        pairs(tmp_path, "a.fq.gz", "b.fq.gz")


@pytest.mark.parametrize(
    "content",
    [
        b">read0\nACGT\n>read1\nACGT\n",
        b"this is a sample sheet, not reads\n",
        bytes(range(256)) * 8,
    ],
    ids=["fasta", "text", "binary"],
)
def test_non_fastq_content_is_named(tmp_path, content):
    write_fastq(tmp_path / "a.fq.gz", names(5, "/1"))
    with gzip.open(tmp_path / "b.fq.gz", "wb") as fh:
        fh.write(content)
    with pytest.raises(InputError, match=r"^sample 'S1': file '[^']*/b\.fq\.gz' is not"):
        pairs(tmp_path, "a.fq.gz", "b.fq.gz")


def test_read2_adapter_follows_truseq_and_defaults_to_the_same_sequence():
    assert read2_adapter(TRUSEQ_READ1) == TRUSEQ_READ2
    assert read2_adapter(TRUSEQ_READ1[:20].lower()) == TRUSEQ_READ2[:20]
    assert read2_adapter("AGATCGGAAGAGC") == "AGATCGGAAGAGC"  # the shared prefix itself
    assert read2_adapter("CTGTCTCTTATACACATCT") == "CTGTCTCTTATACACATCT"  # Nextera: both reads


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def _simulated_pairs(n: int, read_length: int = 60) -> tuple[list[str], list[str]]:
    """Fragments shorter than the reads run into each mate's own TruSeq adapter."""
    rng = random.Random(11)
    r1, r2 = [], []
    for i in range(n):
        frag = "".join(rng.choice("ACGT") for _ in range(rng.randint(15, 90)))
        a = (frag + TRUSEQ_READ1 + "A" * read_length)[:read_length]
        b = (_revcomp(frag) + TRUSEQ_READ2 + "A" * read_length)[:read_length]
        if i % 7 == 0:  # a sequencing error inside the adapter: within cutadapt's 10%
            j = len(frag) + 5
            if j < read_length:
                a = a[:j] + ("C" if a[j] != "C" else "G") + a[j + 1 :]
        r1.append(a)
        r2.append(b)
    return r1, r2


def test_trimming_matches_cutadapt_on_reads_with_adapters(tmp_path):
    seq1, seq2 = _simulated_pairs(400)
    f1 = write_fastq(tmp_path / "r1.fq", names(400, "/1"), seq1)
    f2 = write_fastq(tmp_path / "r2.fq", names(400, "/2"), seq2)
    min_length = 20
    stats = ReadStats()
    chunk = next(iter(pairs(tmp_path, "r1.fq", "r2.fq", chunk=1000)))
    trimmer = ReadTrimmer(TRUSEQ_READ1, min_length=min_length)
    kept = trimmer(chunk, stats)

    cutadapt = Path(sys.executable).parent / "cutadapt"
    out1, out2, report = tmp_path / "o1.fq", tmp_path / "o2.fq", tmp_path / "report.json"
    subprocess.run(
        [str(cutadapt), "-a", TRUSEQ_READ1, "-A", TRUSEQ_READ2, "-e", "0.1", "-O", "3"]
        + ["-m", str(min_length), "--pair-filter=any", "--json", str(report)]
        + ["-o", str(out1), "-p", str(out2), str(f1), str(f2)],
        check=True,
        capture_output=True,
    )
    with dnaio.open(out1, file2=out2) as reader:
        theirs = [(a.sequence, b.sequence) for a, b in reader]
    ours = [(a.sequence, b.sequence) for a, b in zip(kept.r1, kept.r2, strict=True)]
    assert ours == theirs
    rep = json.loads(report.read_text())
    assert stats.pairs_in == rep["read_counts"]["input"] == 400
    assert stats.pairs_out == rep["read_counts"]["output"]
    assert stats.pairs_too_short == rep["read_counts"]["filtered"]["too_short"] > 0
    # bases cut over every pair (kept or dropped), from cutadapt's trimmed-length histograms
    cut = sum(
        row["len"] * sum(row["counts"])
        for key in ("adapters_read1", "adapters_read2")
        for row in rep[key][0]["three_prime_end"]["trimmed_lengths"]
    )
    assert stats.bases_trimmed == cut
    assert stats.bases_in == rep["basepair_counts"]["input"]
    assert stats.pairs_with_adapter >= max(
        rep["read_counts"]["read1_with_adapter"], rep["read_counts"]["read2_with_adapter"]
    )
    assert not any(TRUSEQ_READ2[:15] in b for _, b in ours)


def test_no_adapter_keeps_reads_and_still_drops_short_pairs():
    long_read = dnaio.SequenceRecord("a", "ACGT" * 10, "I" * 40)
    short_read = dnaio.SequenceRecord("b", "ACGT" * 3, "I" * 12)
    stats = ReadStats()
    out = ReadTrimmer(None, min_length=20)(
        ReadChunk([long_read, long_read], [long_read, short_read]), stats
    )
    assert [r.name for r in out.r1] == ["a"]
    assert stats.pairs_with_adapter == 0 and stats.bases_trimmed == 0
    assert (stats.pairs_in, stats.pairs_out, stats.pairs_too_short) == (2, 1, 1)
    assert stats.bases_in == 40 + 40 + 40 + 12


# -- runs (lanes) as one stream ----------------------------------------------------------


def _lanes(tmp_path: Path, n_lanes: int, per_lane: int, *, paired: bool = True) -> list[tuple]:
    runs = []
    for lane in range(1, n_lanes + 1):
        ids = [f"L{lane}r{i}" for i in range(per_lane)]
        r1 = write_fastq(tmp_path / f"S1_S1_L00{lane}_R1_001.fastq.gz", [f"{n}/1" for n in ids])
        if paired:
            r2 = write_fastq(tmp_path / f"S1_S1_L00{lane}_R2_001.fastq.gz", [f"{n}/2" for n in ids])
            runs.append((r1.name, r2.name))
        else:
            runs.append((r1.name,))
    return runs


@pytest.mark.parametrize("paired", [True, False])
def test_runs_are_read_in_order_as_one_stream(tmp_path, paired):
    runs = _lanes(tmp_path, 3, 7, paired=paired)
    reads = sample_reads(tmp_path, *runs)
    chunks = list(reads.chunks(5, first=2))
    got = [r.name.split("/")[0] for c in chunks for r in c.r1]
    assert got == [f"L{lane}r{i}" for lane in (1, 2, 3) for i in range(7)]
    assert all(c.paired is paired for c in chunks)
    # a chunk never spans two runs: each lane ends with its own short chunk
    assert [len(c) for c in chunks] == [2, 5] + [5, 2] + [5, 2]
    assert reads.pairs_read == 21 and reads.fraction_done == 1.0


def test_a_mismatch_in_one_lane_names_the_sample_run_and_files(tmp_path):
    runs = _lanes(tmp_path, 2, 4)
    write_fastq(tmp_path / "bad_R2.fq.gz", ["L2r0/2", "L2r1/2", "other/2", "L2r3/2"])
    with pytest.raises(InputError) as err:
        list(sample_reads(tmp_path, runs[0], (runs[1][0], "bad_R2.fq.gz")).chunks(10))
    msg = str(err.value)
    assert msg.startswith("sample 'S1' run 2 of 2: read pair 3 does not match")
    assert "S1_S1_L002_R1_001.fastq.gz" in msg and "bad_R2.fq.gz" in msg


def test_an_empty_or_short_lane_is_named_with_its_run(tmp_path):
    runs = _lanes(tmp_path, 2, 4)
    write_fastq(tmp_path / "short_R2.fq.gz", ["L2r0/2"])
    with pytest.raises(InputError, match=r"^sample 'S1' run 2 of 2: file '[^']*short_R2\.fq\.gz' "):
        list(sample_reads(tmp_path, runs[0], (runs[1][0], "short_R2.fq.gz")).chunks(10))
    write_fastq(tmp_path / "empty.fq.gz", [])
    with pytest.raises(
        InputError, match=r"^sample 'S1' run 3 of 3: file '[^']*empty\.fq\.gz' holds"
    ):
        list(
            sample_reads(tmp_path, *_lanes(tmp_path, 2, 4, paired=False), ("empty.fq.gz",)).chunks(
                9
            )
        )


def test_single_end_reads_plain_fastq_and_gzip_alike(tmp_path):
    write_fastq(tmp_path / "a.fq", names(12, ""))
    write_fastq(tmp_path / "b.fastq.gz", names(5, "x"))
    chunks = list(sample_reads(tmp_path, ("a.fq",), ("b.fastq.gz",)).chunks(100))
    assert [len(c) for c in chunks] == [12, 5] and all(c.r2 is None for c in chunks)


def test_single_end_trimming_matches_cutadapt(tmp_path):
    seq1, _ = _simulated_pairs(400)
    f1 = write_fastq(tmp_path / "r1.fq", names(400, ""), seq1)
    stats = ReadStats()
    chunk = next(iter(sample_reads(tmp_path, ("r1.fq",)).chunks(1000)))
    kept = ReadTrimmer(TRUSEQ_READ1, min_length=20)(chunk, stats)
    assert kept.r2 is None
    cutadapt = Path(sys.executable).parent / "cutadapt"
    out, report = tmp_path / "o1.fq", tmp_path / "report.json"
    subprocess.run(
        [str(cutadapt), "-a", TRUSEQ_READ1, "-e", "0.1", "-O", "3", "-m", "20"]
        + ["--json", str(report), "-o", str(out), str(f1)],
        check=True,
        capture_output=True,
    )
    with dnaio.open(out) as reader:
        theirs = [r.sequence for r in reader]
    assert [r.sequence for r in kept.r1] == theirs
    rep = json.loads(report.read_text())
    assert stats.pairs_in == rep["read_counts"]["input"] == 400
    assert stats.pairs_out == rep["read_counts"]["output"]
    assert stats.pairs_too_short == rep["read_counts"]["filtered"]["too_short"] > 0
    assert stats.pairs_with_adapter == rep["read_counts"]["read1_with_adapter"]
    assert stats.bases_in == rep["basepair_counts"]["input"]
