"""A job owns only what it wrote (issue 23, High 1): the attacks, on file:// and SeaweedFS.

Each attack is tried by another project and by another sub-user of the same project
against a victim's files; each must answer its named 400 (DLI.0011) at submit and at
dry run, and afterwards every file of the victim is byte for byte what it was. Purge and
the outputs routes go by the job's manifest only: a planted file, a symlink swapped in,
a rewritten file and a legacy record (from before manifests) are each left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.jobs.store.models import JobRow
from genejobs.storage import Storage
from support.api import REFS, assert_error, body, call, record_written, set_status, submit

ATTACKERS = [("admin_b", "B"), ("user_a", "A")]  # another project; another sub-user


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under ``root`` (symlinks as their target path) and its SHA-256."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link:" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def victim_files(world) -> dict[str, Path]:
    """Alice's (admin of A) finished job and what lies beside it: a results table in
    every case of .csv, a folder named x.csv, a counts table."""
    data = world["data"]
    job_id = submit(world, output=f"file://{data}/alice-{uuid.uuid4().hex[:6]}")
    set_status(world, job_id, "FINISHED", end_time_ms=1)
    request = json.loads(call(world, "GET", f"/jobs/{job_id}").json()["request"])
    table = Path(request["output"].removeprefix("file://"))
    folder = table.parent / job_id
    (folder / "qc").mkdir(parents=True)
    (folder / "report.html").write_text("<h1>alice</h1>")
    (folder / "qc" / "multiqc_report.html").write_text("<h1>alice qc</h1>")
    table.write_text("gene_id,padj\nG1,0.01\n")
    record_written(
        world["url"],
        job_id,
        {f"file://{p}": p.stat().st_size for p in (table, folder / "report.html")},
    )
    upper = table.parent / "Results.CSV"
    upper.write_text("gene_id\n")
    named = table.parent / "x.csv"
    named.mkdir()
    (named / "keep.txt").write_text("folder named x.csv")
    counts = table.parent / "counts.tsv.csv"
    rows = "".join(f"G{i},{i},{i + 1},{i + 2},{i + 3}\n" for i in range(12))  # the door wants 10+
    counts.write_text("gene_id,K1,K2,W1,W2\n" + rows)
    return {
        "job": Path(job_id),
        "root": table.parent,
        "table": table,
        "folder": folder,
        "upper": upper,
        "named": named,
        "counts": counts,
    }


@pytest.mark.parametrize("token,project", ATTACKERS)
def test_an_existing_file_or_folder_is_refused_as_output(world, token, project):
    v = victim_files(world)
    before = fingerprint(v["root"])
    for target in (
        f"file://{v['table']}",
        str(v["upper"]),  # any case of .csv
        f"file://{v['named']}",  # a folder named x.csv
        f"file://{v['named']}/",
        f"file://{v['counts']}",  # somebody's counts input
        f"file://{v['root']}/{v['job']}",  # the victim's artifacts folder, as a folder output
        f"file://{v['root']}/{v['job']}/report.html.csv",  # new name inside the victim's folder
        f"file://{v['root']}/{v['job']}/qc/new.csv",
    ):
        for dry in (False, True):
            r = call(
                world,
                "POST",
                "/jobs",
                token=token,
                project=project,
                params={"dry_run": "true"} if dry else {},
                json=body(world["data"], output=target),
            )
            assert_error(r, 400, "DLI.0011", "output")
            assert "new" in r.json()["error_msg"], r.json()["error_msg"]
    # a counts job whose output is its own counts table
    req = body(world["data"], output=f"file://{v['counts']}", counts=f"file://{v['counts']}")
    for key in ("ref", "gtf", "bed", "is_export_qc", "adapt", "library_type"):
        req.pop(key)
    for group in req["inputs"]:
        for sample in group["group_inputs"]:
            sample.pop("files")
    r = call(world, "POST", "/jobs", token=token, project=project, json=req)
    assert_error(r, 400, "DLI.0011", "already exists")
    assert fingerprint(v["root"]) == before


def test_a_table_another_job_claimed_is_refused_before_it_is_written(world, tmp_path):
    data = world["data"]
    shared = data / f"shared-{uuid.uuid4().hex[:6]}"
    shared.mkdir()
    first = submit(world, output=f"file://{shared}/results.csv")  # queued, nothing written yet
    for token, project in ATTACKERS:
        r = call(
            world,
            "POST",
            "/jobs",
            token=token,
            project=project,
            json=body(data, output=f"{shared}/results.csv"),
        )
        assert_error(r, 400, "DLI.0011", "another job")
    # the same place through a symlinked folder is the same claim
    alias = data / f"alias-{uuid.uuid4().hex[:6]}"
    os.symlink(shared, alias)
    r = call(world, "POST", "/jobs", json=body(data, output=f"file://{alias}/results.csv"))
    assert_error(r, 400, "DLI.0011", "another job")
    assert call(world, "GET", f"/jobs/{first}").status_code == 200


@pytest.mark.parametrize("token,project", ATTACKERS)
def test_purge_and_outputs_touch_only_what_the_job_wrote(world, token, project):
    v = victim_files(world)
    data = world["data"]
    mine = submit(world, token=token, project=project, output=f"file://{data}/m-{uuid.uuid4()}")
    set_status(world, mine, "FINISHED", end_time_ms=1)
    stored = json.loads(
        call(world, "GET", f"/jobs/{mine}", token=token, project=project).json()["request"]
    )
    table = Path(stored["output"].removeprefix("file://"))
    folder = table.parent / mine
    folder.mkdir(parents=True)
    own = folder / "counts.csv"
    own.write_text("gene_id,K1\n")
    rewritten = folder / "dispersions.csv"
    rewritten.write_text("x\n")
    swapped = folder / "report.html"
    swapped.write_text("<h1>mine</h1>")
    table.write_text("gene_id\n")
    record_written(
        world["url"],
        mine,
        {f"file://{p}": p.stat().st_size for p in (own, rewritten, swapped, table)}
        # a record can only name the job's own places: the victim's table is dropped
        | {f"file://{v['table']}": 22},
    )
    planted = folder / "planted.csv"  # in the job's folder, but never written by it
    planted.write_text("not the job's")
    (folder / "manifest.json").write_text(json.dumps({"files": [{"uri": f"file://{v['table']}"}]}))
    swapped.unlink()
    os.symlink(v["folder"] / "report.html", swapped)  # swapped for a link to the victim's
    rewritten.write_text("someone else's, longer\n")
    before = fingerprint(v["root"])
    listed = call(world, "GET", f"/jobs/{mine}/outputs", token=token, project=project).json()
    names = [o["path"] for o in listed["outputs"]]
    assert names[0] == table.name and "planted.csv" not in names and "manifest.json" not in names
    for path in ("report.html", "planted.csv", "manifest.json", f"../{v['job']}/report.html"):
        r = call(world, "GET", f"/jobs/{mine}/outputs/{path}", token=token, project=project)
        assert_error(r, 404, "DLI.0023")
    r = call(
        world, "DELETE", f"/jobs/{mine}", token=token, project=project, params={"purge": "true"}
    )
    assert r.status_code == 200, r.text
    assert not own.exists() and not table.exists()  # what it wrote is gone
    assert planted.exists() and rewritten.exists() and swapped.is_symlink()  # the rest stays
    assert folder.is_dir()  # folders are never deleted
    assert fingerprint(v["root"]) == before  # nothing of the victim's changed


def test_a_legacy_job_purges_only_what_its_record_vouches_for(world):
    """A job from before manifests whose output named the victim's table (the old door let
    it): its purge and outputs leave the victim's table alone."""
    v = victim_files(world)
    data = world["data"]
    legacy = submit(world, token="admin_b", project="B", output=f"file://{data}/l-{uuid.uuid4()}")
    own = v["root"] / legacy / "counts.csv"
    own.parent.mkdir()
    own.write_text("gene_id\n")
    outputs = {"table": f"file://{v['table']}", "counts.csv": f"file://{own}"}
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(
            update(JobRow)
            .where(JobRow.job_id == legacy)
            .values(
                request_json=json.dumps({"output": f"file://{v['table']}"}),
                outputs_json=json.dumps(outputs),
                manifest_json=None,
                table_claim=None,
                status="FINISHED",
                end_time_ms=1,
            )
        )
    engine.dispose()
    before = fingerprint(v["root"])
    listed = call(world, "GET", f"/jobs/{legacy}/outputs", token="admin_b", project="B").json()
    assert [o["path"] for o in listed["outputs"]] == ["counts.csv"]
    r = call(
        world, "GET", f"/jobs/{legacy}/outputs/{v['table'].name}", token="admin_b", project="B"
    )
    assert_error(r, 404, "DLI.0023")
    r = call(
        world, "DELETE", f"/jobs/{legacy}", token="admin_b", project="B", params={"purge": "1"}
    )
    assert r.status_code == 200, r.text
    assert not own.exists()
    before.pop(str(own))
    assert fingerprint(v["root"]) == before


