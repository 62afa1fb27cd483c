"""Covariates, shrink, lfc_threshold and counts at the door: every problem at once, named."""

from __future__ import annotations

import pytest

from genejobs.errors import ValidationError
from genejobs.jobs.request.schema import SubmitRequest
from genejobs.jobs.request.validation import validate_request

REFS = {"hg38": ["gencode.v28.annotation.gtf"]}


def body(batches: list[dict | None] | None = None, *, counts: bool = False, **extra) -> dict:
    names = ["K1", "K2", "K3", "W1", "W2", "W3"]
    batches = batches or [None] * len(names)

    def sample(name: str, cov: dict | None) -> dict:
        out: dict = {"sample_name": name}
        if not counts:
            out["files"] = [f"s3a://lab/{name}_R1.fastq.gz", f"s3a://lab/{name}_R2.fastq.gz"]
        if cov is not None:
            out["covariates"] = cov
        return out

    samples = [sample(n, c) for n, c in zip(names, batches, strict=True)]
    req = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {"group_name": "K", "group_inputs": samples[:3]},
            {"group_name": "W", "group_inputs": samples[3:]},
        ],
        "output": "s3a://lab/out",
        **extra,
    }
    if counts:
        req["counts"] = "s3a://lab/counts.tsv"
    else:
        req |= {"ref": "hg38", "gtf": "gencode.v28.annotation.gtf"}
    return req


def messages(req: dict) -> list[str]:
    with pytest.raises(ValidationError) as err:
        validate_request(req, job_id="J", references=REFS)
    return err.value.message.split("; ")


def b(*levels: str) -> list[dict | None]:
    return [{"batch": lv} for lv in levels]


def test_covariates_become_the_spec_in_the_order_given() -> None:
    covs = [{"batch": x, "donor": f"d{i % 3}"} for i, x in enumerate("121212")]
    spec, stored = validate_request(body(covs), job_id="J", references=REFS)
    assert spec.covariates == ("batch", "donor")
    assert spec.covariate_levels()[0] == (
        "batch",
        dict(zip(["K1", "K2", "K3", "W1", "W2", "W3"], "121212", strict=True)),
    )
    assert stored["inputs"][0]["group_inputs"][0]["covariates"] == {"batch": "1", "donor": "d0"}


def test_a_confounded_covariate_is_named() -> None:
    assert messages(body(b("b1", "b1", "b1", "b2", "b2", "b2"))) == [
        "covariates.batch: batch is confounded with group (each batch holds one group only: "
        "b1 → K, b2 → W), so the groups cannot be told apart from the batch effect"
    ]
    # Three batches, each within one group: still confounded.
    assert "batch is confounded with group" in messages(body(b("a", "a", "c", "d", "d", "d")))[0]


def test_missing_single_level_and_rank() -> None:
    covs = b("b1", "b2", "b1", "b2", "b1", "b2")
    covs[4] = {}
    assert messages(body(covs)) == [
        "inputs[1].group_inputs[1].covariates: missing 'batch' (every sample must carry the "
        "same covariates: batch)"
    ]
    assert messages(body(b("b1", "b1", "b1", "b1", "b1", "b1"))) == [
        "covariates.batch: has one level ('b1') on every sample, so it explains nothing: drop it"
    ]
    nested = [{"batch": x, "lane": y} for x, y in zip("112112", "ppqppq", strict=True)]
    assert messages(body(nested)) == [
        "covariates.lane: the design ~ batch + lane + group is not of full rank: lane is a "
        "combination of the covariates before it (e.g. nested in another): drop it"
    ]


def test_a_paired_design_is_accepted() -> None:
    donors = [{"donor": f"d{i}"} for i in (1, 2, 3, 1, 2, 3)]
    spec, _ = validate_request(body(donors), job_id="J", references=REFS)
    assert spec.covariates == ("donor",)


def test_too_few_residual_degrees_of_freedom() -> None:
    # 6 samples, intercept + 4 donor columns + group = 6 coefficients: nothing left.
    donors = [{"donor": f"d{i}"} for i in (1, 2, 3, 4, 5, 1)]
    msg = messages(body(donors))
    assert msg == [
        "covariates: the design ~ donor + group has 6 coefficients for 6 samples, leaving 0 "
        "residual degrees of freedom (at least 1 needed to estimate dispersions): add "
        "samples or drop a covariate"
    ]


def test_shrink_and_threshold_fields() -> None:
    spec, _ = validate_request(body(shrink=True, lfc_threshold=1), job_id="J", references=REFS)
    assert spec.shrink is True and spec.lfc_threshold == 1.0
    assert messages(body(shrink="yes", lfc_threshold=-0.5)) == [
        "shrink: must be a boolean (true or false)",
        "lfc_threshold: must be at least 0.0",
    ]
    assert messages(body(lfc_threshold="1"))[0] == "lfc_threshold: must be a number"


def test_counts_instead_of_files() -> None:
    spec, _ = validate_request(body(counts=True), job_id="J", references=REFS)
    assert spec.counts == "s3a://lab/counts.tsv" and spec.ref is None
    both = body(counts=True)
    both["inputs"][0]["group_inputs"][0]["files"] = ["s3a://lab/a.fastq.gz", "s3a://lab/b.fastq.gz"]
    both |= {"is_export_qc": True, "adapt": "ACGT", "ref": "hg38", "quantifier": "transcripts"}
    assert messages(both) == [
        "inputs[0].group_inputs[0].files: not allowed with counts (the job reads the counts table)",
        "gtf: is required (with counts, give both or neither)",
        "is_export_qc: QC needs reads, and a job from a counts table has none",
        "adapt: a job from a counts table has no reads to trim",
        "quantifier: a job from a counts table has no reads to quantify",
    ]
    neither = body()
    del neither["inputs"][1]["group_inputs"][2]["files"]
    assert messages(neither) == [
        "inputs[1].group_inputs[2].files: is required (or runs, or a counts table: counts)"
    ]


def test_the_schema_documents_the_new_fields() -> None:
    props = SubmitRequest.model_json_schema()["properties"]
    for name in ("shrink", "lfc_threshold", "counts"):
        assert "(addition)" in props[name]["description"]
    assert props["lfc_threshold"]["minimum"] == 0.0
    sample = SubmitRequest.model_json_schema()["$defs"]["SampleRequest"]["properties"]
    assert "~ <covariates in the order given> + group" in sample["covariates"]["description"]
