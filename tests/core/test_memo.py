"""Rendered answers kept for repeats: bounded, never stale, never a stub's."""

from __future__ import annotations

from support.adminhttp import module_emulator, tenant_admin
from support.yandexcalls import v1_search, xml_doc_urls

from emulator.core._memo import RenderMemo

running = module_emulator()
admin = tenant_admin("memo")


def test_the_memo_is_bounded_by_count_and_bytes():
    memo, store = RenderMemo(entries=3, max_bytes=800), object()
    for i in range(5):
        memo.put(store, i, bytes(50))
    assert [memo.get(store, i) is not None for i in range(5)] == [False, False, True, True, True]
    memo.put(store, "big", bytes(101))  # over an eighth of the bytes: never kept
    assert memo.get(store, "big") is None
    for i in range(5, 9):
        memo.put(store, i, bytes(100))
    assert memo.get(store, 2) is None and memo.get(store, 8) is not None


def test_another_fixture_set_forgets_what_was_rendered():
    memo, old, new = RenderMemo(), object(), object()
    memo.put(old, "k", b"old answer")
    assert memo.get(old, "k") == b"old answer"
    assert memo.get(new, "k") is None
    assert memo.get(old, "k") is None  # the old set is gone for good


def test_a_repeated_request_gets_the_same_bytes_and_a_stub_still_wins(running, admin):
    first = v1_search(running.http, admin.tenant, "yandex cloud")
    assert v1_search(running.http, admin.tenant, "yandex cloud") == first
    status, _ = admin("POST", "/stubs", {"text": "yandex cloud", "results": ["red-square"]})
    assert status == 201
    stubbed = v1_search(running.http, admin.tenant, "yandex cloud")
    assert xml_doc_urls(stubbed) == ["/_emulator/images/files/red-square.png?size=512x512"]
    admin("POST", "/reset")
    assert v1_search(running.http, admin.tenant, "yandex cloud") == first
