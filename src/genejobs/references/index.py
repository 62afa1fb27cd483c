"""The minimap2 index, built once per reference with the aligner's own preset."""

from __future__ import annotations

import os
from pathlib import Path

import mappy

ALIGNER_PRESET = "splice:sr"


def build_index(fasta_path: Path, index_path: Path, *, preset: str = ALIGNER_PRESET) -> None:
    """Build ``index_path`` (.mmi) from FASTA; written under a temporary name, then renamed."""
    tmp = index_path.with_name(index_path.name + ".part")
    aligner = mappy.Aligner(str(fasta_path), preset=preset, fn_idx_out=str(tmp))
    if not aligner:
        raise RuntimeError(f"minimap2 could not build an index from {fasta_path}")
    del aligner
    os.replace(tmp, index_path)
