"""Read-level QC numbers and their FastQC-format rendering."""

from __future__ import annotations

from genejobs.pipeline.readqc import MateQC


def _section(text: str, name: str) -> list[list[str]]:
    lines = text.split(f">>{name}")[1].split(">>END_MODULE")[0].strip().splitlines()[1:]
    return [line.split("\t") for line in lines if not line.startswith("#")]


def test_counts_gc_quality_adapter_and_duplication():
    qc = MateQC()
    seqs = ["GGGGCCCCAA", "AAAATTTTGG", "GGGGCCCCAA", "ACGTACGTAC"]
    quals = ["IIIIIIIIII", "++++++++++", "IIIIIIIIII", "IIIII+++++"]
    qc.add(seqs, quals, kept_lengths=[10, 6, 10, 10])  # the second read had an adapter at 6
    text = qc.fastqc_data("S_R1.fastq.gz")
    basic = dict(_section(text, "Basic Statistics"))
    assert basic["Total Sequences"] == "4" and basic["Sequence length"] == "10"
    assert basic["%GC"] == str(round(100 * (8 + 2 + 8 + 5) / 40))
    quality = _section(text, "Per base sequence quality")
    assert float(quality[0][1]) == (40 * 3 + 10) / 4  # 'I' = 40, '+' = 10
    assert float(quality[9][1]) == (40 * 2 + 10 * 2) / 4
    adapter = _section(text, "Adapter Content")
    assert float(adapter[5][1]) == 0.0 and float(adapter[6][1]) == 25.0
    dup = text.split("#Total Deduplicated Percentage\t")[1].split("\n")[0]
    assert float(dup) == 75.0  # 3 distinct starts among 4 reads
    gc = {int(k): float(v) for k, v in _section(text, "Per sequence GC content")}
    assert gc[80] == 2.0 and gc[20] == 1.0 and gc[50] == 1.0


def test_equal_and_mixed_length_chunks_fill_the_same_quality_histogram():
    """The one-length fast path and the general path agree with a direct count."""
    import numpy as np

    rng = np.random.default_rng(3)
    alphabet = np.array(list("ACGT"))
    for lengths in ([12] * 50, list(rng.integers(5, 13, 50))):
        seqs = ["".join(rng.choice(alphabet, n)) for n in lengths]
        quals = ["".join(chr(33 + int(q)) for q in rng.integers(2, 42, n)) for n in lengths]
        qc = MateQC()
        qc.add(seqs, quals, kept_lengths=list(lengths))
        expected = np.zeros_like(qc.qual_hist)
        for q in quals:
            for pos, ch in enumerate(q):
                expected[pos, ord(ch) - 33] += 1
        assert (qc.qual_hist == expected).all()
        assert qc.qual_n[:12].tolist() == [sum(n > p for n in lengths) for p in range(12)]
