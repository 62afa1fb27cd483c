"""Browsing and a job's outputs on a real S3 server (SeaweedFS), as the console uses them."""

from __future__ import annotations

import json
import uuid

import pytest

from genejobs.errors import JobNotFound, NotFound
from genejobs.jobs.browse import JobOutputs, list_files
from genejobs.jobs.store.models import JobRow
from genejobs.jobs.store.ownership import add_written
from genejobs.storage import Storage, parse_uri
from genejobs.storage.seaweed import LocalS3Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bucket(s3_server: LocalS3Server, s3_storage: Storage) -> str:
    name = f"browse-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    for key, data in {
        "reads/A1_R1.fastq.gz": b"a" * 10,
        "reads/A1_R2.fastq.gz": b"b" * 11,
        "reads/B1_1.fq.gz": b"c" * 12,
        "reads/sub/x.txt": b"x",
        "genes.bed": b"chr1\t0\t10\n",
    }.items():
        s3_storage.write_bytes(parse_uri(f"s3a://{name}/{key}"), data)
    return name


def test_the_root_lists_buckets_and_folders_list_their_files(s3_storage, bucket):
    assert f"s3a://{bucket}/" in list_files(s3_storage, None)["folders"]
    top = list_files(s3_storage, f"s3a://{bucket}/")
    assert top["folders"] == [f"s3a://{bucket}/reads/"]
    assert [f["uri"] for f in top["files"]] == [f"s3a://{bucket}/genes.bed"]
    reads = list_files(s3_storage, f"s3a://{bucket}/reads/")
    assert {f["uri"]: f["size"] for f in reads["files"]} == {
        f"s3a://{bucket}/reads/A1_R1.fastq.gz": 10,
        f"s3a://{bucket}/reads/A1_R2.fastq.gz": 11,
        f"s3a://{bucket}/reads/B1_1.fq.gz": 12,
    }
    assert reads["folders"] == [f"s3a://{bucket}/reads/sub/"]
    named = list_files(s3_storage, f"s3a://{bucket}/reads/A1")
    assert [f["uri"].rsplit("/", 1)[1] for f in named["files"]] == [
        "A1_R1.fastq.gz",
        "A1_R2.fastq.gz",
    ]
    first = list_files(s3_storage, f"s3a://{bucket}/reads/", limit=2)
    rest = list_files(s3_storage, f"s3a://{bucket}/reads/", marker=first["next_marker"])
    got = [f["uri"] for f in first["files"] + rest["files"]] + first["folders"] + rest["folders"]
    assert len(got) == 4 and rest["next_marker"] is None


def test_a_missing_bucket_is_named(s3_storage):
    with pytest.raises(NotFound, match="prefix"):
        list_files(s3_storage, f"s3a://nope-{uuid.uuid4().hex[:6]}/")


def test_outputs_on_s3_are_listed_and_confined(s3_storage, bucket):
    job_id = str(uuid.uuid4())
    for key in (f"out/{job_id}/report.html", f"out/{job_id}/qc/multiqc_report.html"):
        s3_storage.write_bytes(parse_uri(f"s3a://{bucket}/{key}"), b"<html></html>")
    s3_storage.write_bytes(parse_uri(f"s3a://{bucket}/out/{job_id}/planted.html"), b"<x>")
    s3_storage.write_bytes(parse_uri(f"s3a://{bucket}/out/{job_id}.csv"), b"gene_id\n")
    table = f"s3a://{bucket}/out/{job_id}.csv"
    row = JobRow(job_id=job_id, request_json=json.dumps({"output": table}), outputs_json="{}")
    add_written(
        row,
        [
            (f"s3a://{bucket}/out/{job_id}/report.html", 13),
            (f"s3a://{bucket}/out/{job_id}/qc/multiqc_report.html", 13),
            (table, 8),
            (f"s3a://{bucket}/genes.bed", 11),  # not the job's place: never recorded
        ],
    )
    where = JobOutputs.of(row)
    # the manifest, not the folder: the planted file is not listed
    assert [o["path"] for o in where.listing(s3_storage)] == [
        f"{job_id}.csv",
        "qc/multiqc_report.html",
        "report.html",
    ]
    loc = where.resolve(s3_storage, "qc/multiqc_report.html")
    assert s3_storage.read_bytes(loc) == b"<html></html>"
    for bad in ("../genes.bed", "qc/../../genes.bed", "", "/etc/passwd", "planted.html"):
        with pytest.raises(JobNotFound):
            where.resolve(s3_storage, bad)
