"""One page of ``GET .../files`` in a 100,000-file local folder (issue 23, target < ~300 ms).

The reference, in the same process, is how a page was made before: fsspec's detailed
listing of the whole folder (a stat per file) and an allowed-roots check (``realpath``)
per entry, then sorted and cut. The new way reads the names only (``os.scandir``),
picks the page and stats/checks just its entries. Prints each way's first and a
middle page, and the ratio.

    .venv/bin/python bench/bench_files_listing.py --files 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from genejobs.jobs.browse import list_files
from genejobs.storage import Storage


def reference_page(storage: Storage, folder: Path, limit: int, marker: str | None) -> list[str]:
    """The old way: list the folder with details, confine every entry, sort, cut."""
    import fsspec

    fs = fsspec.filesystem("file")
    uris = []
    for raw in fs.ls(str(folder), detail=True):
        storage.location(str(raw["name"]), field="prefix")  # realpath per entry
        uris.append(f"file://{raw['name']}")
    uris.sort()
    if marker:
        uris = [u for u in uris if u > marker]
    return uris[:limit]


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        folder = Path(tmp) / "big"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"s{i:06d}.fastq.gz").write_bytes(b"")
        storage = Storage(allowed_roots=(Path(tmp),))
        prefix = f"file://{folder}/"
        middle = f"file://{folder}/s{args.files // 2:06d}.fastq.gz"
        for label, marker in (("first page", None), ("middle page", middle)):
            new = timed(
                lambda m=marker: list_files(storage, prefix, limit=args.limit, marker=m),
                args.repeat,
            )
            old = timed(
                lambda m=marker: reference_page(storage, folder, args.limit, m), args.repeat
            )
            print(
                f"{label}: {args.files:,} files, {args.limit} a page: new {new * 1000:.0f} ms, "
                f"reference {old * 1000:.0f} ms, ratio {old / new:.1f}x"
            )


if __name__ == "__main__":
    main()
