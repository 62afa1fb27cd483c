"""minimap2 in separate processes that share one loaded index.

Why processes: mappy releases the GIL only inside minimap2, and each pair's hits,
pairing and flattening hold it, so align threads mostly waited on each other
(measured: two threads no faster than one). Why one server that forks: a human
splice index is many GB; the children forked after it is loaded share its pages
(copy-on-write) instead of loading one copy per core. The server is a new
interpreter (``python -m genejobs.pipeline.alignserver``) and has no threads when
it forks; forking a Dask worker, which runs threads, would not be safe.

Lifetime: ``align_processes`` gives a sample an idle server for its index, or
starts one (samples running at once get one each). After the sample the server
stays idle in this process for the next sample of the same index; it is closed
when a sample asks for another index, when it died or still had a cancelled
sample's chunks it could not drain, and at interpreter exit.

Protocol, one socket per child, pickled messages: the child first says
``("ready", pid)``; then ``("align", pairs, sam)`` → ``("ok", ServedChunk)`` and
``("contigs",)`` → ``("ok", [(name, length), ...])``; errors → ``("error", text)``.
A child exits when its socket closes and the server when its children have, so
a server also dies with the process that started it.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from genejobs.pipeline.align import FlatPlacements
from genejobs.pipeline.bam import PairRecord


class ServedChunk(NamedTuple):
    """A chunk's placements for counting and, when asked, its SAM text."""

    flat: FlatPlacements
    sam: str | None


class AlignServerError(RuntimeError):
    """The alignment processes failed (index not loadable, a child died)."""


