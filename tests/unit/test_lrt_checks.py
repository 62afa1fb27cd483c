"""test, reduced, interactions and coefficient at the door: each problem named, the spec built."""

from __future__ import annotations

from test_design_checks import REFS, b, body, messages

from genejobs.jobs.request.validation import validate_request


def test_an_lrt_becomes_the_spec() -> None:
    spec, _ = validate_request(
        body(b("1", "2", "1", "2", "1", "2"), test="LRT", reduced=["batch"]),
        job_id="J",
        references=REFS,
    )
    assert (spec.test, spec.reduced, spec.coefficient) == ("LRT", ("batch",), None)


def test_a_reduced_design_must_be_nested_and_smaller() -> None:
    covs = b("1", "2", "1", "2", "1", "2")
    assert messages(body(covs, test="LRT", reduced=["donor"])) == [
        "reduced: 'donor' is not a term of the full design ~ batch + group: the reduced "
        "design must be nested in it"
    ]
    assert messages(body(covs, test="LRT", reduced=["group", "batch"]))[0].startswith(
        "reduced: has every term of the full design ~ batch + group"
    )
    assert messages(body(covs, test="LRT"))[0].startswith("reduced: test 'LRT' needs")


def test_wald_takes_no_reduced_design_and_lrt_no_threshold() -> None:
    covs = b("1", "2", "1", "2", "1", "2")
    assert messages(body(covs, reduced=["batch"])) == [
        "reduced: only for test 'LRT' (the test is 'Wald')"
    ]
    assert "test: 'LRT' has no shrinkage or lfc_threshold: use test 'Wald' for those" in (
        messages(body(covs, test="LRT", reduced=["batch"], lfc_threshold=1.0))
    )


def test_interactions_name_known_factors_and_leave_residual_df() -> None:
    covs = b("1", "2", "1", "2", "1", "2")
    assert messages(body(covs, interactions=["donor:group"]))[0].startswith(
        "interactions[0]: 'donor' is not a factor of the design"
    )
    assert messages(body(covs, interactions=["batch"])) == [
        "interactions[0]: must be 'a:b' of two covariate names or 'group'"
    ]
    spec, _ = validate_request(
        body(
            covs,
            interactions=["batch:group"],
            test="LRT",
            reduced=["batch", "group"],
            coefficient="batch[T.2]:group[T.W]",
        ),
        job_id="J",
        references=REFS,
    )
    assert spec.interactions == ("batch:group",)
    assert messages(
        body(
            covs,
            interactions=["batch:group"],
            test="LRT",
            reduced=["batch", "group"],
            coefficient="x",
        )
    ) == [
        "coefficient: 'x' is not a column of the design "
        "(batch[T.2], group[T.W], batch[T.2]:group[T.W])"
    ]
