"""The API tests' plain helpers: the contract's example request on real local files,
calls with a world's tokens, and checks of the error format."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from genejobs.jobs.store.models import JobRow
from genejobs.jobs.store.ownership import add_written

REFS = {"hg19": ["gencode.v17.annotation.gtf"], "hg38": ["gencode.v28.annotation.gtf"]}


def body(data: Path, **changes) -> dict:
    """The contract's example request, pointing at real local files."""

    def files(s):
        return [f"file://{data}/{s}_R1.fastq.gz", f"file://{data}/{s}_R2.fastq.gz"]

    req = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": "K",
                "group_inputs": [{"sample_name": s, "files": files(s)} for s in ("K1", "K2")],
            },
            {
                "group_name": "W",
                "group_inputs": [{"sample_name": s, "files": files(s)} for s in ("W1", "W2")],
            },
        ],
        "adapt": "CATGATTGATGGTGCCTACAG",
        "ref": "hg19",
        "gtf": "gencode.v17.annotation.gtf",
        "is_export_qc": True,
        "bed": f"file://{data}/K1_R1.fastq.gz",
        "library_type": "fr-firststrand",
        "output": f"file://{data}/out",
    }
    req.update(changes)
    return req


def call(world, method, path, token="admin_a", project="A", **kw):
    headers = {"X-Auth-Token": world["tokens"][token]} if token else {}
    return world["client"].request(method, f"/v2.0/{project}/gene{path}", headers=headers, **kw)


def submit(world, token="admin_a", project="A", **changes) -> str:
    r = call(
        world, "POST", "/jobs", token=token, project=project, json=body(world["data"], **changes)
    )
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def set_status(world, job_id, status, **values):
    engine = create_engine(world["url"].replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(update(JobRow).where(JobRow.job_id == job_id).values(status=status, **values))
    engine.dispose()


def record_written(url: str, job_id: str, files: dict[str, int]) -> None:
    """What the runner does when a job ends: its written files (URI -> bytes) go into
    the job's manifest in its record."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with Session(engine) as s, s.begin():
        add_written(s.get(JobRow, job_id), files.items())
    engine.dispose()


def assert_error(r, status, code, *fragments):
    assert r.status_code == status, r.text
    payload = r.json()
    assert set(payload) == {"error_code", "error_msg"}
    assert payload["error_code"] == code
    for f in fragments:
        assert f in payload["error_msg"], payload["error_msg"]
    assert "Traceback" not in payload["error_msg"]


def fake_outputs(world, job_id: str) -> dict[str, bytes]:
    """What a finished job leaves: the table beside its folder, files inside it."""
    out = world["data"] / "out"
    files = {
        "report.html": b"<!doctype html><title>report</title><h1>report</h1>",
        "counts.csv": b"gene_id,K1\nG1,3\n",
        "qc/multiqc_report.html": b"<html>multiqc</html>",
        "bam/K1.bam": b"BAM\x01",
    }
    for rel, data in files.items():
        (out / job_id / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / job_id / rel).write_bytes(data)
    table = b"gene_id,log2FoldChange,padj\nG1,1.5,0.01\n"
    (out / f"{job_id}.csv").write_bytes(table)
    written = {f"file://{out}/{job_id}/{rel}": len(data) for rel, data in files.items()}
    record_written(world["url"], job_id, written | {f"file://{out}/{job_id}.csv": len(table)})
    return files | {f"{job_id}.csv": table}
