"""The RNA_DIFF_EXPR steps as plain functions over typed records."""
