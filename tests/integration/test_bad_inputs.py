"""A tester's bad inputs, kept out for good: each answers its DLI code naming the field.

Extends ``test_api_contract.py`` (which holds one bad request body per validation rule
and the ordinary bad list parameters) with what a tester's run found answering 500 or
nothing: integers beyond 64 bits, an empty time window, and an S3 endpoint that cannot
be reached, at submission and at job time. After each case the service is still
healthy and no table was written. Then schemathesis fuzzes every operation of the
app's own OpenAPI document with a valid token: no 5xx, every answer as documented.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.api import REFS, assert_error, body, call

INT64_MAX = 2**63 - 1
BIG = 2**64  # SQLite and PostgreSQL both stop at 2**63 - 1

# (id, method, path, query, error code, fragments the message must hold)
QUERY_CASES = [
    ("list offset past 64 bits", "/jobs", {"offset": BIG}, "DLI.0001", ["offset"]),
    ("list start past 64 bits", "/jobs", {"start": BIG}, "DLI.0001", ["start"]),
    ("list end huge", "/jobs", {"end": 10**40}, "DLI.0001", ["end"]),
    ("list limit huge", "/jobs", {"limit": BIG}, "DLI.0001", ["limit"]),
    ("statistics start past 64 bits", "/statistics", {"start": BIG}, "DLI.0001", ["start"]),
    ("statistics end past 64 bits", "/statistics", {"end": BIG}, "DLI.0001", ["end"]),
    ("list start after end", "/jobs", {"start": 5, "end": 4}, "DLI.0001", ["start", "end"]),
    (
        "statistics start after end",
        "/statistics",
        {"start": 10, "end": 9},
        "DLI.0001",
        ["start", "end"],
    ),
]


def _healthy(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text


@pytest.mark.parametrize(
    ("case", "path", "query", "code", "fragments"), QUERY_CASES, ids=[c[0] for c in QUERY_CASES]
)
def test_bad_query_parameters_name_the_parameter(world, case, path, query, code, fragments):
    assert_error(call(world, "GET", path, params=query), 400, code, *fragments)
    _healthy(world["client"])


@pytest.mark.parametrize("path", ["/jobs", "/statistics"])
def test_the_largest_64_bit_values_are_accepted(world, path):
    r = call(world, "GET", path, params={"start": INT64_MAX, "end": INT64_MAX})
    assert r.status_code == 200, r.text
    if path == "/jobs":
        r = call(world, "GET", path, params={"offset": INT64_MAX})
        assert r.status_code == 200 and r.json()["jobs"] == [], r.text


def test_openapi_states_the_bounds(world):
    spec = world["client"].get("/openapi.json").json()
    for path, names in (
        ("/v2.0/{project_id}/gene/jobs", {"start", "end", "offset", "limit"}),
        ("/v2.0/{project_id}/gene/statistics", {"start", "end"}),
    ):
        params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        for name in names:
            schema = params[name]
            options = schema.get("anyOf", [schema])
            integer = next(o for o in options if o.get("type") == "integer")
            assert integer.get("maximum") in (INT64_MAX, 100), (path, name, schema)
            assert integer.get("minimum") in (0, 1), (path, name, schema)


# -- an S3 endpoint that cannot be reached ---------------------------------------


def _closed_port() -> int:
    """A port nothing listens on (bound, then released: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _s3_request(data: Path, **changes) -> dict:
    req = body(data, is_export_qc=False, output="s3a://diff-expr/out", **changes)
    req.pop("bed")
    for group in req["inputs"]:
        for sample in group["group_inputs"]:
            sample["files"] = [
                f"s3a://diff-expr/{sample['sample_name']}_R{m}.fastq.gz" for m in (1, 2)
            ]
    return req


@pytest.mark.parametrize(
    ("endpoint", "named"),
    [("closed-port", "http://127.0.0.1:"), (None, "GENEJOBS_S3_ENDPOINT_URL is not set")],
    ids=["closed port", "no endpoint configured"],
)
def test_an_unreachable_s3_endpoint_is_a_503_naming_it_and_the_field(
    world,
    tmp_path,
    endpoint,
    named,
):
    url = f"http://127.0.0.1:{_closed_port()}" if endpoint else None
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(tmp_path / "home"), "GENEJOBS_ALLOWED_ROOTS": str(tmp_path)},
        database_url=world["url"],
        s3_endpoint_url=url,
        # with an endpoint, credentials are given so the connection itself is what fails
        aws_access_key_id="key" if url else None,
        aws_secret_access_key="secret" if url else None,
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    try:
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        headers = {"X-Auth-Token": world["tokens"]["admin_a"]}
        before = call(world, "GET", "/jobs", params={"limit": 1}).json()["job_count"]
        started = time.monotonic()
        r = client.post("/v2.0/A/gene/jobs", json=_s3_request(world["data"]), headers=headers)
        elapsed = time.monotonic() - started
        assert_error(r, 503, "DLI.0012", "inputs[0].group_inputs[0].files[0]", named)
        if url:
            assert url in r.json()["error_msg"]
        assert elapsed < 5, f"took {elapsed:.1f} s"  # ~1-2 s: one retry, 2 s connect timeout
        _healthy(client)
        assert call(world, "GET", "/jobs", params={"limit": 1}).json()["job_count"] == before
    finally:
        service.close()


