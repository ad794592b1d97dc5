"""The pytest plugin: a suite written with it passes under ``pytest -n 4``, each test a
tenant, both with an emulator per worker and with every worker sharing one emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from support.server import ROOT, start

SAMPLE = ROOT / "tests" / "plugin_sample" / "sample_suite.py"
SAMPLE_TESTS = 19


def run_sample(tmp_path, *extra: str, source: str | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample_suite.py").write_text(source or SAMPLE.read_text())
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("EMULATOR_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-p", "emulator.pytest_plugin",
         "-n", "4", "-q", "-p", "no:cacheprovider", "test_sample_suite.py", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_plugin_is_registered_for_pytest():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"image_search_emulator": "emulator.pytest_plugin"}
    assert any(dep.startswith("pytest-xdist") for dep in project["optional-dependencies"]["test"])


def test_the_sample_suite_passes_with_an_emulator_per_worker(tmp_path):
    done = run_sample(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SAMPLE_TESTS} passed" in done.stdout


def test_the_sample_suite_passes_with_four_workers_sharing_one_emulator(tmp_path):
    with start() as running:
        seen: list = []
        running.emulator._engine.journal.subscribe(seen.append)
        done = run_sample(tmp_path, "--emulator-url", running.http,
                          "--emulator-grpc", running.grpc)
        leftovers = running.call(running.emulator._engine.journal.entries())
        stubs = running.emulator._engine.stubs.listed()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SAMPLE_TESTS} passed" in done.stdout
    tenants = {e.tenant for e in seen}
    assert len(tenants) == SAMPLE_TESTS and all(t.startswith("pytest-") for t in tenants)
    # every test reset its tenant when it ended
    assert leftovers == [] and stubs == []


def test_the_docs_example_passes_as_written(tmp_path):
    page = (ROOT / "docs" / "control-plane.md").read_text()
    example = re.search(r"A complete example \(`test_search.py`\):\n\n```python\n(.*?)```",
                        page, re.S).group(1)
    done = run_sample(tmp_path, source=example)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
