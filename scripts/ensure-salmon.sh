#!/usr/bin/env bash
# salmon (transcript-level quantifier, "quantifier": "transcripts") from Debian's package.
# Run by the Makefile's venv step (so `make demo` and `make test` have it) and by the
# container image (deploy/Dockerfile), so every Dask worker can quantify.
set -euo pipefail
if command -v salmon >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends salmon >&2