# -- the same on SeaweedFS --------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_world(s3_server, tmp_path_factory, world):
    """Projects A and B on one SeaweedFS endpoint (reads stay local: one bucket rule holds)."""
    root = tmp_path_factory.mktemp("s3own")
    bucket = f"own-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(root / "home"),
            "GENEJOBS_ALLOWED_ROOTS": str(world["data"]),
            "GENEJOBS_S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        },
        database_url=f"sqlite:///{root / 'jobs.db'}",
        max_running_jobs_per_project=50,
    )
    storage = Storage.from_settings(settings)
    service = JobService(settings, storage=storage, references=lambda: REFS)
    client = TestClient(create_app(settings, service=service), raise_server_exceptions=False)
    tokens = {
        "admin_a": service.create_token(user="alice", projects=["A"], admin=True),
        "user_a": service.create_token(user="bob", projects=["A"], admin=False),
        "admin_b": service.create_token(user="carol", projects=["B"], admin=True),
    }
    yield {
        "client": client,
        "service": service,
        "storage": storage,
        "bucket": bucket,
        "data": world["data"],
        "tokens": tokens,
        "url": settings.database_url,
    }
    service.close()


def s3_objects(w) -> dict[str, bytes]:
    storage = w["storage"]
    loc = storage.location(f"s3a://{w['bucket']}/")
    fs = storage.filesystem(loc)
    fs.invalidate_cache()
    return {p: fs.cat_file(p) for p in fs.find(w["bucket"])}


