"""The dry run's look at each FASTQ head: every kind of mistake, named, within its bounds."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from genejobs.jobs.request.fastq_heads import HEAD_BYTES, RunFiles, check_heads
from genejobs.storage import Storage


def fastq(names: list[str], qual: str = "I", length: int = 20) -> bytes:
    return "".join(f"@{n}\n{'ACGT' * (length // 4)}\n+\n{qual * length}\n" for n in names).encode()


def ids(n: int, mate: int | None = None, casava: int | None = None, prefix: str = "r") -> list[str]:
    suffix = f"/{mate}" if mate else ""
    comment = f" {casava}:N:0:ACGT" if casava else ""
    return [f"{prefix}{i}{suffix}{comment}" for i in range(n)]


@pytest.fixture
def store(tmp_path: Path):
    storage = Storage(allowed_roots=(tmp_path,))

    def put(name: str, data: bytes, *, gz: bool = True) -> str:
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return str(path)

    def check(*runs: tuple[str, ...], timeout_s: float = 20.0):
        rf = [
            RunFiles("S", i + 1, tuple((u, storage.location(u)) for u in run))
            for i, run in enumerate(runs)
        ]
        return check_heads(storage, rf, timeout_s=timeout_s)

    return put, check


def test_a_good_pair_passes(store):
    put, check = store
    (heads,) = check(
        (
            put("a_R1.fastq.gz", fastq(ids(50, casava=1))),
            put("a_R2.fastq.gz", fastq(ids(50, casava=2))),
        )
    )
    assert [(h.problems, h.warnings, h.reads, h.compression) for h in heads] == [
        ([], [], 50, "gzip"),
        ([], [], 50, "gzip"),
    ]


def test_swapped_reads(store):
    put, check = store
    (heads,) = check(
        (put("b_R1.fastq.gz", fastq(ids(20, mate=2))), put("b_R2.fastq.gz", fastq(ids(20, mate=1))))
    )
    assert heads[0].problems[0].startswith("read 1 and read 2 look swapped")


def test_mates_that_do_not_match_and_counts_that_differ(store):
    put, check = store
    (heads,) = check(
        (put("c_R1.fq.gz", fastq(ids(20))), put("c_R2.fq.gz", fastq(ids(20, prefix="q"))))
    )
    assert heads[0].problems == [
        "read 1 and read 2 do not match: read 1 is 'r0' in read 1 but 'q0' in read 2 (files of "
        "different runs or lanes?)"
    ]
    (heads,) = check((put("d_R1.fq.gz", fastq(ids(20))), put("d_R2.fq.gz", fastq(ids(18)))))
    assert heads[0].problems == ["read 1 has 20 reads but read 2 has 18"]


def test_truncated_gzip_not_gzip_not_fastq_and_empty(store):
    put, check = store
    whole = gzip.compress(fastq(ids(200)))
    cut = put("e_R1.fastq.gz", whole[: len(whole) // 2], gz=False)
    plain = put("f.fastq.gz", fastq(ids(5)), gz=False)
    bam = put("g.fastq.gz", b"BAM\x01" + bytes(100))
    empty = put("h.fastq", b"", gz=False)
    bad = put("i.fastq", b"@r1\nACGT\n-\nIIII\n", gz=False)
    heads = [h for run in check((cut,), (plain,), (bam,), (empty,), (bad,)) for h in run]
    assert heads[0].problems == [
        "is truncated: its gzip stream ends before its end marker (the file was cut off, e.g. "
        "by an interrupted upload)"
    ]
    assert heads[1].problems == [] and heads[1].warnings == [
        "is named .gz but is not gzip-compressed (it is read as plain FASTQ)"
    ]
    assert heads[2].problems == [
        "is not FASTQ: it starts with 'BAM\\x01\\x00\\x00\\x00\\x00"
        "\\x00\\x00\\x00\\x00', a FASTQ file with '@'"
    ]
    assert heads[3].problems == ["is empty"]
    assert heads[4].problems[0].startswith("is not valid FASTQ: ")


def test_phred64_and_interleaved(store):
    put, check = store
    (h64,), (inter,) = check(
        (put("j.fq.gz", fastq(ids(10), qual="h")),),
        (put("k.fq.gz", fastq([n for i in range(10) for n in (f"r{i}/1", f"r{i}/2")])),),
    )
    assert h64.problems[0].startswith("has Phred+64 quality scores (lowest 'h', highest 'h')")
    assert inter.problems[0].startswith("holds interleaved pairs")


def test_a_single_end_file_with_its_read_2_beside_it(store):
    put, check = store
    r1 = put("L_R1.fastq.gz", fastq(ids(10)))
    put("L_R2.fastq.gz", fastq(ids(10)))
    ((head,),) = check((r1,))
    assert head.warnings == [
        "'L_R2.fastq.gz' lies beside it: if the library is paired, give each run as "
        "[read 1, read 2]"
    ]


def test_the_head_is_bounded_and_a_cut_record_at_the_cap_is_not_a_problem(store):
    put, check = store
    big = put("m.fastq", fastq(ids(20000), length=40), gz=False)
    assert Path(big).stat().st_size > HEAD_BYTES
    ((head,),) = check((big,))
    assert head.problems == [] and 0 < head.reads <= 2000 and not head.whole


def test_a_store_that_does_not_answer_is_not_waited_for(store, monkeypatch):
    put, check = store
    path = put("n.fq.gz", fastq(ids(5)))
    real = Storage.open_read

    def slow(self, loc, **kw):
        time.sleep(1.5)
        return real(self, loc, **kw)

    monkeypatch.setattr(Storage, "open_read", slow)
    started = time.monotonic()
    ((head,),) = check((path,), timeout_s=0.3)
    assert time.monotonic() - started < 1.0
    assert not head.checked
    assert head.warnings == ["not checked: the storage did not answer within 0.3 s"]
