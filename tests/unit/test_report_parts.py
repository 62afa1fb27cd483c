"""The report's pure pieces: label layout, data packing, sample space, QC flags, methods."""

from __future__ import annotations

import base64
import gzip
import json

import numpy as np
import pandas as pd

from genejobs.pipeline.qc import one_row_per_sample
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.pipeline.samplespace import cluster_order, far_from_group, pca, top_gene_zscores
from genejobs.report.labels import _box, _overlaps, place_labels
from genejobs.report.methods import MethodsInput, explain, methods_text
from genejobs.report.model import ComparisonView
from genejobs.report.payload import count_bytes, numbers, pack, to_json
from genejobs.report.tables import parameter_rows, qc_rows


def test_labels_never_overlap_each_other_and_stay_inside_the_plot():
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(0, 0.2, 40), rng.normal(5, 0.3, 40)  # a tight cloud: most must be dropped
    texts = [f"GENE{i}" for i in range(40)]
    size = (560.0, 380.0)
    labels = place_labels(xs, ys, texts, x_range=(-3, 3), y_range=(0, 10), size_px=size)
    assert 1 <= len(labels) < 40
    boxes = []
    for lab in labels:
        px = (xs[lab.index] + 3) / 6 * size[0] + lab.dx
        py = ys[lab.index] / 10 * size[1] + lab.dy
        box = _box(px, py, lab.text, 11)
        assert box[0] >= 0 and box[2] <= size[0] and box[1] >= 0 and box[3] <= size[1]
        assert not any(_overlaps(box, other) for other in boxes)
        boxes.append(box)


def test_numbers_and_json_splice_keep_values_and_turn_nan_into_null():
    arr = np.array([1.23456789, np.nan, -2e-12, np.inf])
    text = to_json({"a": numbers(arr), "b": ["x", numbers(np.array([]))]})
    assert json.loads(text) == {"a": [1.235, None, -2e-12, None], "b": ["x", []]}


def test_counts_are_one_byte_each_and_round_trip_within_four_percent():
    norm = pd.DataFrame({"s1": [0.0, 10.0, 1e6], "s2": [3.0, 200.0, 5.0]}, index=["a", "b", "c"])
    raw = count_bytes(norm, pd.Index(["a", "b", "c"]), ["s1", "s2"])
    assert len(raw) == 6
    back = 2 ** (np.frombuffer(raw, np.uint8) / 10) - 1
    want = norm.to_numpy().ravel()
    assert np.all(np.abs(back - want) <= 0.04 * want + 0.05)
    assert gzip.decompress(base64.b64decode(pack(raw))) == raw


def _vst(n_genes=200, per_group=4, seed=1):
    rng = np.random.default_rng(seed)
    shift = np.where(rng.random(n_genes) < 0.2, 3.0, 0.0)
    cols, data, groups = [], [], {}
    for g, mult in (("A", 0), ("B", 1)):
        for i in range(per_group):
            cols.append(f"{g}{i}")
            groups[f"{g}{i}"] = g
            data.append(rng.normal(8 + shift * mult, 0.3))
    return pd.DataFrame(
        np.array(data).T, index=[f"G{i}" for i in range(n_genes)], columns=cols
    ), groups


def test_pca_separates_groups_and_flags_a_swapped_sample():
    vst, groups = _vst()
    p = pca(vst)
    assert p.explained[0] > 0.5
    a = p.coords.loc[[s for s in groups if groups[s] == "A"], "PC1"]
    b = p.coords.loc[[s for s in groups if groups[s] == "B"], "PC1"]
    assert a.max() < b.min() or b.max() < a.min()
    assert far_from_group(p.coords, groups) == []
    swapped = dict(groups, A0="B")  # A0 labelled B sits with the A samples
    assert far_from_group(p.coords, swapped) == ["A0"]


def test_clustering_puts_the_groups_together():
    vst, groups = _vst()
    d = np.sqrt(((vst.T.to_numpy()[:, None] - vst.T.to_numpy()[None]) ** 2).sum(-1))
    order = [vst.columns[i][0] for i in cluster_order(d, distances=True)]
    assert order in (["A"] * 4 + ["B"] * 4, ["B"] * 4 + ["A"] * 4)


def test_top_gene_zscores_take_only_significant_genes_smallest_padj_first():
    vst, _ = _vst(n_genes=5)
    table = pd.DataFrame({"gene_id": ["G0", "G1", "G2", "G3"], "padj": [0.01, 0.5, 1e-5, np.nan]})
    z = top_gene_zscores(vst, table)
    assert list(z.index) == ["G2", "G0"]
    assert np.allclose(z.mean(axis=1), 0) and np.allclose(z.std(axis=1), 1)


