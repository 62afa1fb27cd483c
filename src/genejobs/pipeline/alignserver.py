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
when a sample asks for another index, when it died, never loaded or still had a
cancelled sample's chunks it could not drain, and at interpreter exit.

Protocol, one socket per child, pickled messages: the child first says
``("ready", pid)``; then ``("align", pairs, sam)`` → ``("ok", ServedChunk)`` and
``("contigs",)`` → ``("ok", [(name, length), ...])``; errors → ``("error", text)``.
A child exits when its socket closes and the server when its children have, so
a server also dies with the process that started it.

Bookkeeping: every request sent counts as waiting until its reply (or error) is
read, so ``drain()`` never waits for a reply that will not come. A child that dies
is reported by the server on its stderr (``align process <pid> ...``), which the
parent quotes: which process, which signal or exit status, and the likely reason.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

from genejobs.errors import WorkerProcessDied
from genejobs.pipeline.align import FlatPlacements
from genejobs.pipeline.bam import PairRecord
from genejobs.pipeline.records import StopCheck

# How long a server may take to load its index before it is given up on; a human
# splice index takes minutes, so this only catches a load that hangs.
READY_TIMEOUT_S = 3600.0
_POLL_S = 0.5  # how often a wait for the index looks at the stop check
# How long the parent waits for the server to say why a child died.
_CAUSE_WAIT_S = 2.0


class ServedChunk(NamedTuple):
    """A chunk's placements for counting and, when asked, its SAM text."""

    flat: FlatPlacements
    sam: str | None


class AlignServerError(RuntimeError):
    """The alignment processes failed (index not loadable, a child died)."""


class AlignProcessDied(WorkerProcessDied, AlignServerError):
    """An align process died mid-sample (killed, crashed): worth one more try."""


def describe_exit(status: int) -> str:
    """A process's end in words, ``status`` as ``subprocess`` gives it (−N: signal N)."""
    if status >= 0:
        return f"exited with status {status}"
    number = -status
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    reasons = {
        signal.SIGKILL.value: ", possibly out of memory (the kernel's OOM killer sends SIGKILL)",
        signal.SIGSEGV.value: ", a crash in minimap2",
        signal.SIGBUS.value: ", a crash in minimap2 or a damaged index file",
        signal.SIGABRT.value: ", a crash in minimap2",
        signal.SIGTERM.value: ", stopped from outside",
    }
    reason = reasons.get(number, "")
    return f"was killed by {name} (signal {number}){reason}"


