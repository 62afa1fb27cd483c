"""The REST API as the contract describes it, on SQLite and PostgreSQL.

Real database, real local input files under an allowed root; the references
are a fixed catalogue (the registry has its own tests). No runner: job states
other than LAUNCHING are set in the store directly.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from genejobs.jobs.store.models import TokenRow
from support.api import assert_error, body, call, set_status, submit

# -- submit and the stored request --------------------------------------------


def test_submit_returns_a_job_id_and_the_list_row_has_the_contract_shape(world):
    job_id = submit(world)
    uuid.UUID(job_id)
    listing = call(world, "GET", "/jobs", params={"limit": 100}).json()
    row = next(j for j in listing["jobs"] if j["job_id"] == job_id)
    assert set(row) == {
        "job_id",
        "owner",
        "status",
        "progress",
        "start_time",
        "duration",
        "message",
        "request",
        "name",  # addition: the optional job name, null when not given
    }
    assert row["owner"] == "alice" and row["status"] == "LAUNCHING"
    assert row["progress"] == "0/5" and row["duration"] == 0 and row["message"] == ""
    stored = json.loads(row["request"])
    assert stored["output"] == f"file://{world['data']}/out/{job_id}.csv"
    assert stored["inputs"] == body(world["data"])["inputs"]


def test_a_csv_output_is_the_table_itself(world):
    out = f"file://{world['data']}/tables/result.csv"
    job_id = submit(world, output=out)
    detail = call(world, "GET", f"/jobs/{job_id}").json()
    assert json.loads(detail["request"])["output"] == out
    assert [s["sample_name"] for s in detail["samples"]] == ["K1", "K2", "W1", "W2"]
    assert detail["remaining_ms"] is None and detail["input_size"] > 0


# -- validation: one bad body per rule -----------------------------------------


def _bad(mutate):
    def build(data: Path) -> dict:
        req = body(data)
        mutate(req)
        return req

    return build


def _set(path, value):
    def mutate(req):
        target = req
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(key):
    return lambda req: req.pop(key)


BAD_BODIES = [
    ("not an object", lambda d: [1, 2], "DLI.0001", "body"),
    ("unknown field", _bad(_set(["colour"], "red")), "DLI.0001", "colour"),
    ("unknown nested field", _bad(_set(["inputs", 0, "extra"], 1)), "DLI.0001", "inputs[0].extra"),
    ("job_type missing", _bad(_delete("job_type")), "DLI.0001", "job_type"),
    ("job_type unknown", _bad(_set(["job_type"], "DNA_SEQ")), "DLI.0007", "job_type"),
    ("inputs not a list", _bad(_set(["inputs"], {})), "DLI.0001", "inputs"),
    ("one group", _bad(lambda r: r["inputs"].pop()), "DLI.0001", "inputs"),
    (
        "one sample",
        _bad(lambda r: r["inputs"][1]["group_inputs"].pop()),
        "DLI.0001",
        "inputs[1].group_inputs",
    ),
    (
        "group name digit",
        _bad(_set(["inputs", 0, "group_name"], "1K")),
        "DLI.0001",
        "inputs[0].group_name",
    ),
    (
        "group name too long",
        _bad(_set(["inputs", 0, "group_name"], "K" * 129)),
        "DLI.0001",
        "inputs[0].group_name",
    ),
    (
        "sample name bad char",
        _bad(_set(["inputs", 0, "group_inputs", 0, "sample_name"], "K 1")),
        "DLI.0001",
        "inputs[0].group_inputs[0].sample_name",
    ),
    (
        "duplicate group",
        _bad(_set(["inputs", 1, "group_name"], "K")),
        "DLI.0001",
        "inputs[1].group_name",
    ),
    (
        "duplicate sample",
        _bad(_set(["inputs", 1, "group_inputs", 0, "sample_name"], "K1")),
        "DLI.0001",
        "inputs[1].group_inputs[0].sample_name",
    ),
    (
        "one file",
        _bad(lambda r: r["inputs"][1]["group_inputs"][0]["files"].pop()),
        "DLI.0001",
        "inputs[1].group_inputs[0].files: exactly two .fastq.gz files are required",
    ),
    (
        "not fastq",  # plain .fastq/.fq are accepted since issue 24
        _bad(_set(["inputs", 0, "group_inputs", 0, "files", 0], "/x/a.bam")),
        "DLI.0001",
        "inputs[0].group_inputs[0].files",
    ),
    (
        "same file twice",
        _bad(
            lambda r: r["inputs"][0]["group_inputs"][0].update(
                files=[r["inputs"][0]["group_inputs"][0]["files"][0]] * 2
            )
        ),
        "DLI.0001",
        "files",
    ),
    ("output missing", _bad(_delete("output")), "DLI.0001", "output"),
    ("output not a URI", _bad(_set(["output"], "http://x/y")), "DLI.0001", "output"),
    ("adapter letters", _bad(_set(["adapt"], "ACGTX")), "DLI.0001", "adapt"),
    ("ref unknown", _bad(_set(["ref"], "mm10")), "DLI.0001", "available: hg19, hg38"),
    ("gtf of another ref", _bad(_set(["gtf"], "gencode.v28.annotation.gtf")), "DLI.0001", "gtf"),
    ("qc without bed", _bad(_delete("bed")), "DLI.0001", "bed"),
    ("qc not boolean", _bad(_set(["is_export_qc"], "yes")), "DLI.0001", "is_export_qc"),
    ("library type", _bad(_set(["library_type"], "fr-reverse")), "DLI.0001", "library_type"),
    (
        "comparison group",
        _bad(_set(["comparisons"], [{"control": "K", "treatment": "Z"}])),
        "DLI.0001",
        "comparisons[0].treatment",
    ),
    (
        "comparison same",
        _bad(_set(["comparisons"], [{"control": "K", "treatment": "K"}])),
        "DLI.0001",
        "comparisons[0]",
    ),
    (
        "two buckets",
        _bad(lambda r: r.update(output="s3a://other/out", bed="s3a://diff-expr/x.bed")),
        "DLI.0001",
        "same bucket",
    ),
]


@pytest.mark.parametrize(
    ("case", "build", "code", "fragment"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_each_validation_rule_names_the_field(world, case, build, code, fragment):
    r = call(world, "POST", "/jobs", json=build(world["data"]))
    assert_error(r, 400, code, fragment)


def test_malformed_json_is_a_400(world):
    headers = {"X-Auth-Token": world["tokens"]["admin_a"], "Content-Type": "application/json"}
    r = world["client"].post("/v2.0/A/gene/jobs", content=b"{not json", headers=headers)
    assert_error(r, 400, "DLI.0001")


def test_a_missing_input_file_is_named(world):
    req = body(world["data"])
    req["inputs"][0]["group_inputs"][1]["files"][1] = f"file://{world['data']}/nope_R2.fastq.gz"
    r = call(world, "POST", "/jobs", json=req)
    assert_error(r, 400, "DLI.0002", "inputs[0].group_inputs[1].files[1]", "nope_R2.fastq.gz")


def test_paths_outside_the_allowed_roots_are_refused(world):
    req = body(world["data"])
    req["inputs"][0]["group_inputs"][0]["files"][0] = "file:///etc/passwd.fastq.gz"
    assert_error(call(world, "POST", "/jobs", json=req), 400, "DLI.0011", "allowed")
    req = body(world["data"], output=f"file://{world['data']}/../escape")
    assert_error(call(world, "POST", "/jobs", json=req), 400, "DLI.0011", "output")


# -- list: pagination and time filters ------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"start": "yesterday"}, "start"),
        ({"end": -5}, "end"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(world, params, name):
    assert_error(call(world, "GET", "/jobs", params=params), 400, "DLI.0001", name)


def test_pagination_and_time_filters_at_their_edges(world):
    ids = [submit(world, token="admin_b", project="B") for _ in range(3)]
    listing = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"limit": 100}
    ).json()
    assert listing["job_count"] == 3
    assert [j["job_id"] for j in listing["jobs"]] == ids[::-1]  # newest first
    page = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"limit": 1, "offset": 1}
    ).json()
    assert page["job_count"] == 3 and [j["job_id"] for j in page["jobs"]] == [ids[1]]
    past = call(world, "GET", "/jobs", token="admin_b", project="B", params={"offset": 3}).json()
    assert past["job_count"] == 3 and past["jobs"] == []
    assert len(call(world, "GET", "/jobs", token="admin_b", project="B").json()["jobs"]) == 3
    t = listing["jobs"][1]["start_time"]
    exact = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"start": t, "end": t}
    ).json()
    assert ids[1] in [j["job_id"] for j in exact["jobs"]]
    after = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"start": t + 10**9}
    ).json()
    assert after["job_count"] == 0
    typed = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"job_type": "OTHER"}
    ).json()
    assert typed["job_count"] == 0


# -- isolation -----------------------------------------------------------------


def test_projects_are_isolated(world):
    job_a = submit(world)
    assert_error(call(world, "GET", "/jobs", token="admin_a", project="B"), 403, "DLI.0013")
    assert_error(
        call(world, "GET", f"/jobs/{job_a}", token="admin_b", project="B"), 404, "DLI.0023"
    )
    assert_error(
        call(world, "DELETE", f"/jobs/{job_a}", token="admin_b", project="B"), 404, "DLI.0023"
    )
    listing = call(
        world, "GET", "/jobs", token="admin_b", project="B", params={"limit": 100}
    ).json()
    assert job_a not in [j["job_id"] for j in listing["jobs"]]
    stats = call(world, "GET", "/statistics", token="admin_b", project="B").json()
    assert "alice" not in [u["user_name"] for u in stats.get("users", [])]


def test_sub_users_see_only_their_own_jobs(world):
    mine = submit(world, token="user_a")
    theirs = submit(world, token="admin_a")
    listing = call(world, "GET", "/jobs", token="user_a", params={"limit": 100}).json()
    assert {j["owner"] for j in listing["jobs"]} == {"bob"}
    assert mine in [j["job_id"] for j in listing["jobs"]]
    assert_error(call(world, "DELETE", f"/jobs/{theirs}", token="user_a"), 404, "DLI.0023")
    stats = call(world, "GET", "/statistics", token="user_a").json()
    assert stats["total_user_num"] == 1 and "users" not in stats
    assert stats["total_launching_num"] == listing["job_count"]
    admin = call(world, "GET", "/statistics", token="admin_a").json()
    users = {u["user_name"]: u for u in admin["users"]}
    assert {"alice", "bob"} <= set(users)
    assert admin["total_input_size"] == sum(u["input_size"] for u in admin["users"])
    assert set(admin) == {
        "total_user_num",
        "total_launching_num",
        "total_running_num",
        "total_failed_num",
        "total_finished_num",
        "total_canceling_num",
        "total_cancelled_num",
        "total_input_size",
        "users",
    }


def test_tokens_are_checked_and_stored_hashed(world):
    assert_error(call(world, "GET", "/jobs", token=None), 401, "DLI.0013")
    r = world["client"].get("/v2.0/A/gene/jobs", headers={"X-Auth-Token": "gj_forged"})
    assert_error(r, 401, "DLI.0013")
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as c:
        hashes = [
            row[0] for row in c.execute(text(f"SELECT token_hash FROM {TokenRow.__tablename__}"))
        ]
    engine.dispose()
    for raw in world["tokens"].values():
        assert raw not in hashes and all(raw not in h for h in hashes)


# -- cancel in each status -----------------------------------------------------


def test_cancel_launching_ends_at_once(world):
    job_id = submit(world)
    r = call(world, "DELETE", f"/jobs/{job_id}")
    assert r.status_code == 200 and r.json() == {}
    assert call(world, "GET", f"/jobs/{job_id}").json()["status"] == "CANCELLED"


def test_cancel_running_moves_to_canceling(world):
    job_id = submit(world)
    set_status(world, job_id, "RUNNING", run_started_ms=1)
    assert call(world, "DELETE", f"/jobs/{job_id}").status_code == 200
    assert call(world, "GET", f"/jobs/{job_id}").json()["status"] == "CANCELING"
    assert_error(call(world, "DELETE", f"/jobs/{job_id}"), 400, "DLI.0012", "CANCELING")


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "CANCELLED"])
def test_ended_jobs_cannot_be_cancelled(world, status):
    job_id = submit(world)
    set_status(world, job_id, status, run_started_ms=1, end_time_ms=2)
    assert_error(call(world, "DELETE", f"/jobs/{job_id}"), 400, "DLI.0012", status)


def test_progress_reads_n_of_n_when_finished(world):
    job_id = submit(world)
    set_status(world, job_id, "FINISHED", run_started_ms=1000, end_time_ms=4000, steps_done=2)
    row = call(world, "GET", f"/jobs/{job_id}").json()
    assert row["progress"] == "5/5" and row["duration"] == 3000


# -- the rest ------------------------------------------------------------------


def test_the_running_job_cap_answers_dli_0009(world, monkeypatch):
    service = world["service"]
    monkeypatch.setattr(service, "settings", copy.copy(service.settings))
    object.__setattr__(service.settings, "max_running_jobs_per_project", 0)
    assert_error(call(world, "POST", "/jobs", json=body(world["data"])), 400, "DLI.0009")


def test_unknown_routes_and_unexpected_errors_use_the_error_format(world, monkeypatch):
    assert_error(world["client"].get("/v2.0/A/gene/nothing"), 404, "DLI.0023")

    def boom(**_kw):
        raise RuntimeError("secret database password in here")

    monkeypatch.setattr(world["service"], "statistics", boom)
    r = call(world, "GET", "/statistics")
    assert_error(r, 500, "DLI.0999")
    assert "secret" not in r.text


def test_openapi_documents_every_field(world):
    spec = world["client"].get("/openapi.json").json()
    paths = spec["paths"]
    assert {
        "/v2.0/{project_id}/gene/jobs",
        "/v2.0/{project_id}/gene/jobs/{job_id}",
        "/v2.0/{project_id}/gene/statistics",
    } <= set(paths)
    for name in ("JobRowResponse", "JobListResponse", "StatisticsResponse", "JobDetailResponse"):
        for field, schema in spec["components"]["schemas"][name]["properties"].items():
            assert schema.get("description"), (name, field)


def test_the_console_page_is_served(world):
    page = world["client"].get("/console")
    assert page.status_code == 200 and "https://" not in page.text
    script = world["client"].get("/console/static/console.js")
    assert script.status_code == 200 and "/v2.0/" in script.text and "https://" not in script.text
    assert world["client"].get("/console/static/..%2Fconsole.py").status_code == 404
