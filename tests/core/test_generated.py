"""Generated documents: a pure function of (seed, index), the same in another process, in
English and Russian, with Faker's hosts, paths and slugs drawn from bounded pools."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from support.server import ROOT
from emulator.core._generated import POOL_SIZE, DocumentGenerator

SEEDS = [bytes([n]) * 16 for n in range(30)]
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def page(generator: DocumentGenerator, seed: bytes) -> list[dict]:
    return [{"host": d.host, "url": d.page_url, "title": d.page_title, "passage": d.passage,
             "id": d.doc_id, "size": [d.width, d.height]}
            for d in (generator.document(seed, i) for i in range(40))]


def test_the_same_documents_in_another_process():
    here = [page(DocumentGenerator(), seed) for seed in SEEDS[:3]]
    code = ("import json; from emulator.core._generated import DocumentGenerator; "
            "from test_generated import SEEDS, page; g = DocumentGenerator(); "
            "print(json.dumps([page(g, s) for s in SEEDS[:3]], ensure_ascii=False))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True, encoding="utf-8",
                         env={"PYTHONHASHSEED": "random", "PATH": "", "PYTHONPATH": "tests:tests/core"})
    assert json.loads(out.stdout) == here


def test_the_order_documents_are_made_in_does_not_matter():
    first, second = DocumentGenerator(), DocumentGenerator()
    forward = [page(first, seed) for seed in SEEDS[:5]]
    backward = [page(second, seed) for seed in reversed(SEEDS[:5])]
    assert forward == backward[::-1]


def test_documents_read_like_the_web_in_both_languages():
    generator = DocumentGenerator()
    documents = [d for seed in SEEDS for d in page(generator, seed)]
    russian = [d for d in documents if CYRILLIC.search(d["title"])]
    assert 0.3 < len(russian) / len(documents) < 0.7
    for d in documents:
        assert d["url"].startswith(f"https://{d['host']}/") and d["url"].endswith("/")
        assert re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", d["host"]), d["host"]
        title_words, passage_words = d["title"].split(), d["passage"].split()
        assert 5 <= len(title_words) <= 9, d["title"]
        assert 8 <= len(passage_words) <= 16, d["passage"]
        assert title_words[0][0].isupper() and d["passage"].endswith(" ")
    # a page has variety: not one host, title or passage twice on it
    for seed in SEEDS:
        one = page(generator, seed)
        assert len({d["title"] for d in one}) == 40
        assert len({d["url"] for d in one}) == 40


def test_hosts_paths_and_slugs_come_from_bounded_pools():
    generator = DocumentGenerator()
    documents = [d for n in range(200) for d in page(generator, n.to_bytes(2, "big") * 8)]
    hosts = {d["host"] for d in documents}
    assert 256 < len(hosts) <= 2 * POOL_SIZE  # two locales, one pool of hosts each
    paths = {d["url"].split("/", 3)[3] for d in documents}
    assert len(paths) > 2000  # path x slug: the pools combine into many page URLs
