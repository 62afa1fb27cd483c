"""The runner's outcome values and the messages a user reads from them."""

from __future__ import annotations

from distributed.scheduler import KilledWorker

from genejobs.errors import InputError
from genejobs.jobs.run.outcomes import internal_error, sample_failed, statistics_failed


def test_a_pipeline_error_names_the_sample_once() -> None:
    named = sample_failed("j1", "K1", InputError("sample 'K1': file 'x' ends early"))
    assert (named.message, named.sample) == ("sample 'K1': file 'x' ends early", "K1")
    plain = sample_failed("j1", "K1", InputError("file 'x' ends early"))
    assert plain.message == "sample 'K1': file 'x' ends early"


def test_a_programming_error_is_internal_and_keeps_its_details_out() -> None:
    failed = sample_failed("j1", "K1", KeyError("secret"))
    assert failed.message.startswith("sample 'K1': internal error") and "j1" in failed.message
    assert "secret" not in failed.message and "KeyError" not in failed.message
    assert "secret" not in statistics_failed("j1", KeyError("secret")).message
    assert internal_error("j1").sample is None and "j1" in internal_error("j1").message


def test_a_worker_that_kept_dying_is_named_with_the_likely_reason() -> None:
    failed = sample_failed("j1", "K1", KilledWorker("task", "tcp://w:1", 3))
    assert "Dask worker processing it died" in failed.message
    assert "out of memory" in failed.message


def test_statistics_errors_say_where_they_happened() -> None:
    assert statistics_failed("j1", InputError("no genes")).message == "statistics: no genes"
