"""Share links (issue 26.1) and how outputs are served (issue 23's Lows), on a real API.

A link opens the job's report and every file of its manifest under the same signed
token, without an API token; altered, expired, another project's and purged jobs' links
each answer their named 4xx. Active types are sandboxed, names are RFC 5987-encoded.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from pathlib import Path

import pytest

from genejobs.jobs.share import make_token, share_secret
from support.api import assert_error, call, record_written, set_status, submit


def finished_job(world, token="admin_a", project="A", name: str | None = None) -> dict:
    """A finished job with a report that links to its table, MultiQC, methods and a figure."""
    data = world["data"]
    output = f"file://{data}/{name}" if name else f"file://{data}/share-{uuid.uuid4().hex[:8]}"
    job_id = submit(world, token=token, project=project, output=output)
    set_status(world, job_id, "FINISHED", end_time_ms=1)
    stored = json.loads(
        call(world, "GET", f"/jobs/{job_id}", token=token, project=project).json()["request"]
    )
    table = Path(stored["output"].removeprefix("file://"))
    folder = table.parent / job_id
    files = {
        folder
        / "report.html": f'<a href="../{table.name}">t</a><a href="qc/multiqc_report.html">m</a>',
        folder / "qc" / "multiqc_report.html": "<h1>multiqc</h1>",
        folder / "methods.md": "# Methods",
        folder
        / "plots"
        / "volcano.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        table: "gene_id,padj\nG1,0.01\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    record_written(world["url"], job_id, {f"file://{p}": p.stat().st_size for p in files})
    (folder / "planted.html").write_text("<h1>not written by the job</h1>")
    return {"id": job_id, "table": table, "folder": folder, "token": token, "project": project}


def share(world, job, **params):
    return call(
        world, "POST", f"/jobs/{job['id']}/share", token=job["token"], project=job["project"],
        params=params,
    )  # fmt: skip


def anonymous(world, path: str):
    return world["client"].get(path)  # no X-Auth-Token


def test_a_share_link_opens_the_report_and_its_relative_links(world):
    job = finished_job(world)
    r = share(world, job, days=3)
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["path"].endswith(f"/{job['id']}/report.html") and link["days"] == 3
    assert link["url"].endswith(link["path"]) and link["url"].startswith("http")
    assert abs(link["expires"] / 1000 - (time.time() + 3 * 86400)) < 60
    report = anonymous(world, link["path"])
    assert report.status_code == 200 and b"multiqc_report.html" in report.content
    csp = report.headers["content-security-policy"]
    assert csp.startswith("sandbox") and "allow-scripts" in csp and "allow-same-origin" not in csp
    assert report.headers["x-content-type-options"] == "nosniff"
    assert report.headers["referrer-policy"] == "no-referrer"
    root = link["path"].rsplit("/", 2)[0]  # /share/<token>
    # what the report's relative links resolve to, under the same token
    table = anonymous(world, f"{root}/{job['table'].name}")
    assert table.status_code == 200 and table.content.startswith(b"gene_id,padj")
    assert table.headers["content-disposition"].startswith("attachment")
    assert anonymous(world, f"{root}/{job['id']}/qc/multiqc_report.html").status_code == 200
    assert (
        anonymous(world, f"{root}/{job['id']}/methods.md")
        .headers["content-type"]
        .startswith("text/plain")
    )
    svg = anonymous(world, f"{root}/{job['id']}/plots/volcano.svg")
    assert svg.headers["content-security-policy"].startswith("sandbox")
    # only the manifest's files; nothing beside or above them
    for path in (
        f"{job['id']}/planted.html",
        f"{job['id']}/%2e%2e/%2e%2e/K1_R1.fastq.gz",
        "../../etc/passwd",
        f"{job['id']}/",
        "K1_R1.fastq.gz",
    ):
        assert_error(anonymous(world, f"{root}/{path}"), 404, "DLI.0023")


def test_altered_expired_foreign_and_purged_links_are_refused(world):
    job = finished_job(world)
    other = finished_job(world)
    path = share(world, job).json()["path"]
    _, _, token, rest = path.split("/", 3)
    # altered: the signature, the expiry, or another job's id under this signature
    version, job_id, expires, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    for bad in (
        f"{version}.{job_id}.{expires}.{flipped}",
        f"{version}.{job_id}.{int(expires) + 86400}.{sig}",
        f"{version}.{other['id']}.{expires}.{sig}",
    ):
        r = anonymous(world, f"/share/{bad}/{rest}")
        assert_error(r, 403, "DLI.0013", "signature does not match")
    assert_error(anonymous(world, f"/share/garbage/{rest}"), 403, "DLI.0013", "malformed")
    # expired: signed properly, an hour ago
    settings = world["service"].settings
    folder = str(job["table"].parent)
    past = make_token(
        share_secret(settings),
        project="A",
        job_id=job["id"],
        folder=f"file://{folder}",
        expires=int(time.time()) - 3600,
    )
    assert_error(anonymous(world, f"/share/{past}/{rest}"), 410, "DLI.0013", "expired")
    # another project's job, another sub-user's job: no link is made
    r = call(world, "POST", f"/jobs/{job['id']}/share", token="admin_b", project="B")
    assert_error(r, 404, "DLI.0023")
    r = call(world, "POST", f"/jobs/{job['id']}/share", token="admin_b", project="A")
    assert_error(r, 403, "DLI.0013")
    r = call(world, "POST", f"/jobs/{job['id']}/share", token="user_a")
    assert_error(r, 404, "DLI.0023")
    assert_error(share(world, job, days=0), 400, "DLI.0001", "days")
    assert_error(share(world, job, days=31), 400, "DLI.0001", "days")
    # a job that wrote nothing (yet) has nothing to share
    r = call(world, "POST", f"/jobs/{submit(world)}/share")
    assert_error(r, 404, "DLI.0023", "no outputs")
    # purged: the link is revoked with the record
    assert anonymous(world, path).status_code == 200
    assert call(world, "DELETE", f"/jobs/{job['id']}", params={"purge": "true"}).status_code == 200
    assert_error(anonymous(world, path), 404, "DLI.0023", "purged")


def test_the_share_secret_is_made_once_and_kept_private(world):
    settings = world["service"].settings
    first = share_secret(settings)
    assert share_secret(settings) == first and len(first) >= 40
    mode = os.stat(Path(settings.home) / "share-secret").st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_outputs_sandbox_active_types_and_encode_names(world):
    job = finished_job(world, name=f"résultats-€-{uuid.uuid4().hex[:4]}.csv")
    base = f"/jobs/{job['id']}/outputs"
    svg = call(world, "GET", f"{base}/plots/volcano.svg")
    assert svg.status_code == 200
    assert svg.headers["content-security-policy"].startswith("sandbox")
    assert svg.headers["x-content-type-options"] == "nosniff"
    table = call(world, "GET", f"{base}/{job['table'].name}")
    assert table.status_code == 200, table.text
    disposition = table.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="r_sultats-_-')
    assert "filename*=UTF-8''r%C3%A9sultats-%E2%82%AC-" in disposition
    for r in (svg, table, call(world, "GET", f"{base}/report.html")):
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("token,project", [("admin_a", "A"), ("user_a", "A")])
def test_the_listing_shows_what_the_job_wrote_never_a_symlinks_target(world, token, project):
    job = finished_job(world, token=token, project=project)
    big = world["data"] / f"big-{uuid.uuid4().hex[:6]}.bin"
    big.write_bytes(b"x" * 100_000)
    report = job["folder"] / "report.html"
    size = report.stat().st_size
    report.unlink()
    os.symlink(big, report)
    listed = call(world, "GET", f"/jobs/{job['id']}/outputs", token=token, project=project)
    sizes = {o["path"]: o["size"] for o in listed.json()["outputs"]}
    assert sizes["report.html"] == size  # what the job wrote, not the target's 100,000
    r = call(world, "GET", f"/jobs/{job['id']}/outputs/report.html", token=token, project=project)
    assert_error(r, 404, "DLI.0023")
