"""The transcript quantifier's index at GENCODE size: salmon index with and without decoys.

genejobs builds salmon's index from the transcripts alone (k = 31, no decoys; see
``references/transcriptome.py``). salmon's documentation recommends the genome as
decoys (a "gentrome": transcripts followed by the chromosomes, whose names go in
``decoys.txt``), so reads from introns and intergenic DNA are not forced onto a
transcript they resemble. This measures what each costs on this machine: wall time,
peak RSS (GNU time, the largest process) and size on disk.

The transcripts and genome come from a ``bench_human.py --workdir`` run (its
``genome.fa`` and the transcriptome ``ref add`` wrote), or from ``--fasta``/``--gtf``
(the transcriptome is then written here with genejobs' own ``write_transcriptome``).
Each ``--decoy-fraction`` takes whole chromosomes, smallest first, up to that share of
the genome as decoys (at least one chromosome); the line through the first and last
runs (the index without decoys counts as 0 decoy bases) — the transcripts' share
fixed, the decoys' proportional — is extrapolated to the whole genome as decoys (an
estimate, printed as such).

    .venv/bin/python bench/bench_salmon_index.py --workdir /work/hb --decoy-fraction 0.015
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def measured(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (GNU time's maximum over the command's process)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss_kib=%M", *cmd], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {done.stderr[-2000:]}")
    return wall, int(done.stderr.rsplit("maxrss_kib=", 1)[1].split()[0]) * 1024


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def chromosomes(fasta: Path) -> Iterator[tuple[str, int, int]]:
    """(name, byte offset of the header, sequence length) of each FASTA record."""
    name, start, length, offset = None, 0, 0, 0
    with open(fasta, "rb") as f:
        for line in f:
            if line.startswith(b">"):
                if name is not None:
                    yield name, start, length
                name, start, length = line[1:].split()[0].decode(), offset, 0
            else:
                length += len(line.rstrip())
            offset += len(line)
    if name is not None:
        yield name, start, length


def copy_records(fasta: Path, wanted: set[str], out: object) -> None:
    """Append the FASTA records named in ``wanted`` to the open binary file ``out``."""
    keep = False
    with open(fasta, "rb") as f:
        for line in f:
            if line.startswith(b">"):
                keep = line[1:].split()[0].decode() in wanted
            if keep:
                out.write(line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="a bench_human.py workdir")
    p.add_argument("--fasta", type=Path, help="the genome (default: WORKDIR/genome.fa)")
    p.add_argument("--gtf", type=Path, help="with --fasta: write the transcriptome from it")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--decoy-fraction", type=float, nargs="+", default=[0.03, 0.1])
    p.add_argument("--skip-plain", action="store_true", help="only the decoy index")
    a = p.parse_args()
    work = a.workdir.resolve()
    fasta = a.fasta or work / "genome.fa"
    out = work / "salmon-bench"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if a.gtf:
        from genejobs.references.transcriptome import write_transcriptome

        transcripts = out / "transcripts.fa"
        n = write_transcriptome(fasta, a.gtf, transcripts, out / "tx2gene.tsv")
    else:
        found = sorted(work.glob("refs/*/annotations/*.transcripts/transcripts.fa"))
        if not found:
            raise SystemExit(f"no transcripts.fa under {work}/refs: give --gtf")
        transcripts = found[0]
        n = sum(1 for line in open(transcripts, "rb") if line.startswith(b">"))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print(f"{n:,} transcripts, {mib(transcripts.stat().st_size)} FASTA ({transcripts})")
    base = ["salmon", "index", "-k", "31", "-p", str(a.threads)]
    points: list[tuple[int, float, int, int]] = []  # (decoy bp, wall s, peak, index bytes)
    if not a.skip_plain:
        wall, peak = measured([*base, "-t", str(transcripts), "-i", str(out / "plain")])
        print(
            f"no decoys: {wall:.0f} s wall, peak RSS {mib(peak)}, index {mib(du(out / 'plain'))}",
            flush=True,
        )
        points.append((0, wall, peak, du(out / "plain")))  # no decoys: the line's start
        shutil.rmtree(out / "plain")
    chroms = sorted(chromosomes(fasta), key=lambda c: c[2])
    genome_bp = sum(c[2] for c in chroms)
    for fraction in a.decoy_fraction:
        decoys: list[str] = []
        decoy_bp = 0
        for name, _, length in chroms:
            if decoy_bp + length > fraction * genome_bp and decoys:
                break
            decoys.append(name)
            decoy_bp += length
        gentrome = out / "gentrome.fa"
        with open(gentrome, "wb") as g:
            with open(transcripts, "rb") as t:
                shutil.copyfileobj(t, g)
            copy_records(fasta, set(decoys), g)
        (out / "decoys.txt").write_text("".join(f"{d}\n" for d in decoys))
        index = out / "decoy"
        cmd = [*base, "-t", str(gentrome), "-d", str(out / "decoys.txt"), "-i", str(index)]
        wall, peak = measured(cmd)
        size = du(index)
        shutil.rmtree(index)
        gentrome.unlink()
        points.append((decoy_bp, wall, peak, size))
        print(
            f"decoys {', '.join(decoys)} ({decoy_bp:,} bp, {decoy_bp / genome_bp:.3f} of the "
            f"genome): {wall:.0f} s wall, peak RSS {mib(peak)}, index {mib(size)}",
            flush=True,
        )
    if len(points) >= 2:
        (x0, *first), (x1, *last) = points[0], points[-1]

        def at_genome(i: int) -> float:
            slope = (last[i] - first[i]) / (x1 - x0)
            return first[i] + slope * (genome_bp - x0)

        print(
            f"  extrapolated along the line through the two ends to all {genome_bp:,} bp as "
            f"decoys (an estimate): ~{at_genome(0) / 60:.0f} min, peak ~"
            f"{at_genome(1) / 2**30:.1f} GiB, index ~{at_genome(2) / 2**30:.1f} GiB"
        )
    print(f"load average at end: {os.getloadavg()}")
    shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
