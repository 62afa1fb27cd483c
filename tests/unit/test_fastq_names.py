"""File names -> samples, runs and mates; every FASTQ left over is named with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genejobs.jobs.request.fastq_names import is_fastq_name, pair_files, read_name

CASES = json.loads((Path(__file__).parents[1] / "data" / "pairing_cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_pairing_finds_the_samples_and_names_every_leftover(case):
    found = pair_files(case["files"], single_end=case["single_end"])
    assert [
        {"name": s.name, "group": s.group, "runs": [list(r) for r in s.runs]} for s in found.samples
    ] == case["samples"]
    assert [[o.uri, o.reason] for o in found.orphans] == case["orphans"]
    # nothing silently dropped: every FASTQ is in a sample or an orphan
    used = {u for s in found.samples for r in s.runs for u in r} | {o.uri for o in found.orphans}
    assert used == {f for f in case["files"] if is_fastq_name(f)}


def test_suffixes_any_case_and_what_is_not_fastq():
    for name in ("a.fastq.gz", "a.FQ.GZ", "a.fastq", "a.fq", "s3a://b/x/a_R1.fq.gz"):
        assert is_fastq_name(name), name
    for name in ("a.bam", "a.fastq.bz2", "a.fq.gz.md5", "fastq.gz/readme.txt", "a.fa.gz"):
        assert not is_fastq_name(name), name


def test_illumina_name_parts_and_the_mate_it_expects():
    n = read_name("s3a://lab/Liver1_S12_L003_R2_001.fastq.gz")
    assert n is not None
    assert (n.stem, n.snum, n.lane, n.read, n.chunk) == ("Liver1", "12", "003", 2, "001")
    assert n.mate_name() == "Liver1_S12_L003_R1_001.fastq.gz"
    sra = read_name("/d/SRR6354710_1.fastq")
    assert sra is not None and (sra.stem, sra.read, sra.mate_name()) == (
        "SRR6354710",
        1,
        "SRR6354710_2.fastq",
    )


def test_mates_must_share_style_and_a_duplicate_name_is_left_over():
    found = pair_files(["/d/X_R1.fastq.gz", "/d/X_2.fastq.gz", "/d/X_R1.fq.gz"])
    assert found.samples == []
    reasons = {o.uri: o.reason for o in found.orphans}
    assert reasons["/d/X_R1.fq.gz"] == "same sample, lane and read as 'X_R1.fastq.gz'"
    assert reasons["/d/X_R1.fastq.gz"] == "read 1 without its read 2: no 'X_R2.fastq.gz'"
    assert reasons["/d/X_2.fastq.gz"] == "read 2 without its read 1: no 'X_1.fastq.gz'"


def test_sample_names_follow_the_request_rule():
    found = pair_files(["/d/1 sample.x_R1.fq.gz", "/d/1 sample.x_R2.fq.gz"])
    assert [s.name for s in found.samples] == ["S1_sample_x"]
