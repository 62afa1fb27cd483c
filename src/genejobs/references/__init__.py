"""Named genomes and annotations: built indexes and gene models parsed from GTF."""
