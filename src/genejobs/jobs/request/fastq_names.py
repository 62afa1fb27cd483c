"""What a FASTQ file may be called, and how names pair up into samples, runs and mates.

One place for the suffix rule (the request schema, the sample sheet and the pairing
use it) and for the naming conventions the console and the CLI pair files by:
Illumina's ``<sample>_S<n>_L00<k>_R1_001.fastq.gz`` (one file per lane and read),
``<stem>_R1``/``<stem>_R2`` and SRA's ``<stem>_1``/``<stem>_2``. The console's
JavaScript mirrors these rules; ``tests/data/pairing_cases.json`` holds the cases both
must agree on.

Written by hand because it is the product's own edge: no library pairs Illumina names
and reports what it could not pair; every file that does not become part of a sample
is returned with the reason, never dropped.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

# gzip is the recommendation (a third of the bytes to store and read); plain is accepted.
GZIP_FASTQ_SUFFIXES = (".fastq.gz", ".fq.gz")
FASTQ_SUFFIXES = (*GZIP_FASTQ_SUFFIXES, ".fastq", ".fq")
FASTQ_RULE = "must be a FASTQ file: .fastq.gz or .fq.gz (recommended), or plain .fastq or .fq"

# <stem>[_S<n>][_L<lane>]<sep>(R1|R2|1|2|I1|I2)[_<chunk>] before the suffix.
_NAME = re.compile(
    r"^(?P<stem>.+?)(?:_S(?P<snum>\d+))?(?:_L(?P<lane>\d{3}))?[._-]"
    r"(?:(?P<kind>[RI])(?P<rnum>[12])|(?P<bare>[12]))(?:_(?P<chunk>\d{3}))?$",
    re.IGNORECASE,
)
_SUFFIX = re.compile(r"\.(fastq|fq)(\.gz)?$", re.IGNORECASE)


def is_fastq_name(name: str) -> bool:
    """True when ``name`` (a path, URI or file name) ends with a FASTQ suffix (any case)."""
    return _SUFFIX.search(name) is not None


def strip_fastq_suffix(name: str) -> str:
    return _SUFFIX.sub("", name)


@dataclass(frozen=True)
class FastqName:
    """A FASTQ file name read by the conventions above."""

    uri: str
    folder: str
    stem: str  # the sample part of the name
    read: int | None  # 1, 2, or None when the name carries no read marker
    index: bool = False  # an index read (I1/I2), which the analysis does not use
    lane: str = ""  # "001" for _L001
    chunk: str = ""  # "001" for _R1_001
    snum: str = ""  # "1" for _S1
    style: str = ""  # "R", "I" or "" (_1/_2): mates must use the same

    @property
    def sample_key(self) -> tuple[str, str, str]:
        return (self.folder, self.stem, self.snum)

    @property
    def run_key(self) -> tuple[str, str, str, str, str, str]:
        return (*self.sample_key, self.lane, self.chunk, self.style)

    def mate_name(self) -> str:
        """The file name this file's mate would have (for messages)."""
        base = posixpath.basename(self.uri)
        suffix = base[len(strip_fastq_suffix(base)) :]
        other = 2 if self.read == 1 else 1
        parts = [self.stem]
        if self.snum:
            parts.append(f"_S{self.snum}")
        if self.lane:
            parts.append(f"_L{self.lane}")
        parts.append(f"_R{other}" if self.style == "R" else f"_{other}")
        if self.chunk:
            parts.append(f"_{self.chunk}")
        return "".join(parts) + suffix


def read_name(uri: str) -> FastqName | None:
    """The parts of a FASTQ file's name; ``None`` when it is not a FASTQ name at all."""
    folder, base = posixpath.split(uri)
    if not is_fastq_name(base):
        return None
    bare = strip_fastq_suffix(base)
    m = _NAME.match(bare)
    if not m:
        return FastqName(uri=uri, folder=folder, stem=bare, read=None)
    kind = (m["kind"] or "").upper()
    return FastqName(
        uri=uri,
        folder=folder,
        stem=m["stem"],
        read=int(m["rnum"] or m["bare"]),
        index=kind == "I",
        lane=m["lane"] or "",
        chunk=m["chunk"] or "",
        snum=m["snum"] or "",
        style=kind,
    )


