"""The alignment server: real forked processes give what in-process alignment gives,
report a bad index by name, survive a cancelled sample, and go away with their parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import mappy
import pytest

from genejobs.errors import CancelledError
from genejobs.pipeline.align import align_pairs, load_aligner
from genejobs.pipeline.alignserver import (
    AlignProcessDied,
    AlignProcesses,
    AlignServerError,
    align_processes,
)
from genejobs.pipeline.bam import pair_record, sam_records
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("alignserver")
    manifest = simulate(
        root / "sim", SimConfig(n_genes=60, pairs_per_sample=3_000, samples_per_group=1)
    )
    registry = ReferenceRegistry(root / "refs")
    registry.add("sim", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
    ref = registry.resolve("sim", "a.gtf")
    r1, r2 = next(iter(manifest.reads.values()))
    records = [
        pair_record(a[0], a[1], a[2], b[1], b[2])
        for a, b in zip(mappy.fastx_read(r1), mappy.fastx_read(r2), strict=True)
    ]
    return ref.index_path, [(r.seq1, r.seq2) for r in records], records


def _flat(chunk):
    """The placements as plain values (contig codes resolved to names)."""
    f = chunk.flat
    contigs = [f.contigs[c] for c in f.blk_contig]
    arrays = (f.status, f.blk_pair, f.blk_start, f.blk_end, f.blk_strand)
    return [a.tolist() for a in arrays] + [contigs]


def test_two_processes_give_the_in_process_placements_in_order(sim):
    index_path, seqs, records = sim
    expected = align_pairs(load_aligner(index_path), seqs, keep_placements=True)
    assert expected.placements is not None
    server = AlignProcesses(index_path, 2)
    try:
        got = server.submit(seqs)()
        assert _flat(got) == _flat(expected) and got.sam is None
        with_sam = server.submit(records, sam=True)()
        assert _flat(with_sam) == _flat(expected)
        assert with_sam.sam == sam_records(records, expected.placements)
        aligner = load_aligner(index_path)
        assert server.contigs() == [(n, len(aligner.seq(n))) for n in aligner.seq_names]
    finally:
        server.close()
    assert server._proc.returncode == 0  # the server exits once its sockets close


def test_an_unreadable_index_is_named_in_the_error(tmp_path):
    bad = tmp_path / "genome.mmi"
    bad.write_bytes(b"not an index")
    for path in (bad, tmp_path / "missing.mmi"):
        with pytest.raises(AlignServerError, match=f"cannot load the minimap2 index {path}"):
            AlignProcesses(path, 1).wait_ready()


def test_a_cancelled_sample_leaves_a_clean_server_for_the_next(sim):
    index_path, seqs, _ = sim
    with pytest.raises(KeyboardInterrupt), align_processes(index_path, 2) as server:
        server.submit(seqs[:500])  # never collected, as when stop() cancels a sample
        raise KeyboardInterrupt
    with align_processes(index_path, 2) as again:
        assert again is server  # reused: the stale results were drained
        got = again.submit(seqs[:10])()
    assert _flat(got) == _flat(align_pairs(load_aligner(index_path), seqs[:10]))


def test_children_exit_when_their_parent_is_killed(sim, tmp_path):
    index_path, _, _ = sim
    script = (
        "import sys, time\n"
        "from genejobs.pipeline.alignserver import AlignProcesses\n"
        f"s = AlignProcesses({str(index_path)!r}, 2)\n"
        "print(s._proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return
        # a zombie (exited, not yet reaped by init) counts as gone
        stat = Path(f"/proc/{server_pid}/stat")
        if stat.exists() and stat.read_text().split()[2] == "Z":
            return
        time.sleep(0.1)
    pytest.fail("the alignment server outlived its parent")


def test_a_child_that_dies_fails_the_chunk_with_a_message(sim):
    index_path, seqs, _ = sim
    server = AlignProcesses(index_path, 2)
    try:
        os.kill(server.pids[2], 9)
        with pytest.raises(AlignServerError, match="exited unexpectedly"):
            server.submit(seqs[:500])()
        assert not server.drain()  # not reusable: align_processes() would close it
    finally:
        server.close()


def test_a_child_that_reports_an_error_leaves_the_bookkeeping_right(sim):
    index_path, seqs, _ = sim
    with align_processes(index_path, 2) as server:
        server._send(0, ("align", [("ACGT",)], False))  # a malformed pair: the child says why
        with pytest.raises(AlignServerError, match="alignment failed: ValueError"):
            server._receive(0)
        server._send(1, ("align", [("ACGT",)], False))  # and one nobody collects
        started = time.monotonic()
        assert server.drain()  # nothing left waiting: no ten-minute poll
        assert time.monotonic() - started < 5
        assert server._waiting == [0, 0]
    with align_processes(index_path, 2) as again:
        assert again is server  # still healthy, so reused
        got = again.submit(seqs[:10])()
    assert _flat(got) == _flat(align_pairs(load_aligner(index_path), seqs[:10]))


def test_a_killed_child_is_named_with_its_signal_and_likely_cause(sim):
    index_path, seqs, _ = sim
    server = AlignProcesses(index_path, 2)
    try:
        child = server.pids[1]
        os.kill(child, 9)
        with pytest.raises(AlignProcessDied) as caught:
            server.submit(seqs[:500])()
        message = caught.value.message
        assert f"align process (pid {child}) exited unexpectedly" in message
        assert "SIGKILL (signal 9)" in message and "out of memory" in message
        started = time.monotonic()
        assert not server.drain()
        assert time.monotonic() - started < 5
    finally:
        server.close()


def test_an_index_that_never_loads_times_out_or_stops_with_the_job(tmp_path):
    never = tmp_path / "genome.mmi"
    os.mkfifo(never)  # opening it blocks until a writer comes: a load that hangs
    server = AlignProcesses(never, 1, ready_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(AlignServerError, match=f"{never} failed: the index was not loaded after"):
        server.wait_ready()
    assert time.monotonic() - started < 5
    server.close()
    assert server._proc.returncode is not None  # killed, not left loading

    def stop() -> None:
        raise CancelledError("the job was cancelled")

    started = time.monotonic()
    with pytest.raises(CancelledError), align_processes(never, 1, stop=stop) as server:
        server.submit([("ACGT", "ACGT")])
    assert time.monotonic() - started < 5
    assert not server.alive()
