"""The web page in a real Chromium: what a person sees after picking or uploading a
picture, typing a query, watching the journal, reading a miss, and editing stubs."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest

from support.adminhttp import Admin
from support.browser import all_loaded, available, chromium, unmatched_picture
from support.server import FIXTURES, start
from support.yandexcalls import rest_by_image

#: Skipped where there is no browser, except in CI (.ci/run installs it), where that fails.
pytestmark = pytest.mark.skipif(available() is not None and not os.environ.get("CI"),
                                reason=str(available()))

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()
IMAGE_PANELS = ("yandex.v2.rest", "yandex.v2.grpc", "doofinder.v6")


@pytest.fixture(scope="module")
def running():
    with start() as run:
        yield run


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser, running):
    """The page, freshly opened, with every request it makes noted."""
    Admin(running.http)("POST", "/reset")
    page = browser.new_page()
    page.sent = []
    page.on("request", lambda r: page.sent.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(running.http + "/_emulator/ui/")
    page.wait_for_selector("#fixture-pictures button.pick")
    yield page
    page.close()
    assert errors == []


def panel(page, api: str) -> str:
    return f".panel[data-api='{api}']"


def test_a_fixture_picture_is_answered_by_every_vendor_side_by_side(page, running):
    page.click("button.pick[data-file='red-square.png']")
    for api in IMAGE_PANELS:
        page.wait_for_selector(f"{panel(page, api)} .status.ok")
    assert page.inner_text(f"{panel(page, 'yandex.v2.rest')} .status").startswith("HTTP 200")
    assert page.inner_text(f"{panel(page, 'yandex.v2.grpc')} .status").startswith("gRPC OK")
    # each vendor's grid of result pictures, all of them loaded from the emulator itself
    assert all_loaded(page, f"{panel(page, 'yandex.v2.rest')} .grid img") == 3
    assert all_loaded(page, f"{panel(page, 'yandex.v2.grpc')} .grid img") == 3
    assert all_loaded(page, f"{panel(page, 'doofinder.v6')} .grid img") == 12
    for api, rule in (("yandex.v2.rest", "red square"), ("yandex.v2.grpc", "red square"),
                      ("doofinder.v6", "poster-red-square")):
        assert page.inner_text(f"{panel(page, api)} .match .tier") == "exact"
        assert f'rule="{rule}"; distance=0' in page.inner_text(f"{panel(page, api)} .match")
    assert page.get_attribute(f"{panel(page, 'yandex.v2.rest')} .grid figure img", "alt") == "A red square"
    # the raw answer one click away
    raw = f"{panel(page, 'yandex.v2.rest')} details.raw"
    assert not page.is_visible(f"{raw} pre")
    page.click(f"{raw} summary")
    assert json.loads(page.inner_text(f"{raw} pre"))["images"][0]["pageTitle"] == "A red square"
    # the same calls as commands to copy
    curl = page.inner_text(f"{panel(page, 'yandex.v2.rest')} pre.command")
    assert "base64 -w0 'fixtures/images/red-square.png'" in curl
    assert f"{running.http}/v2/image/search_by_image" in curl
    grpcurl = page.inner_text(f"{panel(page, 'yandex.v2.grpc')} pre.command")
    assert f"{running.grpc} yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage" in grpcurl
    assert "/_image_search" in page.inner_text(f"{panel(page, 'doofinder.v6')} pre.command")
    assert page.inner_text(f"{panel(page, 'yandex.v1.xml')} .status") == "v1 searches by text only"
    origin = running.http + "/"
    assert page.sent and all(url.startswith(origin) for url in page.sent), page.sent  # no network


def test_an_uploaded_picture_appears_in_the_journal_live_and_its_miss_is_explained(
        page, running, tmp_path):
    page.click("nav a[data-tab=journal]")
    page.wait_for_selector("#stream-state.live")
    page.evaluate("window.notReloaded = true")
    picture = tmp_path / "blue-disc.png"
    picture.write_bytes(unmatched_picture())
    page.click("nav a[data-tab=try]")
    page.set_input_files("#file", str(picture))
    page.wait_for_selector(f"{panel(page, 'doofinder.v6')} .status.ok")
    assert page.inner_text("#chosen-name").startswith("blue-disc.png")
    assert page.inner_text(f"{panel(page, 'yandex.v2.rest')} .match .tier") == "nearest"
    page.click("nav a[data-tab=journal]")
    page.wait_for_function("document.querySelectorAll('#journal-table tbody tr').length === 3")
    assert page.evaluate("window.notReloaded") is True
    rows = page.locator("#journal-table tbody tr")
    assert sorted(rows.nth(i).locator("td").nth(3).inner_text() for i in range(3)) == sorted(IMAGE_PANELS)
    assert all_loaded(page, "#journal-table img.thumb") == 3  # the query picture, small
    row = "#journal-table tr.miss[data-seq]"
    cells = page.locator(row).first.locator("td")
    assert cells.nth(6).inner_text() == "OK" and cells.nth(8).inner_text().startswith("nearest")
    assert cells.nth(7).inner_text().endswith(" ms") and cells.nth(9).inner_text().isdigit()
    page.locator("#journal-table tr.miss", has_text="yandex.v2.rest").click()
    page.wait_for_selector("#entry .explain .reason")
    assert "no stub or fixture rule matches" in page.inner_text("#entry .reason")
    assert "the closest is fixture 'red square'" in page.inner_text("#entry .reason")
    assert all_loaded(page, "#entry .candidate img") >= 3  # the nearest candidates, pictured
    assert page.inner_text("#entry .candidate p").startswith("red square")


def test_a_request_from_elsewhere_appears_without_a_reload(page, running):
    page.click("nav a[data-tab=journal]")
    page.wait_for_selector("#stream-state.live")
    before = page.locator("#journal-table tbody tr").count()
    assert rest_by_image(running.http, "from-a-script", RED_SQUARE)[0] == 200
    page.wait_for_selector("#journal-table tbody tr:has-text('from-a-script')")
    assert page.locator("#journal-table tbody tr").count() == before + 1
    first = page.locator("#journal-table tbody tr").first
    assert "exact" in first.inner_text() and "red square" in first.inner_text()


def test_a_query_text_goes_to_every_text_api(page):
    page.fill("#text", "yandex cloud")
    page.click("#text-form button")
    for api in ("yandex.v2.rest", "yandex.v2.grpc", "yandex.v1.xml"):
        page.wait_for_selector(f"{panel(page, api)} .status.ok")
        assert page.inner_text(f"{panel(page, api)} .match .tier") == "text"
        assert page.locator(f"{panel(page, api)} .grid figure").count() == 20
    page.wait_for_selector(f"{panel(page, 'doofinder.v6')} .status.ok")
    assert "text=yandex%20cloud" in page.inner_text(f"{panel(page, 'yandex.v1.xml')} pre.command")


def test_the_fixtures_are_shown_with_their_pictures(page):
    page.click("nav a[data-tab=fixtures]")
    page.wait_for_selector("#image-rules .card")
    assert all_loaded(page, "#image-rules img") == 5
    names = page.locator("#image-rules .name").all_inner_texts()
    assert "red square" in names and "backend failure" in names
    assert "error: UNAVAILABLE" in page.inner_text("#image-rules .card:has-text('backend failure')")
    assert page.inner_text("#fixture-status").startswith("Generation 1, loaded ")
    assert all_loaded(page, "#engines .grid img") == 48
    assert page.is_hidden("#fixture-error")


def test_stubs_are_added_used_and_removed_from_the_page(page):
    page.click("nav a[data-tab=stubs]")
    page.wait_for_selector("#stub-list li.none")
    page.click("#stub-form button")  # the example stub: red square answers the blue wallpaper
    page.wait_for_selector("#stub-list li[data-id]")
    assert '"name":"blue for red"' in page.inner_text("#stub-list li")
    page.click("nav a[data-tab=try]")
    page.click("button.pick[data-file='red-square.png']")
    page.wait_for_selector(f"{panel(page, 'yandex.v2.rest')} .status.ok")
    assert page.inner_text(f"{panel(page, 'yandex.v2.rest')} .match .tier") == "stub"
    first = page.get_attribute(f"{panel(page, 'yandex.v2.rest')} .grid img", "alt")
    assert first == "Blue gradient wallpaper 1920x1080"  # the stub's document, not the rule's
    page.click("nav a[data-tab=stubs]")
    page.click("#stub-list li[data-id] button.remove")
    page.wait_for_selector("#stub-list li.none")
    page.fill("#fault-json", '{"vendor": "doofinder", "latency": {"fixed_ms": -1}}')
    page.click("#fault-form button")
    page.wait_for_selector("#fault-form .form-error:not([hidden])")
    # the admin API's own words for what it refused
    assert page.inner_text("#fault-form .form-error") == "-1 is less than the minimum of 0"
    assert page.inner_text("#fault-list li") == "No faults"


def test_a_miss_becomes_a_stub(page, running):
    rest_by_image(running.http, "make-a-stub", unmatched_picture())
    page.click("nav a[data-tab=journal]")
    page.locator("#journal-table tr.miss").first.click()
    page.wait_for_selector("#entry .make-stub")
    page.click("#entry .make-stub")
    page.wait_for_selector("#tab-stubs:not([hidden])")
    stub = json.loads(page.input_value("#stub-json"))
    entry = Admin(running.http, "make-a-stub")("GET", "/requests")[1]["requests"][-1]
    assert stub["sha256"] == entry["image"]["sha256"]
    assert stub["results"] == ["red-square", "gray-sketch", "adult-poster"]  # the nearest rule's
    page.click("#stub-form button")
    page.wait_for_selector("#stub-list li[data-id]")
    assert rest_by_image(running.http, "make-a-stub", unmatched_picture())[0] == 200
    last = Admin(running.http, "make-a-stub")("GET", "/requests")[1]["requests"][-1]
    assert last["match"]["tier"] == "stub"


def test_with_an_admin_token_the_page_asks_for_it(browser, tmp_path):
    fixtures = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    with start(fixtures, admin_token="s3cret") as run:
        page = browser.new_page()
        page.goto(run.http + "/_emulator/ui/")
        page.wait_for_selector("#notice:not([hidden])")
        assert "admin token" in page.inner_text("#notice")
        assert page.locator("#fixture-pictures button").count() == 0  # nothing shown without it
        page.fill("#token", "s3cret")
        page.dispatch_event("#token", "change")
        page.wait_for_selector("#fixture-pictures button.pick")
        page.click("nav a[data-tab=stubs]")
        page.click("#stub-form button")
        page.wait_for_selector("#stub-list li[data-id]")
        # a broken fixture file, reloaded from the page: the reason shown, the last set kept
        (fixtures / "rules.json").write_text('{"version": 1, "image_rules": [{"name": 5}]}')
        page.click("nav a[data-tab=fixtures]")
        page.click("#fixtures-reload")
        page.wait_for_selector("#fixture-error:not([hidden])")
        assert "rules.json" in page.inner_text("#fixture-error")
        assert "still serving generation 1" in page.inner_text("#fixture-error")
        request = urllib.request.Request(run.http + "/_emulator/stubs",
                                         headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert len(json.load(answer)["stubs"]) == 1
        page.close()
