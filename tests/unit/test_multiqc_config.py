"""MultiQC's settings for genejobs' QC report: read counts in a unit that fits the data,
and the read-QC plots titled for what made them (not "FastQC:")."""

from __future__ import annotations

from genejobs.pipeline.qc import largest_read_count, multiqc_config


def test_small_samples_are_counted_in_reads_not_millions(tmp_path):
    for name, n in (("A_R1", 3000), ("A_R2", 3000), ("B_R1", 2500)):
        folder = tmp_path / "fastqc" / f"{name}_fastqc"
        folder.mkdir(parents=True)
        (folder / "fastqc_data.txt").write_text(
            f"##FastQC\t0.12.1\n>>Basic Statistics\tpass\nFilename\t{name}\nTotal Sequences\t{n}\n"
        )
    assert largest_read_count(tmp_path) == 3000
    small = multiqc_config("1", largest_read_count(tmp_path))
    assert small["read_count_multiplier"] == 1 and small["read_count_prefix"] == ""
    assert multiqc_config("1", 400_000)["read_count_prefix"] == "K"
    assert "read_count_multiplier" not in multiqc_config("1", 30_000_000)  # MultiQC's millions
    assert largest_read_count(tmp_path / "none") is None


def test_read_qc_plots_are_not_titled_fastqc():
    titles = [c["title"] for c in multiqc_config("1")["custom_plot_config"].values()]
    assert titles and all(t.startswith("Read QC (genejobs): ") for t in titles)
    assert not any("FastQC" in t for t in titles)
