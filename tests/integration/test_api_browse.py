"""The console's API additions: references, files, a job's outputs, dry run, job name.

Same real database and local files as the contract tests (their fixtures are
reused); isolation is checked for each: another project's token, another
sub-user's job, and paths that try to leave the allowed places.
"""

from __future__ import annotations

import json
import os
import uuid

import pytest
from sqlalchemy import create_engine, update

from genejobs.jobs.store.models import JobRow, SampleStateRow
from support.api import assert_error, body, call, fake_outputs, set_status, submit


def _engine(world):
    return create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))


# -- references ---------------------------------------------------------------------


def test_references_are_what_submit_accepts(world):
    r = call(world, "GET", "/references")
    assert r.status_code == 200, r.text
    refs = {x["name"]: x for x in r.json()["references"]}
    assert set(refs) == {"hg19", "hg38"}
    assert refs["hg38"]["annotations"] == ["gencode.v28.annotation.gtf"]
    assert_error(call(world, "GET", "/references", token="admin_b", project="A"), 403, "DLI.0013")
    assert_error(call(world, "GET", "/references", token=None), 401, "DLI.0013")


# -- files --------------------------------------------------------------------------


def test_files_lists_a_folder_with_sizes_and_pages(world):
    data = world["data"]
    r = call(world, "GET", "/files", params={"prefix": f"file://{data}/"})
    assert r.status_code == 200, r.text
    listing = r.json()
    uris = [f["uri"] for f in listing["files"]]
    assert f"file://{data}/K1_R1.fastq.gz" in uris
    sizes = {f["uri"]: f["size"] for f in listing["files"]}
    assert sizes[f"file://{data}/W2_R2.fastq.gz"] == (data / "W2_R2.fastq.gz").stat().st_size
    assert uris == sorted(uris) and listing["next_marker"] is None
    # a name prefix narrows the folder; a sub-user may browse too
    r = call(world, "GET", "/files", token="user_a", params={"prefix": f"{data}/K"})
    assert [f["uri"].rsplit("/", 1)[1] for f in r.json()["files"]] == [
        "K1_R1.fastq.gz",
        "K1_R2.fastq.gz",
        "K2_R1.fastq.gz",
        "K2_R2.fastq.gz",
    ]
    # pages of three, each continuing after the marker, together the whole listing
    seen, marker = [], None
    while True:
        params = {"prefix": f"{data}/K", "limit": 3} | ({"marker": marker} if marker else {})
        page = call(world, "GET", "/files", params=params).json()
        seen += [f["uri"] for f in page["files"]] + page["folders"]
        marker = page["next_marker"]
        if marker is None:
            break
    assert len(seen) == 4 and len(set(seen)) == 4