def test_on_s3_existing_objects_and_claims_are_refused_and_purge_keeps_the_rest(
    s3_world, s3_server
):
    w = s3_world
    b = w["bucket"]
    put = lambda key, data: w["storage"].write_bytes(  # noqa: E731
        w["storage"].location(f"s3a://{b}/{key}"), data
    )
    victim = submit(w, output=f"s3a://{b}/alice")  # A's job: its table is claimed
    table = json.loads(call(w, "GET", f"/jobs/{victim}").json()["request"])["output"]
    put(f"alice/{victim}.csv", b"gene_id,padj\n")
    put(f"alice/{victim}/report.html", b"<h1>alice</h1>")
    put("alice/results.CSV", b"gene_id\n")
    put("alice/x.csv/part-0", b"a folder named x.csv")
    put("counts.csv", b"gene_id,K1\n")
    set_status(w, victim, "FINISHED", end_time_ms=1)
    record_written(w["url"], victim, {table: 13, f"s3a://{b}/alice/{victim}/report.html": 14})
    other = f"{b}-other"  # another lab's bucket on the same endpoint
    s3_server.create_bucket(other)
    w["storage"].write_bytes(w["storage"].location(f"s3a://{other}/x/results.csv"), b"theirs")
    before = s3_objects(w)
    for token, project in ATTACKERS:
        for target in (
            table,
            table.replace("s3a://", "s3://"),
            f"s3a://{b}/alice/results.CSV",
            f"s3a://{b}/alice/x.csv",
            f"s3a://{b}/counts.csv",
            f"s3a://{b}/alice/{victim}",
            f"s3a://{b}/alice/{victim}/new.csv",
            f"s3a://{other}/x/results.csv",
            f"s3://{other}/x/results.csv",
        ):
            for params in ({}, {"dry_run": "true"}):
                r = call(
                    w, "POST", "/jobs", token=token, project=project, params=params,
                    json=body(w["data"], output=target),
                )  # fmt: skip
                assert_error(r, 400, "DLI.0011", "output")
    # B's own job, with a planted object in its folder and a rewritten one
    mine = submit(w, token="admin_b", project="B", output=f"s3a://{b}/carol")
    mine_table = f"s3a://{b}/carol/{mine}.csv"
    put(f"carol/{mine}.csv", b"t")
    put(f"carol/{mine}/counts.csv", b"cc")
    put(f"carol/{mine}/assignment.csv", b"aa")
    set_status(w, mine, "FINISHED", end_time_ms=1)
    record_written(
        w["url"],
        mine,
        {mine_table: 1, f"s3a://{b}/carol/{mine}/counts.csv": 2,
         f"s3a://{b}/carol/{mine}/assignment.csv": 2, table: 13},
    )  # fmt: skip
    put(f"carol/{mine}/planted.csv", b"not carol's job's")
    put(f"carol/{mine}/assignment.csv", b"rewritten by someone")
    listed = call(w, "GET", f"/jobs/{mine}/outputs", token="admin_b", project="B").json()
    assert sorted(o["path"] for o in listed["outputs"]) == sorted([
        f"{mine}.csv", "assignment.csv", "counts.csv"
    ])  # fmt: skip
    r = call(w, "DELETE", f"/jobs/{mine}", token="admin_b", project="B", params={"purge": "1"})
    assert r.status_code == 200, r.text
    after = s3_objects(w)
    assert f"{b}/carol/{mine}/counts.csv" not in after and f"{b}/carol/{mine}.csv" not in after
    assert after[f"{b}/carol/{mine}/planted.csv"] == b"not carol's job's"
    assert after[f"{b}/carol/{mine}/assignment.csv"] == b"rewritten by someone"
    assert {k: v for k, v in after.items() if not k.startswith(f"{b}/carol/")} == before
    fs = w["storage"].filesystem(w["storage"].location(f"s3a://{other}/"))
    assert fs.cat_file(f"{other}/x/results.csv") == b"theirs"