class AlignProcesses:
    """A started server: ``processes`` children, each mapping its share of a chunk."""

    def __init__(
        self, index_path: Path, processes: int, *, ready_timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        self.index_path = Path(index_path)
        self.processes = max(1, processes)
        self.ready_timeout_s = ready_timeout_s
        self.stop: StopCheck | None = None  # the current sample's stop check, if any
        self._started = time.monotonic()
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

        Not done in ``__init__``: the caller reads its first chunk meanwhile. The
        wait looks at ``stop`` and gives up after ``ready_timeout_s`` (counted
        from the start); either way the server is killed, not left loading.
        """
        if self._child_pids is None:
            for conn in self._conns:
                self._await(conn)
            self._child_pids = [self._receive(i, reply=False) for i in range(self.processes)]
        return self._child_pids

    def _await(self, conn: Connection) -> None:
        """Block until ``conn`` has something to read, in steps that look at ``stop``."""
        while not conn.poll(_POLL_S):
            waited = time.monotonic() - self._started
            try:
                if self.stop is not None:
                    self.stop()
                if waited >= self.ready_timeout_s:
                    raise AlignServerError(
                        f"alignment process for {self.index_path} failed: the index was not "
                        f"loaded after {waited:.0f} s"
                    )
            except BaseException:
                self._broken = True
                self._proc.kill()
                raise

    @property
    def pids(self) -> list[int]:
        """The server's and its children's process ids (for memory accounting)."""
        return [self._proc.pid, *self.wait_ready()]

    def _server_said(self, pid: int | None) -> tuple[int, str] | None:
        """(pid, how it ended) as the server wrote it for child ``pid`` (None: any child)."""
        self._stderr.seek(0)
        for line in self._stderr.read().decode(errors="replace").splitlines():
            words = line.split(" ", 3)
            if words[:2] == ["align", "process"] and len(words) == 4 and words[2].isdigit():
                if pid is None or int(words[2]) == pid:
                    return int(words[2]), words[3]
        return None

    def _failure(self, child: int | None = None) -> AlignServerError:
        self._broken = True
        if child is not None and self._child_pids and self._proc.poll() is None:
            # The server lives on: one of its children died; the server says how.
            pid = self._child_pids[child]
            deadline = time.monotonic() + _CAUSE_WAIT_S
            while (said := self._server_said(pid)) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            how = said[1] if said else "vanished without an exit status"
            return AlignProcessDied(f"an align process (pid {pid}) exited unexpectedly: it {how}")
        try:  # a server that failed to start exits at once; let its stderr land
            self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        code = self._proc.returncode
        said = self._server_said(None)
        if said is not None:  # a child died before the index was ready
            return AlignProcessDied(
                f"an align process (pid {said[0]}) exited unexpectedly: it {said[1]}"
            )
        if code is not None and code < 0:  # the server itself was killed
            return AlignProcessDied(
                f"the align server for {self.index_path} (pid {self._proc.pid}) exited "
                f"unexpectedly: it {describe_exit(code)}"
            )
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        if lines:
            detail = lines[-1]
        elif code is None:
            detail = "an align process exited unexpectedly"
        else:
            detail = f"exit status {code}"
        return AlignServerError(f"alignment process for {self.index_path} failed: {detail}")

    def _receive(self, child: int, *, reply: bool = True) -> Any:
        """The next message from ``child``; a reply (or error) is no longer waited for."""
        try:
            message = self._conns[child].recv()
        except (EOFError, OSError):
            raise self._failure(child) from None
        if reply:
            self._waiting[child] -= 1
        if message[0] == "error":
            raise AlignServerError(f"alignment failed: {message[1]}")
        return message[1] if len(message) > 1 else None

    def _send(self, child: int, message: tuple[Any, ...]) -> None:
        self.wait_ready()
        try:
            self._conns[child].send(message)
        except OSError:
            raise self._failure(child) from None
        self._waiting[child] += 1

    def contigs(self) -> list[tuple[str, int]]:
        """Names and lengths of the index's sequences (for a BAM header)."""
        self._send(0, ("contigs",))
        return list(self._receive(0))

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
            replies = [self._receive(i) for i in used]
            return ServedChunk(
                FlatPlacements.concat([r.flat for r in replies]),
                "".join(r.sam for r in replies) if sam else None,
            )

        return collect

    def drain(self) -> bool:
        """Read results nobody collected (a cancelled sample); False if that failed."""
        if self._broken:
            return False
        for i, conn in enumerate(self._conns):
            while self._waiting[i] and conn.poll(600):
                try:
                    self._receive(i)
                except AlignServerError:
                    if self._broken:
                        return False  # a child or the server died
                    # else the child reported an error for a chunk nobody reads: fine
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
def align_processes(
    index_path: Path, processes: int, stop: StopCheck | None = None
) -> Iterator[AlignProcesses]:
    """A server for this index, reused across samples in this process.

    The index is loaded once per worker process (and kept while samples use it);
    servers for another index are closed, so one index at a time holds memory.
    Samples running at once get a server each. ``stop`` is looked at while the
    index loads.
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
    server.stop = stop
    try:
        yield server
    finally:
        server.stop = None
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
                # A chunk's hits, placements and SAM lines are tuples and strings with no
                # cycles: reference counting frees them, and the cyclic collector, which
                # would walk every one of them again and again while they pile up, is
                # held off until the chunk is done.
                gc.disable()
                try:
                    chunk = align_pairs(aligner, seqs, keep_placements=sam, buf=buf)
                    text = (
                        sam_records(pairs, chunk.placements)
                        if chunk.placements is not None
                        else None
                    )
                finally:
                    gc.enable()
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
    remaining = set(children)
    while remaining:
        pid, status = os.wait()
        remaining.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:  # the parent quotes this line when it names the cause
            print(f"align process {pid} {describe_exit(code)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    # Run the imported module's main, so that what the children pickle is named
    # genejobs.pipeline.alignserver.ServedChunk, not __main__.ServedChunk.
    from genejobs.pipeline import alignserver

    raise SystemExit(alignserver.main(sys.argv[1:]))
