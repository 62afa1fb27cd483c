"""genejobs: RNA-seq differential-expression jobs behind the gene-jobs REST API."""

__version__ = "0.1.0"