def test_a_large_folder_pages_completely_in_order_without_what_may_not_be_listed(world, tmp_path):
    """Paging reads the page, not the folder (issue 23): every visible entry exactly
    once, in URI order, across pages; hidden names and symlinks out of the roots never."""
    big = world["data"] / "big"
    big.mkdir()
    names = [f"s{i:05d}.fastq.gz" for i in range(3000)]
    for name in names:
        (big / name).write_bytes(b"x" * (len(name) % 7))
    for folder in ("s00100", "s00100.d", "zz"):
        (big / folder).mkdir()
    (big / ".hidden").write_text("")
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    (big / "s01500-escape").symlink_to(outside)
    (big / "s01501-inside").symlink_to(big / names[0])
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        params = {"prefix": f"file://{big}/", "limit": 250}
        if marker:
            params["marker"] = marker
        r = call(world, "GET", "/files", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        got = [f["uri"] for f in page["files"]] + page["folders"]
        assert all(marker is None or u > marker for u in got)
        seen += sorted(got)
        pages += 1
        marker = page["next_marker"]
        if marker is None:
            break
        assert len(got) == 250
    base = f"file://{big}/"
    expected = sorted(
        [base + n for n in names]
        + [base + "s01501-inside"]
        + [base + d + "/" for d in ("s00100", "s00100.d", "zz")]
    )
    assert seen == expected and pages == 13
    sizes = {f["uri"]: f["size"] for f in page["files"]}
    assert all(sizes[u] == len(u.rsplit("/", 1)[1]) % 7 for u in sizes)
    # a name prefix pages too
    r = call(world, "GET", "/files", params={"prefix": f"{big}/s0299", "limit": 5})
    assert [f["uri"].rsplit("/", 1)[1] for f in r.json()["files"]] == names[2990:2995]


def test_files_refuses_what_submit_refuses(world, tmp_path):
    data = world["data"]
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x_R1.fastq.gz").write_bytes(b"x")
    assert_error(
        call(world, "GET", "/files", params={"prefix": f"{outside}/"}), 400, "DLI.0011", "prefix"
    )
    assert_error(
        call(world, "GET", "/files", params={"prefix": f"{data}/../"}), 400, "DLI.0011", "prefix"
    )
    assert_error(
        call(world, "GET", "/files", params={"prefix": f"{data}/nowhere/"}),
        400,
        "DLI.0002",
        "does not exist",
    )
    assert_error(
        call(world, "GET", "/files", params={"prefix": "ftp://x/y"}), 400, "DLI.0001", "prefix"
    )
    # a symlink inside the root that leads out of it is not listed
    link = data / "escape"
    if not link.exists():
        os.symlink(outside, link)
    names = [
        u for u in call(world, "GET", "/files", params={"prefix": f"{data}/"}).json()["folders"]
    ]
    assert not any(u.endswith("/escape/") for u in names)
    assert_error(
        call(world, "GET", "/files", params={"prefix": f"{data}/escape/"}), 400, "DLI.0011"
    )
    # another project's token
    assert_error(
        call(world, "GET", "/files", token="admin_b", params={"prefix": f"{data}/"}),
        403,
        "DLI.0013",
    )


def test_files_without_prefix_offers_the_allowed_roots(world):
    listing = call(world, "GET", "/files").json()
    assert listing["folders"] == [f"{world['data'].resolve()}/"]


# -- outputs --------------------------------------------------------------------------


def test_outputs_list_and_stream_every_file(world):
    job_id = submit(world)
    set_status(world, job_id, "FINISHED")
    expected = fake_outputs(world, job_id)
    r = call(world, "GET", f"/jobs/{job_id}/outputs")
    assert r.status_code == 200, r.text
    listed = {o["path"]: o["size"] for o in r.json()["outputs"]}
    assert listed == {k: len(v) for k, v in expected.items()}
    for path, data in expected.items():
        got = call(world, "GET", f"/jobs/{job_id}/outputs/{path}")
        assert got.status_code == 200 and got.content == data, path
        disposition = got.headers["content-disposition"]
        if path.endswith(".html"):
            assert got.headers["content-type"].startswith("text/html")
            assert disposition.startswith("inline")
            assert "sandbox" in got.headers["content-security-policy"]
        else:
            assert disposition.startswith("attachment"), path
    assert (
        call(world, "GET", f"/jobs/{job_id}/outputs/{job_id}.csv")
        .headers["content-type"]
        .startswith("text/csv")
    )


def test_outputs_never_leave_the_jobs_folder(world, tmp_path):
    job_id = submit(world)
    fake_outputs(world, job_id)
    other = submit(world)
    fake_outputs(world, other)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    os.symlink(secret, world["data"] / "out" / job_id / "link.txt")
    for path in (
        "../x.csv",
        f"../{other}/counts.csv",
        f"../{other}.csv",
        "qc/../../K1_R1.fastq.gz",
        "%2e%2e/%2e%2e/K1_R1.fastq.gz",
        "link.txt",
        "nothing.csv",
        "",
    ):
        r = call(world, "GET", f"/jobs/{job_id}/outputs/{path}")
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error_code"] == "DLI.0023" and "secret" not in r.text


def test_outputs_follow_job_visibility(world):
    alices = submit(world, token="admin_a")
    bobs = submit(world, token="user_a")
    fake_outputs(world, alices)
    fake_outputs(world, bobs)
    # another project
    for path in ("/outputs", "/outputs/report.html"):
        assert_error(
            call(world, "GET", f"/jobs/{alices}{path}", token="admin_b", project="B"),
            404,
            "DLI.0023",
        )
        assert_error(
            call(world, "GET", f"/jobs/{alices}{path}", token="admin_b", project="A"),
            403,
            "DLI.0013",
        )
        # another sub-user's job; the sub-user's own job and the tenant admin are fine
        assert_error(call(world, "GET", f"/jobs/{alices}{path}", token="user_a"), 404, "DLI.0023")
        assert call(world, "GET", f"/jobs/{bobs}{path}", token="user_a").status_code == 200
        assert call(world, "GET", f"/jobs/{bobs}{path}", token="admin_a").status_code == 200


# -- dry run ------------------------------------------------------------------------------


def test_dry_run_checks_everything_and_stores_nothing(world):
    before = call(world, "GET", "/jobs", params={"limit": 1}).json()["job_count"]
    r = call(world, "POST", "/jobs", params={"dry_run": "true"}, json=body(world["data"]))
    assert r.status_code == 200, r.text
    got = r.json()
    data = world["data"]
    assert got["valid"] is True
    assert [s["sample_name"] for s in got["samples"]] == ["K1", "K2", "W1", "W2"]
    k1 = got["samples"][0]
    assert k1["input_bytes"] == sum((data / f"K1_R{m}.fastq.gz").stat().st_size for m in (1, 2))
    assert k1["cached"] is False  # QC on: the runner aligns again for the BAM
    assert got["input_bytes"] == sum(s["input_bytes"] for s in got["samples"])
    # the same 400s as a real submit
    bad = body(data, library_type="fr-sideways")
    assert_error(
        call(world, "POST", "/jobs", params={"dry_run": "true"}, json=bad),
        400,
        "DLI.0001",
        "library_type",
    )
    missing = body(data)
    missing["inputs"][1]["group_inputs"][0]["files"][1] = f"{data}/gone_R2.fastq.gz"
    assert_error(
        call(world, "POST", "/jobs", params={"dry_run": "true"}, json=missing),
        400,
        "DLI.0002",
        "inputs[1].group_inputs[0].files[1]",
    )
    assert_error(
        call(world, "POST", "/jobs", token="admin_b", params={"dry_run": "1"}, json=body(data)),
        403,
        "DLI.0013",
    )
    after = call(world, "GET", "/jobs", params={"limit": 1}).json()["job_count"]
    assert after == before


def test_dry_run_estimate_comes_from_measured_jobs(world):
    """One finished job read 1 MB in 1 s of sample time and took 0.5 s more to finish."""
    job_id = submit(world, is_export_qc=False, bed=None)
    engine = _engine(world)
    with engine.begin() as c:
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id)
            .values(
                status="FINISHED",
                input_size_bytes=1_000_000,
                run_started_ms=10_000,
                end_time_ms=11_500,
            )
        )
        c.execute(
            update(SampleStateRow)
            .where(SampleStateRow.job_id == job_id)
            .values(started_ms=10_000, ended_ms=11_000, from_cache=False)
        )
    engine.dispose()
    r = call(
        world,
        "POST",
        "/jobs",
        params={"dry_run": "true"},
        json=body(world["data"], is_export_qc=False, bed=None),
    )
    got = r.json()
    assert got["measured_jobs"] >= 1
    # 1,000 bytes per ms; other tests' finished jobs have no sample timings and do not count
    assert got["estimate_ms"] == int(got["input_bytes"] / 1000 + 500)