# -- fuzzing the app's own OpenAPI document ---------------------------------------


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(root / "home"), "GENEJOBS_ALLOWED_ROOTS": str(root)},
        database_url=f"sqlite:///{root / 'jobs.db'}",
        # any S3 path the fuzzer invents is refused at once, offline
        s3_endpoint_url=f"http://127.0.0.1:{_closed_port()}",
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    token = service.create_token(user="fuzzer", projects=["P"], admin=True)
    app = create_app(settings, service=service)
    yield app, token
    service.close()


# schemathesis' pytest plugin (``from_fixture``) does not run under pytest 9, so each
# operation's strategy is driven by Hypothesis directly.
FUZZ_SETTINGS = settings(
    max_examples=30,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(operation, token: str, seen: set[int]) -> None:
    """Run the operation's generated cases; every answer is checked against the schema."""

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def fuzz(case):
        if "project_id" in (case.path_parameters or {}):
            case.path_parameters["project_id"] = "P"  # the token's project: past auth
        response = case.call_and_validate(headers={"X-Auth-Token": token}, checks=CHECKS)
        seen.add(response.status_code)

    fuzz()


def test_fuzzed_requests_get_documented_answers_and_never_a_5xx(fuzz_target):
    app, token = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {
        "POST /v2.0/{project_id}/gene/jobs",
        "GET /v2.0/{project_id}/gene/jobs",
        "GET /v2.0/{project_id}/gene/jobs/{job_id}",
        "DELETE /v2.0/{project_id}/gene/jobs/{job_id}",
        "GET /v2.0/{project_id}/gene/statistics",
    } <= labels
    seen: dict[str, set[int]] = {}
    for operation in operations:
        _fuzz(
            operation, token, seen.setdefault(f"{operation.method.upper()} {operation.path}", set())
        )
    # the fuzzer got past authentication, not just 401/403s
    assert any(code in (200, 201) for codes in seen.values() for code in codes), seen
    assert 200 in seen["GET /v2.0/{project_id}/gene/statistics"], seen


# -- bad inputs found at job time: the job FAILS naming the sample and the file ------


@pytest.fixture(scope="module")
def job_world(tmp_path_factory):
    """A tiny simulated reference, good reads, and a real runner with the real tasks.

    Its S3 endpoint is a closed port: jobs with ``s3a://`` reads meet a storage endpoint
    that went away after they were submitted.
    """
    from genejobs.jobs.run.runner import Runner
    from genejobs.references.registry import ReferenceRegistry
    from genejobs.sim.simulate import SimConfig, simulate
    from support.runner import local_cluster, make_settings

    root = tmp_path_factory.mktemp("jobtime")
    manifest = simulate(
        root / "sim", SimConfig(n_genes=8, samples_per_group=2, pairs_per_sample=200, seed=3)
    )
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    settings = make_settings(
        root, s3_endpoint_url=endpoint, aws_access_key_id="key", aws_secret_access_key="secret"
    )
    ReferenceRegistry(settings.reference_root).add(
        "mini", Path(manifest.genome), [("mini.gtf", Path(manifest.gtf))]
    )
    cluster, client = local_cluster()
    runner = Runner(settings, runner_id="catalogue", client=client)
    yield {"root": root, "manifest": manifest, "settings": settings, "runner": runner}
    client.close()
    cluster.close()


def _fastq(records: list[tuple[str, str, str]]) -> bytes:
    return "".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in records).encode()