class AlignProcesses:
    """A started server: ``processes`` children, each mapping its share of a chunk."""

    def __init__(self, index_path: Path, processes: int) -> None:
        self.index_path = Path(index_path)
        self.processes = max(1, processes)
        ours, theirs = zip(*(socket.socketpair() for _ in range(self.processes)), strict=True)
        fds = [s.fileno() for s in theirs]
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "genejobs.pipeline.alignserver",
                str(index_path),
                *map(str, fds),
            ],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        for s in theirs:
            s.close()
        self._conns = [Connection(s.detach()) for s in ours]
        self._waiting = [0] * self.processes  # results not yet read, per child
        self._broken = False  # a child or the server died: not to be reused
        self._child_pids: list[int] | None = None  # known once the index is loaded

    def wait_ready(self) -> list[int]:
        """Wait until the index is loaded (each child says ``("ready", pid)``).

        Not done in ``__init__``: the caller reads its first chunk meanwhile.
        """
        if self._child_pids is None:
            self._child_pids = [self._receive(conn) for conn in self._conns]
        return self._child_pids

    @property
    def pids(self) -> list[int]:
        """The server's and its children's process ids (for memory accounting)."""
        return [self._proc.pid, *self.wait_ready()]

    def _failure(self) -> AlignServerError:
        self._broken = True
        try:  # a server that failed to start exits at once; let its stderr land
            self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        code = self._proc.returncode
        if lines:
            detail = lines[-1]
        elif code is None:  # the server lives on: one of its children died (killed, crashed)
            detail = "an align process exited unexpectedly"
        else:
            detail = f"exit status {code}"
        return AlignServerError(f"alignment process for {self.index_path} failed: {detail}")

    def _receive(self, conn: Connection) -> Any:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            raise self._failure() from None
        if message[0] == "error":
            raise AlignServerError(f"alignment failed: {message[1]}")
        return message[1] if len(message) > 1 else None

    def _send(self, child: int, message: tuple[Any, ...]) -> None:
        self.wait_ready()
        try:
            self._conns[child].send(message)
        except OSError:
            raise self._failure() from None
        self._waiting[child] += 1

    def contigs(self) -> list[tuple[str, int]]:
        """Names and lengths of the index's sequences (for a BAM header)."""
        self._send(0, ("contigs",))
        self._waiting[0] -= 1
        return list(self._receive(self._conns[0]))

    def submit(
        self, pairs: Sequence[tuple[str, str]] | Sequence[PairRecord], *, sam: bool = False
    ) -> Callable[[], ServedChunk]:
        """Send a chunk out in equal shares; the returned call collects it, in order.

        ``pairs`` are (read 1, read 2) sequences, or ``PairRecord``s when ``sam``
        asks for the chunk's alignments as SAM text too (for a BAM).
        Collect before the next ``submit``: a child blocks until its result is read.
        """
        step = max(64, -(-len(pairs) // self.processes))
        parts = [pairs[i : i + step] for i in range(0, len(pairs), step)]
        used = range(len(parts))
        for i, part in zip(used, parts, strict=True):
            self._send(i, ("align", part, sam))

        def collect() -> ServedChunk:
            replies = []
            for i in used:
                replies.append(self._receive(self._conns[i]))
                self._waiting[i] -= 1
            return ServedChunk(
                FlatPlacements.concat([r.flat for r in replies]),
                "".join(r.sam for r in replies) if sam else None,
            )

        return collect

    def drain(self) -> bool:
        """Read results nobody collected (a cancelled sample); False if that failed."""
        try:
            for i, conn in enumerate(self._conns):
                while self._waiting[i] and conn.poll(600):
                    self._receive(conn)
                    self._waiting[i] -= 1
        except AlignServerError:
            return False
        return not any(self._waiting) and self.alive()

    def alive(self) -> bool:
        """False once a child or the server is known dead (then it is not reused)."""
        return not self._broken and self._proc.poll() is None

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


_IDLE: dict[tuple[str, int], list[AlignProcesses]] = {}
_IDLE_LOCK = threading.Lock()


@contextmanager
def align_processes(index_path: Path, processes: int) -> Iterator[AlignProcesses]:
    """A server for this index, reused across samples in this process.

    The index is loaded once per worker process (and kept while samples use it);
    servers for another index are closed, so one index at a time holds memory.
    Samples running at once get a server each.
    """
    key = (str(index_path), max(1, processes))
    with _IDLE_LOCK:
        idle = _IDLE.get(key) or []
        server = idle.pop() if idle else None
        stale = [s for k in list(_IDLE) if k != key for s in _IDLE.pop(k)]
    for old in stale:
        old.close()
    if server is not None and not server.alive():
        server.close()
        server = None
    if server is None:
        server = AlignProcesses(Path(index_path), processes)
    try:
        yield server
    finally:
        if server.drain():
            with _IDLE_LOCK:
                _IDLE.setdefault(key, []).append(server)
        else:
            server.close()


@atexit.register
def close_idle_servers() -> None:
    with _IDLE_LOCK:
        servers = [s for group in _IDLE.values() for s in group]
        _IDLE.clear()
    for server in servers:
        server.close()


# ---- the server process --------------------------------------------------------------------


def _serve(aligner: Any, conn: Connection) -> None:
    import mappy

    from genejobs.pipeline.align import align_pairs
    from genejobs.pipeline.bam import sam_records

    buf = mappy.ThreadBuffer()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        try:
            if message[0] == "contigs":
                reply: tuple[Any, ...] = (
                    "ok",
                    [(n, len(aligner.seq(n))) for n in aligner.seq_names],
                )
            else:
                _, pairs, sam = message
                seqs = [(r.seq1, r.seq2) for r in pairs] if sam else pairs
                chunk = align_pairs(aligner, seqs, keep_placements=sam, buf=buf)
                text = (
                    sam_records(pairs, chunk.placements) if chunk.placements is not None else None
                )
                reply = ("ok", ServedChunk(chunk.flat, text))
        except Exception as exc:  # reported to the parent, which fails the sample
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(reply)


def main(argv: list[str]) -> int:
    from genejobs.pipeline.align import load_aligner

    index_path, fds = argv[0], [int(fd) for fd in argv[1:]]
    try:
        aligner = load_aligner(Path(index_path))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    children = []
    for fd in fds:
        pid = os.fork()
        if pid == 0:
            for other in fds:
                if other != fd:
                    os.close(other)
            code = 0
            try:
                _serve(aligner, Connection(fd))
            except BaseException:  # the parent went away mid-reply, or was interrupted
                code = 1
            os._exit(code)
        children.append(pid)
    for fd in fds:
        os.close(fd)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    # Run the imported module's main, so that what the children pickle is named
    # genejobs.pipeline.alignserver.ServedChunk, not __main__.ServedChunk.
    from genejobs.pipeline import alignserver

    raise SystemExit(alignserver.main(sys.argv[1:]))
