"""URI parsing, allowed roots and local file operations of ``genejobs.storage``."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from genejobs.errors import NotFound, PermissionDenied, ValidationError
from genejobs.storage import Storage, parse_uri
from genejobs.storage.store import is_same_bucket

# -- URI schemes ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["s3a", "s3", "obs", "S3A"])
def test_s3_schemes_parse_to_bucket_and_key(scheme: str) -> None:
    uri = f"{scheme}://diff-expr/run1/SRR1_R1.fastq.gz"
    loc = parse_uri(uri)
    assert loc.is_s3 and loc.scheme == "s3"
    assert (loc.bucket, loc.key) == ("diff-expr", "run1/SRR1_R1.fastq.gz")
    assert loc.fs_path == "diff-expr/run1/SRR1_R1.fastq.gz"
    assert str(loc) == uri  # the user's spelling is kept for messages and stored requests
    assert loc.name == "SRR1_R1.fastq.gz"


def test_s3_key_keeps_hash_and_question_mark() -> None:
    # both are legal in object keys; cutting the key there would read another object
    assert parse_uri("s3a://bkt/a#1.fastq.gz").key == "a#1.fastq.gz"
    assert parse_uri("s3://bkt/dir/a?b.csv").key == "dir/a?b.csv"
    assert parse_uri("file:///data/x#y.csv").key == "/data/x#y.csv"


def test_bucket_only_and_double_slash() -> None:
    assert parse_uri("s3a://bkt").key == ""
    assert parse_uri("obs://bkt//deep/x").key == "deep/x"


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///data/in/a.fastq.gz", "/data/in/a.fastq.gz"),
        ("file://localhost/data/a", "/data/a"),
        ("file:/data/a", "/data/a"),
        ("/data/in/./x/../a.fastq.gz", "/data/in/a.fastq.gz"),
    ],
)
def test_local_forms(uri: str, path: str) -> None:
    loc = parse_uri(uri)
    assert not loc.is_s3 and loc.bucket is None
    assert loc.key == path and loc.fs_path == path


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("relative/path.fastq.gz", "not a supported location"),
        ("http://example.com/a.fastq.gz", "not a supported location"),
        ("https://bkt.s3.example.com/a", "not a supported location"),
        ("s3a:///no-bucket/a", "has no bucket"),
        ("s3a://", "has no bucket"),
        ("s3a://bkt/a/../../other/x", "must not contain '..'"),
        ("obs://bkt/..", "must not contain '..'"),
        ("file://otherhost/etc/passwd", "names a remote host"),
        ("file:relative", "must be an absolute path"),
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("/data/a\x00b", "NUL"),
    ],
)
def test_rejected_uris_name_field_and_reason(uri: str, reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_uri(uri, field="inputs[0].group_inputs[0].files[1]")
    assert err.value.message.startswith("inputs[0].group_inputs[0].files[1]: ")
    assert reason in err.value.message


def test_location_join_parent_and_sibling() -> None:
    out = parse_uri("s3a://bkt/out/")
    child = out.join("job-1", "counts.csv")
    assert child.key == "out/job-1/counts.csv" and str(child) == "s3a://bkt/out/job-1/counts.csv"
    assert child.parent.key == "out/job-1" and str(child.parent) == "s3a://bkt/out/job-1"
    sib = child.with_suffix_name("report.html")
    assert sib.key == "out/job-1/report.html" and sib.bucket == "bkt"
    assert parse_uri("s3a://bkt").join("x.csv").key == "x.csv"  # no leading slash on S3


# -- is_same_bucket -------------------------------------------------------------


def test_is_same_bucket() -> None:
    assert is_same_bucket(["s3a://b1/x", "s3://b1/y", "obs://b1/z/"])
    assert not is_same_bucket(["s3a://b1/x", "s3a://b2/x"])
    assert is_same_bucket([])
    # local paths have no bucket and are left out of the comparison
    assert is_same_bucket(["s3a://b1/x", "/data/y", "file:///data/z"])
    assert not is_same_bucket(["/data/y", "s3a://b1/x", "s3a://b3/x"])
    with pytest.raises(ValidationError):
        is_same_bucket(["s3a://b1/x", "ftp://b1/x"])


# -- allowed roots --------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Storage, Path, Path]:
    root = tmp_path / "data"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    return Storage(allowed_roots=(root,)), root, outside


def test_paths_inside_the_root_are_accepted(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    assert storage.location(str(root / "a" / "b.csv")).key == str(root / "a" / "b.csv")
    assert storage.location(f"file://{root}/x.fastq.gz").key == f"{root}/x.fastq.gz"
    assert storage.location(str(root)).key == str(root)
    # S3 locations are not confined to local roots
    assert storage.location("s3a://bkt/x").is_s3


@pytest.mark.parametrize(
    "make_uri",
    [
        lambda root, out: "file:///etc/passwd",
        lambda root, out: "/etc/passwd",
        lambda root, out: f"{root}/../outside/secret.txt",
        lambda root, out: f"file://{root}/sub/../../outside/secret.txt",
        lambda root, out: f"{root}-sibling/x",  # a name that merely starts like the root
        lambda root, out: "/",
    ],
)
def test_escapes_are_denied(roots: tuple[Storage, Path, Path], make_uri) -> None:  # type: ignore[no-untyped-def]
    storage, root, outside = roots
    uri = make_uri(root, outside)
    with pytest.raises(PermissionDenied) as err:
        storage.location(uri, field="output")
    assert err.value.message.startswith("output: ")
    assert "outside the allowed local roots" in err.value.message
    assert "GENEJOBS_ALLOWED_ROOTS" in err.value.message
    assert str(root) in err.value.message


def test_symlink_inside_a_root_pointing_outside_is_denied(
    roots: tuple[Storage, Path, Path],
) -> None:
    storage, root, outside = roots
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    for uri in (str(root / "link.txt"), str(root / "linkdir" / "secret.txt")):
        with pytest.raises(PermissionDenied):
            storage.location(uri)
    # writing through a linked folder is refused too, even for a file not yet there
    with pytest.raises(PermissionDenied):
        storage.location(str(root / "linkdir" / "new" / "out.csv"), field="output")
    # a symlink that stays inside the root is fine
    (root / "real.txt").write_text("x")
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert storage.location(str(root / "alias.txt")).key == str(root / "alias.txt")


def test_no_roots_configured_denies_every_local_path(tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match="none configured"):
        Storage().location(str(tmp_path / "x"))


# -- local reads ----------------------------------------------------------------


def test_missing_input_is_not_found_naming_the_path(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    uri = str(root / "missing_R1.fastq.gz")
    loc = storage.location(uri, field="inputs[0].group_inputs[0].files[0]")
    with pytest.raises(NotFound) as err:
        storage.info(loc, field="inputs[0].group_inputs[0].files[0]")
    assert err.value.message == f"inputs[0].group_inputs[0].files[0]: '{uri}' does not exist"
    with pytest.raises(NotFound, match="missing_R1"):
        storage.open_read(loc)
    assert not storage.exists(loc)


def test_a_folder_is_not_an_input_file(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    (root / "dir").mkdir()
    with pytest.raises(NotFound, match="is a folder"):
        storage.info(storage.location(str(root / "dir")))


def test_info_size_and_identity_change_with_content(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    loc = storage.location(str(root / "a.txt"))
    storage.write_bytes(loc, b"12345")
    first = storage.info(loc)
    assert first.size_bytes == 5
    os.utime(loc.key, (1_000_000, 1_000_000))
    storage.write_bytes(loc, b"abcde")  # same size, new mtime
    second = storage.info(loc)
    assert second.size_bytes == 5 and second.identity != first.identity
    assert storage.read_bytes(loc) == b"abcde"
    with storage.local_copy(loc) as p:
        assert p == Path(loc.key) and p.read_bytes() == b"abcde"


# -- local writes ---------------------------------------------------------------


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(
    roots: tuple[Storage, Path, Path],
) -> None:
    storage, root, _ = roots
    loc = storage.location(str(root / "out" / "job" / "table.csv"))
    storage.write_bytes(loc, b"x" * 10_000)  # creates the folders
    storage.write_bytes(loc, b"short")
    assert Path(loc.key).read_bytes() == b"short"  # replaced, not overwritten in place
    assert sorted(os.listdir(root / "out" / "job")) == ["table.csv"]
    src = root / "local.bin"
    src.write_bytes(b"y" * (3 << 20))
    storage.put_file(src, loc)
    assert Path(loc.key).read_bytes() == src.read_bytes()
    assert storage.listdir(loc.parent) == ["table.csv"]


def test_failed_write_keeps_the_old_file_and_no_temp(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    loc = storage.location(str(root / "table.csv"))
    storage.write_bytes(loc, b"old")
    with pytest.raises(TypeError):
        storage.write_bytes(loc, "not bytes")  # type: ignore[arg-type]
    assert Path(loc.key).read_bytes() == b"old"
    assert os.listdir(root) == ["table.csv"]


def test_check_writable_creates_the_folder_and_cleans_its_probe(
    roots: tuple[Storage, Path, Path],
) -> None:
    storage, root, _ = roots
    out = storage.location(str(root / "results" / "run1"), field="output")
    storage.check_writable(out)
    assert (root / "results" / "run1").is_dir()
    assert os.listdir(root / "results" / "run1") == []


def test_unwritable_output_is_permission_denied(roots: tuple[Storage, Path, Path]) -> None:
    # Tests run as root, so chmod cannot make a folder unwritable; a path under a
    # regular FILE cannot be created by anyone (mkdir fails with ENOTDIR/EEXIST).
    storage, root, _ = roots
    (root / "file.txt").write_text("I am a file")
    out = storage.location(str(root / "file.txt" / "out"), field="output")
    with pytest.raises(PermissionDenied) as err:
        storage.check_writable(out, field="output")
    assert err.value.message.startswith(f"output: '{root}/file.txt/out' is not writable")
    assert (root / "file.txt").read_text() == "I am a file"


def test_remove_and_listdir(roots: tuple[Storage, Path, Path]) -> None:
    storage, root, _ = roots
    folder = storage.location(str(root / "f"))
    assert storage.listdir(folder) == []
    storage.write_bytes(folder.join("b.txt"), b"b")
    storage.write_bytes(folder.join("a.txt"), b"a")
    assert storage.listdir(folder) == ["a.txt", "b.txt"]
    storage.remove(folder)
    assert not (root / "f").exists()
    storage.remove(folder)  # removing what is gone is not an error


def test_storage_pickles_for_workers(tmp_path: Path) -> None:
    storage = Storage(allowed_roots=(tmp_path,), s3_endpoint_url="http://127.0.0.1:1")
    storage.filesystem(parse_uri("s3a://bkt/x"))  # builds the (unpicklable-ish) client
    clone = pickle.loads(pickle.dumps(storage))
    assert clone.allowed_roots == storage.allowed_roots
    assert clone.s3_endpoint_url == "http://127.0.0.1:1"
    assert clone._s3 is None


def test_gzip_is_told_by_its_magic_number_not_by_the_name(tmp_path: Path) -> None:
    import gzip

    from genejobs.storage.compression import is_gzip_file, is_gzip_head, open_text

    packed = tmp_path / "plain-name.txt"  # gzipped, named as plain text
    packed.write_bytes(gzip.compress(b">chr1\nACGT\n"))
    plain = tmp_path / "named.gz"  # plain text, named as gzip
    plain.write_bytes(b">chr1\nACGT\n")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert is_gzip_file(packed) and not is_gzip_file(plain) and not is_gzip_file(empty)
    assert is_gzip_head(b"\x1f\x8b\x08") and not is_gzip_head(b"\x1f")
    for path in (packed, plain):
        with open_text(path, encoding="ascii") as fh:
            assert fh.read() == ">chr1\nACGT\n"


def test_a_full_disk_is_named_on_the_output_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing an output (a stand-in for a full disk: the real one cannot be
    filled in a unit test) reads "no space left on <output>", and nothing is left behind;
    the job's failure message says the same."""
    import builtins
    import errno

    from genejobs.errors import NoSpaceLeft
    from genejobs.jobs.run.outcomes import statistics_failed

    storage = Storage(allowed_roots=(tmp_path,))
    target = storage.location(str(tmp_path / "out" / "J.csv"), field="output")
    real_open = builtins.open

    def full(path, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        fh = real_open(path, mode, *args, **kwargs)
        if "w" in mode and str(path).startswith(str(tmp_path / "out")):
            fh.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return fh

    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(NoSpaceLeft) as caught:
        storage.write_bytes(target, b"gene_id\n")
    assert caught.value.message.startswith(f"output: no space left on '{target.original}'")
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no temporary file stays
    failed = statistics_failed("J", caught.value)
    assert "no space left on" in failed.message and "internal error" not in failed.message


def test_kind_own_size_and_remove_file_never_follow_a_symlink(tmp_path: Path) -> None:
    storage = Storage(allowed_roots=(tmp_path,))
    target = tmp_path / "big.bin"
    target.write_bytes(b"x" * 1000)
    (tmp_path / "dir").mkdir()
    os.symlink(target, tmp_path / "link")
    loc = lambda name: storage.location(str(tmp_path / name))  # noqa: E731
    assert storage.kind(loc("big.bin")) == "file" and storage.kind(loc("dir")) == "folder"
    assert storage.kind(loc("link")) == "symbolic link" and storage.kind(loc("none")) is None
    assert storage.own_size(loc("big.bin")) == 1000 and storage.own_size(loc("link")) is None
    storage.remove_file(loc("link"))
    assert target.exists() and not (tmp_path / "link").exists()
    with pytest.raises(PermissionDenied, match="folder"):
        storage.remove_file(loc("dir"))
    assert (tmp_path / "dir").is_dir()
