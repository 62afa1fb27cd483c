"""Which webhook hosts pass, how a body is signed, and what the cache prune removes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

import numpy as np
import pytest

from genejobs.jobs.notify.delivery import signature
from genejobs.jobs.request.notify_rules import NotifyPolicy
from genejobs.jobs.run.cache import SampleCache
from genejobs.pipeline.records import CountStats, ReadStats, SampleResult

POLICY = NotifyPolicy(
    allowed_hosts=("hooks.example.org", "10.20.0.0/16", "[fd00::1]"), secret="k", smtp_url=None
)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.org/x", None),
        ("http://HOOKS.example.org:8080/x?y=1", None),
        ("https://10.20.3.4/x", None),
        ("https://[fd00::1]/x", None),
        ("https://10.21.0.1/x", "host '10.21.0.1' is not allowed"),
        ("https://hooks.example.org.evil.com/x", "is not allowed"),
        ("https://evil.com/?hooks.example.org", "host 'evil.com' is not allowed"),
        ("https://user@evil.com/", "host 'evil.com' is not allowed"),
        ("file:///etc/passwd", "must be an http:// or https:// URL"),
        ("https:///nohost", "must be an http:// or https:// URL"),
    ],
)
def test_only_listed_hosts_and_ranges_take_webhooks(url, problem):
    found = POLICY.webhook_problem(url)
    assert found == problem if problem is None else problem in (found or "")


def test_a_name_is_never_resolved_to_match_a_range():
    policy = NotifyPolicy(allowed_hosts=("127.0.0.0/8",), secret="k")
    assert policy.host_allowed("127.0.0.1")
    assert not policy.host_allowed("localhost")


def test_without_a_secret_webhooks_are_refused():
    policy = NotifyPolicy(allowed_hosts=("hooks.example.org",), secret=None)
    assert "GENEJOBS_WEBHOOK_SECRET" in (policy.webhook_problem("https://hooks.example.org/") or "")


def test_the_signature_is_the_hmac_of_the_exact_body():
    body = json.dumps({"job_id": "j"}).encode()
    assert signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature("k", body + b" ") != signature("k", body)


def _result() -> SampleResult:
    return SampleResult(
        sample_name="S",
        gene_ids=["g1"],
        counts={"fr-unstranded": np.array([1], dtype=np.int64)},
        read_stats=ReadStats(),
        count_stats=CountStats(),
        timings_ms={},
    )


def test_prune_removes_only_entries_unused_for_the_given_time(tmp_path):
    cache = SampleCache(tmp_path)
    old, used, fresh = "a" * 64, "b" * 64, "c" * 64
    for key in (old, used, fresh):
        cache.put(key, _result())
    long_ago = time.time() - 40 * 86400
    for key in (old, used):
        os.utime(tmp_path / key[:2] / key / "meta.json", (long_ago, long_ago))
    assert cache.get(used) is not None  # reading an entry counts as a use
    stale = tmp_path / "aa" / f".{'d' * 64}.x.tmp"  # left by a killed writer
    stale.mkdir(parents=True)
    os.utime(stale, (long_ago, long_ago))
    removed, freed = cache.prune(unused_for_s=30 * 86400)
    assert removed == 2 and freed > 0
    assert cache.get(old) is None and not stale.exists()
    assert cache.get(used) is not None and cache.get(fresh) is not None
