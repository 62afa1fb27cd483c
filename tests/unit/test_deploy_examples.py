"""The deployment examples parse and wire the roles the README describes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_file_has_every_role_on_one_database_and_scheduler():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "s3", "scheduler", "worker", "runner", "api"} <= set(services)
    for role in ("worker", "runner", "api"):
        env = services[role]["environment"]
        assert env["GENEJOBS_DASK_SCHEDULER"] == "tcp://scheduler:8786"
        assert env["GENEJOBS_DATABASE_URL"].startswith("postgresql://")
    assert "--role runner" in services["runner"]["command"]
    assert "--resources align=1" in services["worker"]["command"]
    json.loads((DEPLOY / "s3.json").read_text())


def test_kubernetes_manifests_are_valid_documents_with_matching_selectors():
    docs = [
        d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "genejobs.yaml").read_text()) if d
    ]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    for name in ("genejobs-scheduler", "genejobs-worker", "genejobs-runner", "genejobs-api"):
        assert ("Deployment", name) in kinds
    for d in docs:
        assert d["apiVersion"] and d["metadata"]["name"]
        if d["kind"] == "Deployment":
            labels = d["spec"]["template"]["metadata"]["labels"]
            assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_image_the_examples_run_installs_salmon():
    """Workers quantify with salmon ("quantifier": "transcripts"): the image must have it."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "scripts/ensure-salmon.sh" in dockerfile and "pip install" in dockerfile
    script = (DEPLOY.parent / "scripts" / "ensure-salmon.sh").read_text()
    assert "apt-get install" in script and " salmon" in script
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for role in ("scheduler", "worker", "runner", "api"):
        assert compose["services"][role]["image"] == "genejobs:latest"
        assert compose["services"][role]["build"]["dockerfile"] == "deploy/Dockerfile"
    kube = (DEPLOY / "kubernetes" / "genejobs.yaml").read_text()
    assert "deploy/Dockerfile" in kube  # says how genejobs:latest is built