# -- name ---------------------------------------------------------------------------------


def test_the_job_name_shows_in_list_and_detail(world):
    job_id = submit(world)
    stored = json.loads(call(world, "GET", f"/jobs/{job_id}").json()["request"])
    assert call(world, "GET", f"/jobs/{job_id}").json()["name"] is None
    stored["name"] = "liver KO vs WT"
    engine = _engine(world)
    with engine.begin() as c:
        c.execute(
            update(JobRow).where(JobRow.job_id == job_id).values(request_json=json.dumps(stored))
        )
    engine.dispose()
    assert call(world, "GET", f"/jobs/{job_id}").json()["name"] == "liver KO vs WT"
    rows = call(world, "GET", "/jobs", params={"limit": 100}).json()["jobs"]
    assert next(r for r in rows if r["job_id"] == job_id)["name"] == "liver KO vs WT"


def test_openapi_documents_the_additions(world):
    spec = world["client"].get("/openapi.json").json()
    paths = spec["paths"]
    base = "/v2.0/{project_id}/gene"
    for p in ("/references", "/files", "/jobs/{job_id}/outputs", "/jobs/{job_id}/outputs/{path}"):
        assert base + p in paths, p
    params = {p["name"] for p in paths[base + "/jobs"]["post"]["parameters"]}
    assert "dry_run" in params
    for name in ("DryRunResponse", "FilesResponse", "OutputsResponse", "ReferenceResponse"):
        for field, schema in spec["components"]["schemas"][name]["properties"].items():
            assert schema.get("description"), (name, field)


@pytest.mark.parametrize("limit", [0, 1001, "x"])
def test_files_limit_is_bounded(world, limit):
    assert_error(
        call(world, "GET", "/files", params={"prefix": f"{world['data']}/", "limit": limit}),
        400,
        "DLI.0001",
        "limit",
    )


# -- list filters (additions the console and the CLI use) -------------------------------


