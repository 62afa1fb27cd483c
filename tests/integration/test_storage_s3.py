"""``Storage`` against a real SeaweedFS S3 server (the session's ``s3_server``)."""

from __future__ import annotations

import gzip
import uuid

import dnaio
import numpy as np
import pytest

from genejobs.errors import NotFound, PermissionDenied
from genejobs.storage import Storage, parse_uri
from genejobs.storage.seaweed import LocalS3Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bucket(s3_server: LocalS3Server) -> str:
    name = f"storage-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


def test_write_read_info_and_identity(s3_storage: Storage, bucket: str) -> None:
    loc = s3_storage.location(f"s3a://{bucket}/dir/a.txt")
    s3_storage.write_bytes(loc, b"hello")
    info = s3_storage.info(loc)
    assert info.size_bytes == 5
    assert s3_storage.read_bytes(loc) == b"hello"
    assert s3_storage.exists(loc)
    assert s3_storage.info(loc).identity == info.identity  # stable while unchanged
    s3_storage.write_bytes(loc, b"jello")  # same size, other content
    changed = s3_storage.info(loc)
    assert changed.size_bytes == 5 and changed.identity != info.identity
    # every S3 spelling reaches the same object
    for scheme in ("s3", "obs"):
        assert s3_storage.read_bytes(parse_uri(f"{scheme}://{bucket}/dir/a.txt")) == b"jello"
    assert s3_storage.listdir(loc.parent) == ["a.txt"]


def test_missing_object_is_not_found(s3_storage: Storage, bucket: str) -> None:
    uri = f"s3a://{bucket}/nope/R1.fastq.gz"
    loc = parse_uri(uri)
    with pytest.raises(NotFound) as err:
        s3_storage.info(loc, field="inputs[0].group_inputs[0].files[0]")
    assert err.value.message == f"inputs[0].group_inputs[0].files[0]: '{uri}' does not exist"
    with pytest.raises(NotFound, match="nope/R1"):
        s3_storage.open_read(loc)
    with pytest.raises(NotFound, match="nope/R1"), s3_storage.local_copy(loc):
        pass
    assert not s3_storage.exists(loc)


def test_streaming_read_of_a_gzip_fastq(s3_storage: Storage, bucket: str) -> None:
    # random bases and qualities so the object stays large (> 2 read blocks of 4 MiB)
    rng = np.random.default_rng(7)
    n, length = 90_000, 100
    seqs = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, length))]
    quals = rng.integers(35, 74, (n, length)).astype(np.uint8)
    records = [
        b"@read%d/1\n%s\n+\n%s\n" % (i, seqs[i].tobytes(), quals[i].tobytes()) for i in range(n)
    ]
    data = gzip.compress(b"".join(records), compresslevel=1)
    assert len(data) > 8 << 20
    loc = parse_uri(f"s3a://{bucket}/reads/S1_R1.fastq.gz")
    s3_storage.write_bytes(loc, data)
    with s3_storage.open_read(loc) as raw, gzip.open(raw) as fh:
        first = next(iter(dnaio.open(fh, fileformat="fastq")))
        assert first.name == "read0/1"
        assert first.sequence == seqs[0].tobytes().decode()
        assert first.qualities == quals[0].tobytes().decode()
        # ranged reads: only the first block(s) came over the wire, not the object
        assert raw.cache.total_requested_bytes < len(data) // 2


def test_local_copy_fetches_the_object(s3_storage: Storage, bucket: str) -> None:
    loc = parse_uri(f"s3a://{bucket}/models/genes.bed")
    s3_storage.write_bytes(loc, b"chr1\t0\t10\n")
    with s3_storage.local_copy(loc) as path:
        assert path.name == "genes.bed"
        assert path.read_bytes() == b"chr1\t0\t10\n"
    assert not path.exists()  # removed after use


def test_put_file_uploads(s3_storage: Storage, bucket: str, tmp_path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * 4096)
    loc = parse_uri(f"s3a://{bucket}/out/big.bin")
    s3_storage.put_file(src, loc)
    assert s3_storage.read_bytes(loc) == src.read_bytes()
    s3_storage.remove(loc)
    assert not s3_storage.exists(loc)


def test_check_writable(s3_storage: Storage, s3_server: LocalS3Server, bucket: str) -> None:
    out = parse_uri(f"s3a://{bucket}/results/run1")
    s3_storage.check_writable(out)
    assert s3_storage.listdir(out) == []  # the probe was removed
    missing = f"nobucket-{uuid.uuid4().hex[:8]}"
    with pytest.raises(NotFound) as err:
        s3_storage.check_writable(parse_uri(f"s3a://{missing}/out"), field="output")
    assert err.value.message == f"output: bucket '{missing}' does not exist"
    # the check must not have created the bucket as a side effect (SeaweedFS
    # creates buckets on PUT for an admin identity)
    assert not s3_server.filesystem().exists(missing)


def test_wrong_credentials_are_permission_denied(s3_server: LocalS3Server, bucket: str) -> None:
    good = Storage(
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    )
    loc = parse_uri(f"s3a://{bucket}/creds/x.txt")
    good.write_bytes(loc, b"x")
    bad = Storage(
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(PermissionDenied, match="creds/x.txt"):
        bad.info(loc, field="inputs[0].group_inputs[0].files[0]")
    with pytest.raises(PermissionDenied):
        bad.read_bytes(loc)
    with pytest.raises(PermissionDenied):
        bad.write_bytes(parse_uri(f"s3a://{bucket}/creds/y.txt"), b"y")
    # not "bucket does not exist": the bucket is there, the signature is wrong
    with pytest.raises(PermissionDenied, match="denied"):
        bad.check_writable(parse_uri(f"s3a://{bucket}/creds/out"), field="output")
    assert not good.exists(parse_uri(f"s3a://{bucket}/creds/y.txt"))


def test_many_buckets_each_take_writes(s3_server, s3_storage):
    # SeaweedFS gives every bucket its own volumes; too low a volume cap made the
    # fourth bucket's first PUT fail with an InternalError.
    for i in range(6):
        s3_server.create_bucket(f"many-{i}")
        loc = parse_uri(f"s3a://many-{i}/x.txt")
        s3_storage.write_bytes(loc, b"x")
        assert s3_storage.read_bytes(loc) == b"x"
