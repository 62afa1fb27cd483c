"""The transcript-level quantifier's pure parts: transcriptome, salmon's files, tximport, cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_request_schema import body, messages

from genejobs.errors import ValidationError
from genejobs.jobs.request.schema import SubmitRequest
from genejobs.jobs.request.spec import spec_from_model
from genejobs.jobs.run.cache import SampleCache
from genejobs.pipeline.records import (
    CountStats,
    LibraryType,
    ReadStats,
    SampleParams,
    SampleResult,
    TranscriptEstimates,
)
from genejobs.pipeline.salmon import (
    gene_counts_length_scaled,
    gene_counts_of,
    read_salmon_output,
    salmon_libtype,
    transcripts_table,
)
from genejobs.references.transcriptome import write_transcriptome


def test_transcripts_are_spliced_and_minus_strand_ones_reverse_complemented(tmp_path: Path):
    (tmp_path / "g.fa").write_text(">c1\nAAAACCCCGGGGTTTT\n>c2\nACGTACGTAC\n")
    (tmp_path / "a.gtf").write_text(
        'c1\tx\texon\t1\t4\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n'
        'c1\tx\texon\t9\t12\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n'
        'c1\tx\texon\t5\t8\t.\t-\t.\tgene_id "G2"; transcript_id "T2";\n'
        'c2\tx\texon\t1\t3\t.\t-\t.\tgene_id "G3"; transcript_id "T3";\n'
    )
    n = write_transcriptome(
        tmp_path / "g.fa", tmp_path / "a.gtf", tmp_path / "t.fa", tmp_path / "t2g.tsv"
    )
    assert n == 3
    assert (tmp_path / "t.fa").read_text().split() == [
        ">T1",
        "AAAAGGGG",
        ">T2",
        "GGGG",
        ">T3",
        "CGT",
    ]
    assert (tmp_path / "t2g.tsv").read_text() == "T1\tG1\nT2\tG2\nT3\tG3\n"


def test_a_transcript_on_a_missing_chromosome_is_named(tmp_path: Path):
    (tmp_path / "g.fa").write_text(">c1\nAAAACCCC\n")
    (tmp_path / "a.gtf").write_text(
        'cX\tx\texon\t1\t4\t.\t+\t.\tgene_id "G"; transcript_id "T9";\n'
    )
    with pytest.raises(ValidationError, match="T9 is on 'cX'"):
        write_transcriptome(tmp_path / "g.fa", tmp_path / "a.gtf", tmp_path / "t", tmp_path / "m")


def test_library_types_map_to_salmons_formats():
    # a declared strand is checked by salmon's detection first (then honoured)
    assert salmon_libtype(SampleParams(declared_library_type=LibraryType.FIRSTSTRAND)) == "A"
    assert salmon_libtype(SampleParams(declared_library_type=LibraryType.SECONDSTRAND)) == "A"
    assert salmon_libtype(SampleParams(declared_library_type=LibraryType.UNSTRANDED)) == "IU"
    assert salmon_libtype(SampleParams(declared_library_type=None)) == "A"  # auto


def _salmon_folder(tmp_path: Path, isr: int, isf: int) -> Path:
    out = tmp_path / "out"
    (out / "aux_info").mkdir(parents=True)
    pd.DataFrame(
        {
            "Name": ["T1", "T2", "T3"],
            "Length": [1000, 500, 2000],
            "EffectiveLength": [800.0, 300.0, 1800.0],
            "TPM": [500000.0, 250000.0, 250000.0],
            "NumReads": [400.2, 75.4, 449.9],
        }
    ).to_csv(out / "quant.sf", sep="\t", index=False)
    formats = {"expected_format": "ISR", "ISR": isr, "ISF": isf, "IU": 0, "SF": 3, "SR": 4}
    (out / "lib_format_counts.json").write_text(json.dumps(formats))
    meta = {"num_processed": 1000, "num_mapped": 930, "salmon_version": "1.10.1"}
    (out / "aux_info" / "meta_info.json").write_text(json.dumps(meta))
    return out


def test_salmons_files_give_estimates_and_the_strand_evidence(tmp_path: Path):
    est, stats = read_salmon_output(_salmon_folder(tmp_path, isr=900, isf=20), libtype="A")
    assert est.transcript_ids == ["T1", "T2", "T3"] and est.mapping_rate == 0.93
    assert est.library_type_seen == "ISR" and est.engine == "salmon 1.10.1"
    assert est.library_type_used == "ISR"  # what -l A settled on
    assert stats.aligned == 930 and stats.not_aligned == 70
    assert stats.assigned == {"fr-firststrand": 900, "fr-secondstrand": 20, "fr-unstranded": 920}
    counts = gene_counts_of(est, {"T1": "G1", "T2": "G1", "T3": "G2"}, ["G0", "G1", "G2"])
    assert counts.tolist() == [0, 476, 450]


def _result(name: str, counts: list[float], eff: list[float]) -> SampleResult:
    tpm = np.array(counts) / np.array(eff)
    est = TranscriptEstimates(
        transcript_ids=["T1", "T2", "T3"],
        length=np.array([1000.0, 500.0, 2000.0]),
        effective_length=np.array(eff),
        tpm=tpm / tpm.sum() * 1e6,
        counts=np.array(counts),
        engine="salmon 1.10.1",
    )
    return SampleResult(name, ["G1", "G2"], {}, ReadStats(), CountStats(), transcripts=est)


def test_length_scaled_tpm_keeps_library_sizes_and_corrects_isoform_length_shifts():
    """G1 switches from its long to its short isoform in B at the same expression (TPM);
    raw summed counts would call that a change, lengthScaledTPM does not."""
    tx2gene = {"T1": "G1", "T2": "G1", "T3": "G2"}
    a = _result("A", [800.0, 0.0, 1800.0], [800.0, 300.0, 1800.0])
    b = _result("B", [0.0, 300.0, 1800.0], [800.0, 300.0, 1800.0])
    counts = gene_counts_length_scaled([a, b], tx2gene, ["G1", "G2", "G9"])
    assert list(counts.columns) == ["A", "B"] and list(counts.index) == ["G1", "G2", "G9"]
    assert counts.loc["G9"].tolist() == [0, 0]
    assert abs(counts["A"].sum() - 2600) <= 1 and abs(counts["B"].sum() - 2100) <= 1
    ratio_g1 = counts.loc["G1", "B"] / counts.loc["G1", "A"]
    ratio_g2 = counts.loc["G2", "B"] / counts.loc["G2", "A"]
    assert abs(ratio_g1 - ratio_g2) < 0.01  # same TPM ratio → same count ratio
    table = transcripts_table([a, b], tx2gene)
    assert list(table.columns[:3]) == ["transcript_id", "gene_id", "length"]
    assert table["B.count"].tolist() == [0.0, 300.0, 1800.0]


def test_the_cache_keeps_transcript_estimates(tmp_path: Path):
    result = replace(
        _result("A", [1.5, 2.0, 3.25], [800.0, 300.0, 1800.0]),
        counts={"fr-firststrand": np.array([3, 3])},
    )
    cache = SampleCache(tmp_path)
    cache.put("a" * 64, result)
    back = cache.get("a" * 64)
    assert back is not None and back.transcripts is not None
    assert back.transcripts.transcript_ids == ["T1", "T2", "T3"]
    assert back.transcripts.counts.tolist() == [1.5, 2.0, 3.25]
    assert back.transcripts.engine == "salmon 1.10.1"
    assert list(back.counts) == ["fr-firststrand"]


def test_the_request_field_defaults_to_genome_and_rejects_other_engines():
    req = body()
    assert spec_from_model(SubmitRequest.model_validate(req), job_id="J").quantifier == "genome"
    req["quantifier"] = "transcripts"
    assert spec_from_model(SubmitRequest.model_validate(req), job_id="J").quantifier == (
        "transcripts"
    )
    schema = SubmitRequest.model_json_schema()["properties"]["quantifier"]
    assert schema["enum"] == ["genome", "transcripts"] and "salmon" in schema["description"]
    req["quantifier"] = "kallisto"
    assert messages(req) == ["quantifier: must be one of genome or transcripts"]