@dataclass
class FoundSample:
    """A sample made from file names: its name and runs (lanes, chunks) in order."""

    name: str
    group: str
    runs: list[tuple[str, ...]] = field(default_factory=list)  # (r1, r2) or (r,)

    @property
    def paired(self) -> bool:
        return all(len(run) == 2 for run in self.runs)


@dataclass(frozen=True)
class Orphan:
    """A FASTQ file that is not part of any sample, and why."""

    uri: str
    reason: str


@dataclass
class Pairing:
    samples: list[FoundSample]
    orphans: list[Orphan]


NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def sample_name(stem: str) -> str:
    """A valid sample name from a file stem (the request's naming rule)."""
    name = NAME_CHARS.sub("_", stem).strip("_")
    if not name[:1].isalpha():
        name = "S" + name
    return name[:128]


def guess_group(name: str) -> str:
    """``Liver_rep2`` -> ``Liver``; ``KO3`` -> ``KO``; a name without a number -> ``A``."""
    group = re.sub(r"\d+$", "", name)
    group = re.sub(r"([_.-](rep|r|s|sample)?|rep|sample)$", "", group, flags=re.IGNORECASE)
    return sample_name(group) if group and group != name else "A"


def pair_files(uris: list[str], *, single_end: bool = False) -> Pairing:
    """Samples made from file names, and every FASTQ file left over with the reason.

    Paired (the default): read 1 and read 2 of the same stem, lane and chunk make a
    run; a sample's runs are its lanes and chunks in name order. Single-end: every
    read-1 (or unmarked) file is a run. Files that are not FASTQ are not considered.
    """
    names = [n for n in (read_name(u) for u in sorted(set(uris))) if n is not None]
    orphans: list[Orphan] = []
    runs: dict[tuple[str, ...], dict[int, FastqName]] = {}
    for n in names:
        if n.index:
            orphans.append(Orphan(n.uri, f"an index read (I{n.read}): not used by the analysis"))
            continue
        read = n.read
        if read is None:
            if not single_end:
                orphans.append(
                    Orphan(
                        n.uri,
                        "no read 1/read 2 marker in the name (_R1/_R2, _1/_2, "
                        "_S1_L001_R1_001): cannot pair it (single-end reads: pair as single-end)",
                    )
                )
                continue
            read = 1
        if single_end and read == 2:
            orphans.append(Orphan(n.uri, "a read 2 file: single-end samples use read 1 only"))
            continue
        slot = runs.setdefault(n.run_key, {})
        if read in slot:
            orphans.append(
                Orphan(
                    n.uri,
                    f"same sample, lane and read as '{posixpath.basename(slot[read].uri)}'",
                )
            )
            continue
        slot[read] = n
    samples: dict[tuple[str, str, str], FoundSample] = {}
    for key in sorted(runs):
        slot = runs[key]
        first = slot.get(1) or slot[2]
        lane = f" (lane {int(first.lane)})" if first.lane else ""
        if single_end:
            run: tuple[str, ...] = (slot[1].uri,)
        elif 1 in slot and 2 in slot:
            run = (slot[1].uri, slot[2].uri)
        else:
            have, miss = (1, 2) if 1 in slot else (2, 1)
            orphans.append(
                Orphan(
                    slot[have].uri,
                    f"read {have} without its read {miss}{lane}: no '{slot[have].mate_name()}'",
                )
            )
            continue
        name = sample_name(first.stem)
        sample = samples.setdefault(first.sample_key, FoundSample(name, guess_group(name)))
        sample.runs.append(run)
    orphans.sort(key=lambda o: o.uri)
    return Pairing(list(samples.values()), orphans)
