"""A sample gives files (one paired run) or runs (lanes, re-sequencing; paired or single-end)."""

from __future__ import annotations

import pytest

from genejobs.errors import ValidationError
from genejobs.jobs.request.validation import validate_request

REFS = {"hg19": ["g.gtf"]}


def req(*samples: dict) -> dict:
    groups = [
        {"group_name": "K", "group_inputs": list(samples[:2])},
        {"group_name": "W", "group_inputs": list(samples[2:])},
    ]
    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": groups,
        "ref": "hg19",
        "gtf": "g.gtf",
        "output": "s3a://b/out",
    }


def paired(name: str, lanes: int = 1) -> dict:
    runs = [
        [f"s3a://b/{name}_L{k}_R1.fq.gz", f"s3a://b/{name}_L{k}_R2.fq.gz"] for k in range(lanes)
    ]
    return {"sample_name": name, "runs": runs}


def single(name: str, lanes: int = 1) -> dict:
    return {"sample_name": name, "runs": [[f"s3a://b/{name}_L{k}.fastq"] for k in range(lanes)]}


def messages(body: dict) -> list[str]:
    with pytest.raises(ValidationError) as err:
        validate_request(body, job_id="J", references=REFS)
    return err.value.message.split("; ")


def test_runs_become_the_samples_runs_in_order():
    spec, stored = validate_request(
        req(
            paired("A", 4),
            paired("B"),
            {"sample_name": "C", "files": ["s3a://b/C_R1.fastq.gz", "s3a://b/C_R2.fastq.gz"]},
            paired("D", 2),
        ),
        job_id="J",
        references=REFS,
    )
    a = spec.samples[0]
    assert [r.r1 for r in a.runs] == [f"s3a://b/A_L{k}_R1.fq.gz" for k in range(4)]
    assert a.paired and spec.samples[2].r2 == "s3a://b/C_R2.fastq.gz"
    assert stored["inputs"][0]["group_inputs"][0]["runs"][3][1] == "s3a://b/A_L3_R2.fq.gz"


def test_a_single_end_job():
    spec, _ = validate_request(
        req(single("A", 2), single("B"), single("C"), single("D")), job_id="J", references=REFS
    )
    assert all(not s.paired for s in spec.samples)
    assert spec.samples[0].runs[1].r2 is None


def test_a_job_is_single_end_or_paired_as_a_whole_naming_the_samples():
    assert messages(req(single("A"), paired("B"), single("C"), paired("D"))) == [
        "inputs: a job is single-end or paired as a whole, but samples A, C are single-end "
        "and B, D paired"
    ]
    mixed = {
        "sample_name": "A",
        "runs": [["s3a://b/x_R1.fq"], ["s3a://b/y_R1.fq", "s3a://b/y_R2.fq"]],
    }
    assert messages(req(mixed, paired("B"), paired("C"), paired("D"))) == [
        "inputs[0].group_inputs[0].runs: mixes paired runs ([read 1, read 2]) and single-end "
        "runs ([read]), but a job is single-end or paired as a whole"
    ]


def test_files_or_runs_exactly_one_and_none_with_counts():
    both = {**paired("A"), "files": ["s3a://b/q_R1.fq.gz", "s3a://b/q_R2.fq.gz"]}
    neither = {"sample_name": "B"}
    assert messages(req(both, neither, paired("C"), paired("D"))) == [
        "inputs[0].group_inputs[0]: give files (one paired run) or runs, not both",
        "inputs[0].group_inputs[1].files: is required (or runs, or a counts table: counts)",
    ]
    counts = req(paired("A"), {"sample_name": "B"}, {"sample_name": "C"}, {"sample_name": "D"})
    counts.update(counts="s3a://b/counts.tsv")
    assert messages(counts) == [
        "inputs[0].group_inputs[0].runs: not allowed with counts (the job reads the counts table)"
    ]


def test_every_file_appears_once_in_a_job():
    a = paired("A", 2)
    a["runs"][1][0] = a["runs"][0][0]
    b = paired("B")
    b["runs"][0][1] = "s3a://b/C_L0_R1.fq.gz"
    assert messages(req(a, b, paired("C"), paired("D"))) == [
        "inputs[0].group_inputs[0].runs[1][0]: 's3a://b/A_L0_R1.fq.gz' is also runs[0][0] of "
        "this sample",
        "inputs[1].group_inputs[0].runs[0][0]: 's3a://b/C_L0_R1.fq.gz' is already used by "
        "another sample",
    ]


def test_run_shapes_are_named():
    a = {"sample_name": "A", "runs": [["s3a://b/1.fq", "s3a://b/2.fq", "s3a://b/3.fq"]]}
    b = {"sample_name": "B", "runs": []}
    c = {"sample_name": "C", "runs": [["s3a://b/c.txt"]]}
    assert messages(req(a, b, c, paired("D"))) == [
        "inputs[0].group_inputs[0].runs[0]: a run is [read 1, read 2] (paired) or [read] "
        "(single-end)",
        "inputs[0].group_inputs[1].runs: must list 1 to 64 runs, each [read 1, read 2] or [read]",
        "inputs[1].group_inputs[0].runs[0][0]: 's3a://b/c.txt' must be a FASTQ file: .fastq.gz "
        "or .fq.gz (recommended), or plain .fastq or .fq",
    ]


def test_inputs_or_a_samplesheet_is_required():
    body = req(paired("A"), paired("B"), paired("C"), paired("D"))
    del body["inputs"]
    body["adapt"] = "XYZ"
    assert messages(body) == [
        "inputs: is required (or give a samplesheet)",
        "adapt: must be a DNA sequence of the letters A, C, G, T or N",
    ]
