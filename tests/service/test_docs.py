"""The docs keep up with the code: every package is on the architecture page, every option
of the option table is on the configuration page, every file the architecture page names
exists, and every relative link of the README and ``docs/`` resolves, anchors included.

Anchors are the ones GitHub makes from headings: lowercase, punctuation dropped, spaces
turned into hyphens, ``-1``, ``-2``, ... added to repeats.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator._config import CONFIG_ENV, OPTIONS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
ARCHITECTURE = DOCS / "architecture.md"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
#: A newcomer reads the README in a few minutes; the reference lives in docs/.
README_MAX_BYTES = 8 * 1024

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
#: [text](target) or [text](target "title"), not an image; the text may hold brackets
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
#: a file name on the architecture page: emulator/x/_y.py, core/_y.py or _y.py
_MODULE = re.compile(r"(?<![\w./-])((?:[a-z_][a-z0-9_]*/)*[a-z_][a-z0-9_]*\.py)\b")


def _prose(markdown: str) -> str:
    """The page without fenced blocks: what GitHub reads headings and links from."""
    return _FENCE.sub("", markdown)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger) from its markdown text."""
    text = _CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link shows its text
    text = re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", text)  # emphasis marks are not text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(_prose(markdown)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(markdown: str) -> list[str]:
    """The targets of a page's links, outside code (fenced blocks and code spans)."""
    prose = _CODE_SPAN.sub(lambda m: "`" + "x" * len(m.group(2)) + "`", _prose(markdown))
    return [m.group(1) for m in _LINK.finditer(prose)]


def broken_links(page: Path) -> list[str]:
    """Every relative link of the page whose file or anchor is not there, with the reason."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if _SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{target}: no such file {resolved}")
            continue
        if anchor:
            if resolved.suffix != ".md" or resolved.is_dir():
                problems.append(f"{target}: an anchor into something that is not a page")
            elif anchor not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


def packages() -> list[str]:
    """Every package under emulator/ (a directory with ``__init__.py``), as ``emulator/x/``."""
    found = {init.parent for init in (ROOT / "emulator").rglob("__init__.py")}
    return sorted(p.relative_to(ROOT).as_posix() + "/" for p in found)


# -- the checkers themselves -----------------------------------------------------------

def test_slugs_are_githubs():
    assert slug("`access.json`") == "accessjson"
    assert slug("Images: matching, ranking and serving") == "images-matching-ranking-and-serving"
    assert slug("The `yandexcloud` SDK's generated stubs") == "the-yandexcloud-sdks-generated-stubs"
    assert slug("Fixture format (version 1)") == "fixture-format-version-1"
    assert slug("Errors, in the order they are checked") == "errors-in-the-order-they-are-checked"
    assert anchors("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n### Notes\n") == \
        {"notes", "notes-1", "notes-2"}


def test_the_link_checker_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Known part\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n"
        "[ok](other.md) [ok](other.md#known-part) [ok](#here) [ok](https://example.com/x#y)\n"
        "[`code` text](other.md#other)\n"
        "[gone](missing.md) [gone](other.md#unknown-part) [gone](#nowhere)\n"
        "`[not a link](missing-in-code.md)`\n"
        "```\n[not a link](missing-in-fence.md)\n```\n", encoding="utf-8")
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert problems[0].startswith("missing.md: no such file")
    assert problems[1] == "other.md#unknown-part: no heading #unknown-part in other.md"
    assert problems[2] == "#nowhere: no heading #nowhere in page.md"


# -- the docs ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_every_package_is_on_the_architecture_page():
    page = ARCHITECTURE.read_text(encoding="utf-8")
    found = packages()
    assert {"emulator/", "emulator/core/", "emulator/yandex/"} <= set(found)
    missing = [p for p in found if f"`{p}`" not in page]
    assert missing == [], f"packages missing from {ARCHITECTURE.name}: {missing}"


def test_every_file_the_architecture_page_names_exists():
    page = ARCHITECTURE.read_text(encoding="utf-8")
    emulator = ROOT / "emulator"
    everywhere = {p.name for p in emulator.rglob("*.py")}
    named = set(_MODULE.findall(page))
    assert "emulator/_http.py" in named and "_rest.py" in named
    stale = []
    for name in sorted(named):
        if name.startswith("emulator/"):
            there = (ROOT / name).is_file()
        elif "/" in name:
            there = (emulator / name).is_file()
        else:
            there = name in everywhere
        if not there:
            stale.append(name)
    assert stale == [], f"{ARCHITECTURE.name} names files that are not there: {stale}"


def test_every_option_is_on_the_configuration_page():
    page = CONFIGURATION.read_text(encoding="utf-8")
    missing = [(option.flag, option.env, option.name) for option in OPTIONS
               if f"`{option.env}`" not in page or f"`{option.name}`" not in page
               or not re.search(rf"`{re.escape(option.flag)}[` ]", page)]
    assert missing == [], f"options missing from {CONFIGURATION.name}: {missing}"
    assert f"`{CONFIG_ENV}`" in page


def test_the_readme_is_short_and_points_at_every_page():
    readme = README.read_text(encoding="utf-8")
    assert len(readme.encode()) <= README_MAX_BYTES, "move reference text to docs/"
    targets = {t.partition("#")[0] for t in links(readme)}
    missing = [p.relative_to(ROOT).as_posix() for p in PAGES[1:]
               if p.relative_to(ROOT).as_posix() not in targets]
    assert missing == [], f"docs pages the README does not link: {missing}"
