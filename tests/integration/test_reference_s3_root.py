"""References published to an S3 prefix and fetched once per node into a local cache."""

from __future__ import annotations

from pathlib import Path

import mappy
import pytest

from genejobs.config import Settings
from genejobs.errors import ValidationError
from genejobs.references.registry import ReferenceRegistry, registry_for
from genejobs.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("refsim")
    return simulate(root, SimConfig(n_genes=40, pairs_per_sample=200, samples_per_group=1))


def test_a_reference_built_on_one_node_is_fetched_once_by_another(
    tmp_path, sim, s3_server, s3_storage
):
    s3_server.create_bucket("refs")
    builder = ReferenceRegistry(tmp_path / "node-a", remote="s3a://refs/shared", storage=s3_storage)
    builder.add("sim", Path(sim.genome), [("a.gtf", Path(sim.gtf))])

    other = ReferenceRegistry(tmp_path / "node-b", remote="s3a://refs/shared", storage=s3_storage)
    assert other.available() == {"sim": ["a.gtf"]}
    resolved = other.resolve("sim", "a.gtf")
    assert resolved.index_path.is_relative_to(tmp_path / "node-b")
    first_fetch = resolved.index_path.stat().st_mtime_ns
    genome = open(sim.genome).read().split("\n", 1)[1].replace("\n", "")
    hits = list(mappy.Aligner(str(resolved.index_path), preset="splice:sr").map(genome[5000:5100]))
    assert hits and hits[0].r_st == 5000
    assert len(resolved.load_gene_model().genes) > 0
    # a second resolve reuses the local copy
    assert other.resolve("sim", "a.gtf").index_path.stat().st_mtime_ns == first_fetch
    assert not list((tmp_path / "node-b").glob(".fetching-*"))


def test_a_malformed_reference_never_reaches_the_prefix(tmp_path, sim, s3_server, s3_storage):
    s3_server.create_bucket("refs")
    registry = ReferenceRegistry(tmp_path / "cache", remote="s3a://refs/broken", storage=s3_storage)
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr1\nACGTXX\n")
    with pytest.raises(ValidationError, match="line 2"):
        registry.add("bad", bad, [("a.gtf", Path(sim.gtf))])
    assert registry.list() == []
    with pytest.raises(ValidationError, match="not a registered reference"):
        registry.resolve("bad", "a.gtf")


def test_settings_choose_the_remote_registry(tmp_path):
    env = {"GENEJOBS_HOME": str(tmp_path), "GENEJOBS_REFERENCE_ROOT": "s3a://refs/shared"}
    settings = Settings.from_env(env)
    assert settings.reference_uri == "s3a://refs/shared"
    assert settings.reference_root == tmp_path.resolve() / "reference-cache"
    local = Settings.from_env({"GENEJOBS_HOME": str(tmp_path)})
    assert local.reference_uri is None
    assert registry_for(local).remote is None