def _first_records(path: str, n: int) -> list[tuple[str, str, str]]:
    import gzip

    lines = gzip.decompress(Path(path).read_bytes()).decode().splitlines()
    records = [(lines[i][1:], lines[i + 1], lines[i + 3]) for i in range(0, len(lines), 4)]
    assert len(records) > n
    return records[:n]


def _truncated(r1: str, r2: str) -> tuple[bytes | None, bytes]:
    data = Path(r2).read_bytes()
    return None, data[: len(data) // 2]


def _not_fastq(r1: str, r2: str) -> tuple[bytes | None, bytes]:
    import gzip

    return None, gzip.compress(b"sample,group\nK1,K\n")


def _empty(r1: str, r2: str) -> tuple[bytes | None, bytes]:
    import gzip

    return gzip.compress(b""), gzip.compress(b"")


def _fewer_mates(r1: str, r2: str) -> tuple[bytes | None, bytes]:
    import gzip

    return None, gzip.compress(_fastq(_first_records(r2, 50)))


def _short_qualities(r1: str, r2: str) -> tuple[bytes | None, bytes]:
    import gzip

    records = _first_records(r2, 100)
    name, seq, qual = records[10]
    records[10] = (name, seq, qual[: len(qual) // 2])
    return None, gzip.compress(_fastq(records))


# (id, how R1/R2 of the first sample are spoiled, the file the message must name, its reason)
JOB_TIME_CASES = [
    ("truncated gzip", _truncated, "R2", ""),
    ("not FASTQ", _not_fastq, "R2", "is not"),
    ("empty files", _empty, "R1", "holds no reads"),
    ("fewer reads in read 2", _fewer_mates, "R2", "ends early"),
    ("quality shorter than sequence", _short_qualities, "R2", ""),
]


@pytest.mark.parametrize(
    ("case", "spoil", "named", "reason"), JOB_TIME_CASES, ids=[c[0] for c in JOB_TIME_CASES]
)
def test_a_broken_input_fails_the_job_naming_the_sample_and_file(
    job_world, case, spoil, named, reason
):
    from support.runner import add_job, load_job

    manifest, root = job_world["manifest"], job_world["root"]
    folder = root / "broken" / case.replace(" ", "_")
    folder.mkdir(parents=True)
    sample = next(iter(manifest.reads))
    good1, good2 = manifest.reads[sample]
    bad1, bad2 = spoil(good1, good2)
    r1, r2 = folder / f"{sample}_R1.fastq.gz", folder / f"{sample}_R2.fastq.gz"
    r1.write_bytes(bad1 if bad1 is not None else Path(good1).read_bytes())
    r2.write_bytes(bad2)
    reads = {n: tuple(f) for n, f in manifest.reads.items()} | {sample: (str(r1), str(r2))}
    out = folder / "out"
    job_id = add_job(job_world["settings"], manifest.groups, reads=reads, output_folder=str(out))
    assert job_world["runner"].run_once() == job_id
    job, _ = load_job(job_world["settings"], job_id)
    assert job.status == "FAILED", job.message
    assert f"sample '{sample}'" in job.message, job.message
    assert f"{folder}/{sample}_{named}.fastq.gz" in job.message, job.message
    assert reason in job.message and "internal error" not in job.message, job.message
    assert not out.exists() or not any(out.rglob("*.csv")), "a table was written"


def test_an_s3_endpoint_gone_at_job_time_fails_the_job_naming_it(job_world):
    """Submitted while S3 answered; when the runner starts, the endpoint is gone."""
    from support.runner import add_job, load_job

    settings, manifest = job_world["settings"], job_world["manifest"]
    reads = {
        name: (f"s3a://diff-expr/{name}_R1.fastq.gz", f"s3a://diff-expr/{name}_R2.fastq.gz")
        for name in manifest.reads
    }
    out = job_world["root"] / "s3-gone-out"
    job_id = add_job(settings, manifest.groups, reads=reads, output_folder=str(out))
    assert job_world["runner"].run_once() == job_id
    job, _ = load_job(settings, job_id)
    assert job.status == "FAILED"
    endpoint = settings.s3_endpoint_url
    assert f"storage endpoint {endpoint} cannot be reached" in job.message, job.message
    assert "s3a://diff-expr/" in job.message and "sample '" in job.message, job.message
    assert "internal error" not in job.message
    assert not out.exists()
