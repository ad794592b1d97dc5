"""Hot reload: fixture edits are picked up while serving (file watch and API), validated,
swapped in whole; a broken file keeps the last good set and reports the error."""

from __future__ import annotations

import json
import logging
import shutil
import time

import pytest

from support.adminhttp import Admin
from support.server import FIXTURES, catalog_url, start
from support.yandexcalls import v1_search, xml_doc_urls, xml_error_code



@pytest.fixture
def fixtures(tmp_path):
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    return directory


def add_query_rule(directory, text: str, results: list[str]) -> None:
    path = directory / "rules.json"
    rules = json.loads(path.read_text())
    rules["query_rules"].append({"name": text, "text": text, "results": results})
    path.write_text(json.dumps(rules))


def wait_for(admin: Admin, predicate, seconds: float = 30.0) -> dict:
    """Poll the fixture status until the predicate holds (a wait, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while True:
        status = admin("GET", "/fixtures")[1]
        if predicate(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_the_watcher_picks_up_an_edit(fixtures):
    with start(fixtures, reload_interval=0.05) as running:
        admin = Admin(running.http)
        assert admin("GET", "/fixtures")[1]["watching"] is True
        add_query_rule(fixtures, "hot cats", ["red-square"])
        status = wait_for(admin, lambda s: s["generation"] == 2)
        assert status["generation"] == 2 and status["error"] is None
        assert status["query_rules"] == 4
        assert xml_doc_urls(v1_search(running.http, "k", "hot cats")) == [catalog_url("red-square", base="")]


def test_a_broken_file_keeps_the_last_good_set(fixtures, caplog):
    caplog.set_level(logging.ERROR)
    with start(fixtures, reload_interval=0.05) as running:
        admin = Admin(running.http)
        (fixtures / "rules.json").write_text('{"version": 1, "query_rules": [')
        status = wait_for(admin, lambda s: s["error"] is not None)
        assert status["generation"] == 1 and status["error"]["file"] == "rules.json"
        assert status["error"]["place"].startswith("line 1")
        assert str(fixtures / "rules.json") in status["error"]["message"]
        # still serving the last good set
        assert xml_error_code(v1_search(running.http, "k", "no such images")) == "15"
        code, got = admin("POST", "/fixtures/reload")
        assert code == 422 and got["error"]["file"] == "rules.json" and got["generation"] == 1
        add_query_rule_ok = {"version": 1, "query_rules": [
            {"text": "fixed", "results": ["no-such-doc"]}]}
        (fixtures / "rules.json").write_text(json.dumps(add_query_rule_ok))
        code, got = admin("POST", "/fixtures/reload")
        assert code == 422 and got["error"]["place"] == "$.query_rules[0].results[0]"
    assert any("fixtures not reloaded" in r.getMessage() and "rules.json" in r.getMessage()
               for r in caplog.records)


def test_reload_through_the_api_without_watching(fixtures):
    with start(fixtures, reload_interval=None) as running:
        admin = Admin(running.http)
        assert admin("GET", "/fixtures")[1]["watching"] is False
        add_query_rule(fixtures, "api cats", ["blue-wallpaper"])
        wallpaper = [catalog_url("blue-wallpaper", base="")]
        assert xml_doc_urls(v1_search(running.http, "k", "api cats")) != wallpaper
        code, got = admin("POST", "/fixtures/reload")
        assert code == 200 and got["generation"] == 2 and got["error"] is None
        assert xml_doc_urls(v1_search(running.http, "k", "api cats")) == wallpaper


def test_stubs_survive_a_reload_and_resolve_against_the_new_catalog(fixtures):
    with start(fixtures, reload_interval=None) as running:
        admin = Admin(running.http, "t")
        admin("POST", "/stubs", {"text": "kept", "results": ["red-square"]})
        assert admin("POST", "/fixtures/reload")[0] == 200
        assert xml_doc_urls(v1_search(running.http, "t", "kept")) == [catalog_url("red-square", base="")]