def _result(name, first, second, assigned, pairs=10_000):
    return SampleResult(
        name,
        ["g"],
        {lt.value: np.array([1]) for lt in LibraryType},
        ReadStats(pairs_in=pairs, pairs_with_adapter=pairs // 10),
        CountStats(
            aligned=pairs,
            unique=pairs,
            multimapped=0,
            assigned={
                "fr-unstranded": assigned,
                "fr-firststrand": first,
                "fr-secondstrand": second,
            },
        ),
    )


def test_qc_rows_give_percentages_and_flags_in_words():
    results = [_result("ok", 9000, 300, 9000), _result("bad", 300, 9000, 3000)]
    table = pd.DataFrame(
        [
            {
                "sample": r.sample_name,
                "pairs_in": 10_000,
                "pairs_trimmed": 1000,
                "aligned": 9500,
                "multimapped": 95,
                "assigned": r.count_stats.assigned["fr-firststrand"],
                "rrna_share": 0.2,
            }
            for r in results
        ]
    )
    rows = qc_rows(table, results, {"ok": "A", "bad": "A"}, LibraryType.FIRSTSTRAND, ["bad"])
    ok, bad = rows
    assert ok.cells["trimmed"] == "10.0%" and ok.cells["multimapped"] == "1.0%"
    assert ok.cells["strand agreement"] == "96.8%"
    assert [f.split(":")[0] for f in ok.flags] == ["high rRNA"]
    text = "; ".join(bad.flags)
    assert "low assignment: 3%" in text
    assert "the reads look fr-secondstrand" in text
    assert "far from its group" in text


def test_parameters_are_plain_text_without_paths_or_internal_fields():
    job = {
        "ref": "hg38",
        "gtf": "/data/refs/gencode.v28.gtf",
        "library_type": "fr-firststrand",
        "library_type_declared": "auto",
        "adapter": "",
        "runner_id": "h:1",
        "warnings": [],
    }
    rows = dict(parameter_rows(job, ["W_vs_K"]))
    assert rows["annotation"] == "gencode.v28.gtf"
    assert rows["library type"] == "fr-firststrand (declared auto)"
    assert rows["comparisons"] == "W vs K"
    assert not any("runner" in k or "warnings" in k for k in rows)


def test_methods_name_versions_and_cite_only_the_tools_used():
    versions = {
        "cutadapt": "5.2",
        "mappy": "2.31",
        "pydeseq2": "0.5.4",
        "genejobs": "0.1.0",
        "RSeQC": "5.0.6",
        "multiqc": "1.35",
        "gseapy": "1.3.1",
    }
    m = MethodsInput(
        versions=versions,
        reference="hg38",
        annotation="gencode",
        library_type="x",
        adapter="AGATCGG",
        comparisons=["W_vs_K"],
        n_samples=6,
        n_groups=2,
    )
    text, refs = methods_text(m)
    assert "cutadapt 5.2" in text and "minimap2 2.31" in text and "PyDESeq2 0.5.4" in text
    assert "W versus K" in text and "RSeQC" not in text and len(refs) == 5
    m.adapter = ""
    text, refs = methods_text(m)
    assert "not adapter-trimmed" in text and "cutadapt" not in text and len(refs) == 4
    m.qc = m.enrichment = True
    m.adapter = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"  # TruSeq read 1: read 2 has its own
    text, refs = methods_text(m)
    assert "(on read 2: AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT)" in text
    assert "RSeQC 5.0.6" in text and "MultiQC 1.35" in text and "GSEApy 1.3.1" in text
    assert len(refs) == 9 and all("doi:" in r for r in refs)


def test_known_warnings_are_explained_and_unknown_ones_are_left_alone():
    assert "few samples" in explain(
        "As the residual degrees of freedom is less than 3, the distribution of log "
        "dispersions is especially asymmetric and likely to be poorly estimated by the MAD."
    )
    assert explain("something new") == ""


def test_comparison_view_prefers_shrunk_fold_changes_when_present():
    t = pd.DataFrame(
        {
            "gene_id": ["a", "b"],
            "gene_name": ["A", None],
            "baseMean": [5.0, 0.0],
            "log2FoldChange": [2.0, -1.0],
            "lfcSE": [0.1, 0.2],
            "stat": [20.0, -5.0],
            "pvalue": [1e-5, 0.1],
            "padj": [1e-4, 0.2],
            "lfc_shrunk": [1.5, -0.1],
        }
    )
    v = ComparisonView.from_table("W_vs_K", t, pd.Index(["b", "a"]))
    assert list(v.gene_names) == ["b", "A"]
    assert list(v.x_lfc) == [-0.1, 1.5] and "shrunk" in v.lfc_label
    assert (v.n_up, v.n_down) == (1, 0)


def test_multiqc_general_stats_keep_one_row_per_sample(tmp_path):
    stats = tmp_path / "multiqc_general_stats.txt"
    stats.write_text("Sample\tx\nK1\t1\nK1 Read 1\t1\nK1 Read 2\t2\nK2\t3\n")
    one_row_per_sample(stats)
    assert stats.read_text() == "Sample\tx\nK1\t1\nK2\t3\n"


def test_in_large_groups_a_sample_far_from_its_group_is_flagged_but_ordinary_spread_is_not():
    rng = np.random.default_rng(3)
    names = [f"A{i}" for i in range(100)] + [f"B{i}" for i in range(100)]
    xy = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal([40, 0], 1, (100, 2))])
    groups = {n: n[0] for n in names}
    coords = pd.DataFrame(xy, index=names, columns=["PC1", "PC2"])
    assert far_from_group(coords, groups) == []
    coords.loc["A7"] = [0, 15]  # far from A, yet still closer to A than to B
    assert far_from_group(coords, groups) == ["A7"]