def test_the_list_filters_by_status_and_text_in_the_database(world):
    tag = f"Tag{uuid.uuid4().hex[:8]}"
    named = submit(world)
    _engine_update(world, named, name=f"liver {tag} KO")
    finished = submit(world)
    set_status(world, finished, "FINISHED")
    bobs = submit(world, token="user_a")
    _engine_update(world, bobs, name=f"bob {tag}")

    def ids(token="admin_a", **params):
        r = call(world, "GET", "/jobs", token=token, params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return {j["job_id"] for j in r.json()["jobs"]}, r.json()["job_count"]

    got, count = ids(q=tag.lower())  # any case
    assert got == {named, bobs} and count == 2
    got, _ = ids(token="user_a", q=tag)  # a sub-user still sees only their own
    assert got == {bobs}
    got, _ = ids(status="FINISHED")
    assert finished in got and named not in got
    got, _ = ids(status=["FINISHED", "LAUNCHING"])
    assert {finished, named} <= got
    assert ids(status="FINISHED,LAUNCHING")[0] == got
    got, _ = ids(q=finished[:13])  # part of a job id
    assert got == {finished}
    assert ids(q="%")[1] == 0  # taken literally, not as a LIKE wildcard
    assert_error(call(world, "GET", "/jobs", params={"status": "DONE"}), 400, "DLI.0001", "status")
    assert_error(call(world, "GET", "/jobs", params={"q": "x" * 201}), 400, "DLI.0001", "q")


def _engine_update(world, job_id: str, **request_changes) -> None:
    engine = _engine(world)
    with engine.begin() as c:
        row = c.execute(JobRow.__table__.select().where(JobRow.job_id == job_id)).first()
        req = json.loads(row.request_json) | request_changes
        c.execute(
            update(JobRow).where(JobRow.job_id == job_id).values(request_json=json.dumps(req))
        )
    engine.dispose()


def test_files_never_offer_the_services_own_home_or_reference_store(tmp_path):
    """The demo's layout: one allowed root holding the data *and* the service's home (its
    token and database) and reference store. Only the data is listed or browsable."""
    from fastapi.testclient import TestClient

    from genejobs.api.app import create_app
    from genejobs.config import Settings
    from genejobs.jobs.service import JobService
    from genejobs.storage import Storage
    from support.api import REFS

    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "K1_R1.fastq.gz").write_bytes(b"x")
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(tmp_path / "home"),
            "GENEJOBS_ALLOWED_ROOTS": str(tmp_path),
            "GENEJOBS_REFERENCE_ROOT": str(tmp_path / "refs"),
        },
        database_url=f"sqlite:///{tmp_path / 'home' / 'genejobs.db'}",
    )
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "token").write_text("gj_secret\n")
    (tmp_path / "refs" / "sim1").mkdir(parents=True)
    service = JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
    try:
        client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
        token = service.create_token(user="a", projects=["A"], admin=True)

        def files(prefix=None):
            params = {"prefix": prefix} if prefix else {}
            return client.get("/v2.0/A/gene/files", params=params, headers={"X-Auth-Token": token})

        listing = files(f"{tmp_path}/").json()
        assert listing["folders"] == [f"{tmp_path}/sim/"], listing
        for private in ("home/", "home/token", "refs/", "refs/sim1/", "home"):
            assert_error(files(f"{tmp_path}/{private}"), 400, "DLI.0011", "service's own")
        assert files().json()["folders"] == [f"{tmp_path}/"]
        # a root that *is* the home is not offered at all
        settings2 = Settings.from_env(
            env={
                "GENEJOBS_HOME": str(tmp_path / "home"),
                "GENEJOBS_ALLOWED_ROOTS": str(tmp_path / "home"),
            },
            database_url=settings.database_url,
        )
        service2 = JobService(
            settings2, storage=Storage.from_settings(settings2), references=lambda: REFS
        )
        try:
            client2 = TestClient(create_app(settings2, service=service2))
            r = client2.get("/v2.0/A/gene/files", headers={"X-Auth-Token": token})
            assert r.json()["folders"] == []
        finally:
            service2.close()
    finally:
        service.close()


def test_the_default_data_root_inside_the_home_stays_browsable(tmp_path):
    from genejobs.config import Settings
    from genejobs.jobs.browse import PrivateFolders, list_files
    from genejobs.storage import Storage

    settings = Settings.from_env(env={"GENEJOBS_HOME": str(tmp_path / "home")})
    (tmp_path / "home" / "data" / "run1").mkdir(parents=True)
    storage = Storage.from_settings(settings)
    private = PrivateFolders.of(settings)
    assert list_files(storage, None, private=private)["folders"] == [f"{tmp_path}/home/data/"]
    listing = list_files(storage, f"{tmp_path}/home/data/", private=private)
    assert listing["folders"] == [f"{tmp_path}/home/data/run1/"]
