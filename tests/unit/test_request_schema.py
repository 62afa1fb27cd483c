"""The request schema: one model validates bodies and documents them, in the contract's words."""

from __future__ import annotations

import copy

import pytest

from genejobs.errors import Unsupported, ValidationError
from genejobs.jobs.request.schema import MAX_ADAPTER_CHARS, SubmitRequest
from genejobs.jobs.request.validation import validate_request

REFS = {"hg19": ["gencode.v17.annotation.gtf"]}


def body() -> dict:
    def sample(name: str) -> dict:
        return {
            "sample_name": name,
            "files": [f"s3a://diff-expr/{name}_R1.fastq.gz", f"s3a://diff-expr/{name}_R2.fq.gz"],
        }

    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {"group_name": "K", "group_inputs": [sample("K1"), sample("K2")]},
            {"group_name": "W", "group_inputs": [sample("W1"), sample("W2")]},
        ],
        "adapt": "CATGATTGATGGTGCCTACAG",
        "ref": "hg19",
        "gtf": "gencode.v17.annotation.gtf",
        "is_export_qc": True,
        "bed": "s3a://diff-expr/hg19_rRNA.bed",
        "library_type": "fr-firststrand",
        "output": "s3a://diff-expr/out",
    }


def messages(req: dict) -> list[str]:
    with pytest.raises(ValidationError) as err:
        validate_request(req, job_id="J1", references=REFS)
    return err.value.message.split("; ")


def test_a_valid_body_becomes_the_spec_and_the_stored_request():
    req = body()
    req["name"] = "liver: treated vs control"
    spec, stored = validate_request(req, job_id="J1", references=REFS)
    assert stored["output"] == "s3a://diff-expr/out/J1.csv"
    assert {k: v for k, v in stored.items() if k != "output"} == {
        k: v for k, v in req.items() if k != "output"
    }
    assert spec.name == "liver: treated vs control"
    assert [s.name for s in spec.samples] == ["K1", "K2", "W1", "W2"]
    assert spec.samples[0].runs[0].r2.endswith(".fq.gz")
    assert spec.artifacts_uri == "s3a://diff-expr/out/J1"


def test_every_field_problem_is_reported_at_once_with_its_path():
    req = body()
    req["inputs"][1]["group_inputs"][0]["files"][1] = "s3a://diff-expr/W1_R2.bam"
    req["inputs"][0]["group_inputs"][1]["sample_name"] = "2K"
    req["library_type"] = "fr-reverse"
    req["adapt"] = "A" * (MAX_ADAPTER_CHARS + 1)
    req["is_export_qc"] = "yes"
    assert messages(req) == [
        "inputs[0].group_inputs[1].sample_name: must start with a letter, then letters, "
        "digits, '_' or '-', 1-128 characters",
        "inputs[1].group_inputs[0].files[1]: 's3a://diff-expr/W1_R2.bam' must be a FASTQ "
        "file: .fastq.gz or .fq.gz (recommended), or plain .fastq or .fq",
        f"adapt: must be at most {MAX_ADAPTER_CHARS} characters",
        "is_export_qc: must be a boolean (true or false)",
        "library_type: must be one of fr-unstranded, fr-firststrand, fr-secondstrand or auto",
    ]


def test_rules_between_fields_are_reported_together():
    req = body()
    req["inputs"][1]["group_name"] = "K"
    req["inputs"][1]["group_inputs"][1] = copy.deepcopy(req["inputs"][0]["group_inputs"][0])
    req.pop("bed")
    req["comparisons"] = [{"control": "K", "treatment": "Z"}]
    assert messages(req) == [
        "inputs[1].group_name: 'K' is used by another group",
        "inputs[1].group_inputs[1].sample_name: 'K1' is used by another sample",
        "inputs[1].group_inputs[1].files[0]: 's3a://diff-expr/K1_R1.fastq.gz' is already used "
        "by another sample",
        "inputs[1].group_inputs[1].files[1]: 's3a://diff-expr/K1_R2.fq.gz' is already used "
        "by another sample",
        "comparisons[0].treatment: 'Z' is not one of the groups (K, K)",
        "bed: is required when is_export_qc is true",
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", "x" * 129, "name: must be at most 128 characters"),
        (
            "name",
            "a\x1bb",
            "name: must be printable text on one line (no control characters or line separators)",
        ),
        ("output", "s3a://diff-expr/" + "o" * 2048, "output: must be at most 2048 characters"),
        ("ref", "r" * 257, "ref: must be at most 256 characters"),
        ("gene_sets", "", "gene_sets: must not be empty"),
        ("colour", "red", "colour: unknown field (allowed: adapt, bed, coefficient, comparisons"),
        ("inputs", {}, "inputs: must be an array"),
        ("comparisons", [], "comparisons: must be a non-empty array of {control, treatment}"),
    ],
)
def test_free_text_and_arrays_are_bounded_with_a_message(field, value, expected):
    req = body()
    req[field] = value
    assert messages(req)[0].startswith(expected)


def test_an_unknown_job_type_is_unsupported_and_a_non_object_is_named():
    with pytest.raises(Unsupported, match="job_type: 'DNA_SEQ' is not supported"):
        validate_request(body() | {"job_type": "DNA_SEQ"}, job_id="J", references=REFS)
    assert messages([1, 2]) == ["body: must be a JSON object"]


def test_the_openapi_schema_carries_what_a_form_needs():
    schema = SubmitRequest.model_json_schema()
    props = schema["properties"]
    assert props["library_type"]["enum"] == [
        "fr-unstranded",
        "fr-firststrand",
        "fr-secondstrand",
        "auto",
    ]
    assert props["adapt"]["anyOf"][0]["maxLength"] == MAX_ADAPTER_CHARS
    assert all(p.get("description") for p in props.values())
    assert schema["additionalProperties"] is False


def test_a_stored_request_is_rebuilt_as_accepted_even_if_rules_tightened_since():
    from genejobs.jobs.request.spec import spec_from_request

    _, stored = validate_request(body(), job_id="J1", references=REFS)
    stored["inputs"][0]["group_inputs"].pop()  # one sample: refused at submit today
    stored["adapt"] = "A" * (MAX_ADAPTER_CHARS + 5)
    spec = spec_from_request(stored, job_id="J1")
    assert [s.name for s in spec.samples] == ["K1", "W1", "W2"]
    assert spec.adapter == "A" * (MAX_ADAPTER_CHARS + 5)
    assert spec.table_uri == "s3a://diff-expr/out/J1.csv" and spec.library_type is not None
