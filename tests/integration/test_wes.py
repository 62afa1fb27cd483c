"""The GA4GH WES 1.1 door: responses checked against GA4GH's own OpenAPI schemas,
the same jobs as the gene-jobs API, the same isolation, and a WES client from PyPI
(``wes-service``'s ``WESClient``) talking to a real server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml
from fastapi.testclient import TestClient
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from wes_client.util import WESClient

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.storage import Storage
from support.api import REFS, body, set_status
from support.servers import free_port

SPEC_PATH = Path(__file__).parents[1] / "data" / "wes" / "workflow_execution_service.openapi.yaml"
# GA4GH service-info 1.0's required fields, inlined for the one external $ref of the spec
SERVICE = {
    "type": "object",
    "required": ["id", "name", "type", "organization", "version"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {
            "type": "object",
            "required": ["group", "artifact", "version"],
            "properties": {k: {"type": "string"} for k in ("group", "artifact", "version")},
        },
        "organization": {
            "type": "object",
            "required": ["name", "url"],
            "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
        },
        "version": {"type": "string"},
    },
}


def _validators() -> dict[str, Draft7Validator]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    spec["components"]["schemas"]["ServiceInfo"]["allOf"][0] = SERVICE
    registry = Registry().with_resource("urn:wes", Resource.from_contents(spec, DRAFT7))
    return {
        name: Draft7Validator({"$ref": f"urn:wes#/components/schemas/{name}"}, registry=registry)
        for name in spec["components"]["schemas"]
    }


VALIDATORS = _validators()


def conforms(payload: dict, schema: str) -> dict:
    errors = [e.message for e in VALIDATORS[schema].iter_errors(payload)]
    assert not errors, errors
    return payload


@pytest.fixture(scope="module")
def wes(module_database_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("wes")
    data = root / "data"
    data.mkdir()
    for sample in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            (data / f"{sample}_R{mate}.fastq.gz").write_bytes(b"\x1f\x8b")
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(root / "home"), "GENEJOBS_ALLOWED_ROOTS": str(data)},
        database_url=module_database_url,
        max_running_jobs_per_project=100,
    )
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    app = create_app(settings, service=service)
    tokens = {
        "admin_a": service.create_token(user="alice", projects=["A"], admin=True),
        "user_a": service.create_token(user="bob", projects=["A"], admin=False),
        "admin_b": service.create_token(user="carol", projects=["B"], admin=True),
    }
    yield {
        "app": app,
        "client": TestClient(app, raise_server_exceptions=False),
        "data": data,
        "tokens": tokens,
        "url": module_database_url,
    }
    service.close()


def request_body(wes, **changes) -> dict:
    req = body(wes["data"], is_export_qc=False, **changes)
    req.pop("bed")
    return req


def call(wes, method, path, token="admin_a", bearer=True, **kw):
    headers = {}
    if token:
        value = wes["tokens"][token]
        headers = {"Authorization": f"Bearer {value}"} if bearer else {"X-Auth-Token": value}
    return wes["client"].request(method, f"/ga4gh/wes/v1{path}", headers=headers, **kw)


def run(wes, token="admin_a", tags=None, **changes) -> str:
    form = {
        "workflow_type": "RNA_DIFF_EXPR",
        "workflow_type_version": "1.0",
        "workflow_params": json.dumps(request_body(wes, **changes)),
    }
    if tags is not None:
        form["tags"] = json.dumps(tags)
    r = call(wes, "POST", "/runs", token=token, data=form)
    assert r.status_code == 200, r.text
    return conforms(r.json(), "RunId")["run_id"]


def wes_error(r, status: int, *fragments: str) -> None:
    assert r.status_code == status, r.text
    payload = conforms(r.json(), "ErrorResponse")
    assert set(payload) == {"msg", "status_code"} and payload["status_code"] == status
    for fragment in fragments:
        assert fragment in payload["msg"], payload["msg"]


def test_service_info_conforms_and_counts_the_callers_runs(wes):
    info = conforms(call(wes, "GET", "/service-info", bearer=False).json(), "ServiceInfo")
    assert info["workflow_type_versions"] == {"RNA_DIFF_EXPR": {"workflow_type_version": ["1.0"]}}
    assert "s3a" in info["supported_filesystem_protocols"]
    before = info["system_state_counts"]["QUEUED"]
    run(wes)
    after = call(wes, "GET", "/service-info").json()["system_state_counts"]
    assert after["QUEUED"] == before + 1
    assert set(after) >= {"QUEUED", "RUNNING", "COMPLETE", "EXECUTOR_ERROR", "CANCELED"}


def test_a_run_is_a_gene_job_and_a_gene_job_is_a_run(wes):
    run_id = run(wes, tags={"study": "liver"}, name="via WES")
    headers = {"X-Auth-Token": wes["tokens"]["admin_a"]}
    jobs = wes["client"].get("/v2.0/A/gene/jobs?limit=100", headers=headers).json()["jobs"]
    row = next(j for j in jobs if j["job_id"] == run_id)
    assert json.loads(row["request"])["name"] == "via WES"
    r = wes["client"].post("/v2.0/A/gene/jobs", json=request_body(wes), headers=headers)
    job_id = r.json()["job_id"]
    log = conforms(call(wes, "GET", f"/runs/{job_id}").json(), "RunLog")
    assert log["state"] == "QUEUED" and log["request"]["tags"] == {}
    log = conforms(call(wes, "GET", f"/runs/{run_id}").json(), "RunLog")
    assert log["request"]["tags"] == {"study": "liver"}
    assert log["request"]["workflow_params"] == json.loads(row["request"])
    assert [t["id"] for t in log["task_logs"]] == ["K1", "K2", "W1", "W2"]
    for task in log["task_logs"]:
        conforms(task, "TaskLog")


def test_states_map_and_a_finished_run_has_its_times_and_outputs(wes):
    run_id = run(wes)
    now = int(time.time() * 1000)
    outputs = {"table": "file:///x/out.csv"}
    set_status(
        wes,
        run_id,
        "FINISHED",
        run_started_ms=now - 61_000,
        end_time_ms=now,
        outputs_json=json.dumps(outputs),
    )
    log = conforms(call(wes, "GET", f"/runs/{run_id}").json(), "RunLog")
    assert log["state"] == "COMPLETE" and log["outputs"] == outputs
    assert log["run_log"]["exit_code"] == 0
    assert log["run_log"]["end_time"] == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000)
    )
    status = conforms(call(wes, "GET", f"/runs/{run_id}/status").json(), "RunStatus")
    assert status == {"run_id": run_id, "state": "COMPLETE"}
    failed = run(wes)
    set_status(wes, failed, "FAILED", end_time_ms=now, message="sample 'K1': truncated gzip")
    log = call(wes, "GET", f"/runs/{failed}").json()
    assert log["state"] == "EXECUTOR_ERROR"
    assert log["run_log"]["system_logs"] == ["sample 'K1': truncated gzip"]


def test_cancel_and_cancelling_an_ended_run(wes):
    run_id = run(wes)
    assert call(wes, "POST", f"/runs/{run_id}/cancel").json() == {"run_id": run_id}
    assert call(wes, "GET", f"/runs/{run_id}/status").json()["state"] == "CANCELED"
    wes_error(call(wes, "POST", f"/runs/{run_id}/cancel"), 400, "CANCELLED")


def test_list_pages_through_every_run_with_opaque_tokens(wes):
    mine = {run(wes) for _ in range(3)}
    seen: list[str] = []
    token = None
    for _ in range(100):
        params = {"page_size": 2} | ({"page_token": token} if token else {})
        page = conforms(call(wes, "GET", "/runs", params=params).json(), "RunListResponse")
        assert len(page["runs"]) <= 2
        for summary in page["runs"]:
            conforms(summary, "RunSummary")
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if not token:
            break
    assert mine <= set(seen) and len(seen) == len(set(seen))
    wes_error(call(wes, "GET", "/runs", params={"page_token": "garbage!"}), 400, "page_token")
    wes_error(call(wes, "GET", "/runs", params={"page_size": 0}), 400, "page_size")


def test_isolation_and_errors_in_wes_form(wes):
    run_id = run(wes)
    wes_error(call(wes, "GET", f"/runs/{run_id}", token=None), 401, "missing")
    wes_error(call(wes, "GET", f"/runs/{run_id}", token="admin_b"), 404, run_id)
    wes_error(call(wes, "GET", f"/runs/{run_id}/status", token="user_a"), 404, run_id)
    wes_error(call(wes, "POST", f"/runs/{run_id}/cancel", token="admin_b"), 404)
    ids = [r["run_id"] for r in call(wes, "GET", "/runs", token="admin_b").json()["runs"]]
    assert run_id not in ids
    form = {
        "workflow_type": "CWL",
        "workflow_type_version": "v1.0",
        "workflow_params": "{}",
    }
    wes_error(call(wes, "POST", "/runs", data=form), 400, "workflow_type: 'CWL' is not supported")
    form["workflow_type"] = "RNA_DIFF_EXPR"
    wes_error(call(wes, "POST", "/runs", data=form), 400, "workflow_type_version")
    form["workflow_type_version"] = "1.0"
    form["workflow_params"] = "{not json"
    wes_error(call(wes, "POST", "/runs", data=form), 400, "workflow_params: not valid JSON")
    bad = request_body(wes, library_type="fr-reverse")
    form["workflow_params"] = json.dumps(bad)
    wes_error(call(wes, "POST", "/runs", data=form), 400, "library_type: must be one of")
    form["workflow_params"] = json.dumps(request_body(wes))
    form["tags"] = json.dumps({"n": 1})
    wes_error(call(wes, "POST", "/runs", data=form), 400, "tags:")


@pytest.fixture
def live_server(wes):
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(wes["app"], host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_wes_service_client_from_pypi_drives_it(wes, live_server):
    auth = {"Authorization": f"Bearer {wes['tokens']['admin_a']}"}
    client = WESClient({"auth": auth, "proto": "http", "host": live_server})
    assert client.get_service_info()["supported_wes_versions"] == ["1.1.0"]
    run_id = run(wes)
    assert run_id in [r["run_id"] for r in client.list_runs()["runs"]]
    assert client.get_run_status(run_id) == {"run_id": run_id, "state": "QUEUED"}
    assert client.get_run_log(run_id)["request"]["workflow_type"] == "RNA_DIFF_EXPR"
    assert client.cancel(run_id) == {"run_id": run_id}
    assert client.get_run_status(run_id)["state"] == "CANCELED"
