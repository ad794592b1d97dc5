"""A recording session: each forwarded exchange becomes ordinary fixtures.

* a Yandex v2 ``search_by_image`` with image ``data`` -> the picture in ``images/`` (its
  pixels re-encoded as PNG, so no EXIF, XMP or GPS is kept) and an ``image_rules`` entry
  with the answered documents (or the answered error), the answer's CBIR id as ``cbir_id``;
* a text search (v2 ``search``, v1 ``/images-xml``) -> a ``query_rules`` entry;
* every answered image -> a ``catalog.json`` document;
* a Doofinder v6 ``_image_search``, ``_visually_similar``, ``_search`` or ``_suggest`` ->
  the engine (its hashid) in ``engines.json``: each answered item in its index (as the
  vendor answered it, less its ``dfid``, which replay makes again), and a rule of the
  engine for the picture, dfid or text, whose ``results`` are the answered item ids in
  order (answers to the same picture or text with other filters, sorts or pages are merged
  in, in order), or its error;
* the same request answered differently -> a ``sequence`` on its rule, one step an answer;
* ``recording.json`` (a file the loader does not read): the upstreams, times, the
  redaction rules' digest, the secrets seen (salted digests only) and one line per
  exchange, with every credential replaced by its placeholder.

Writing is plain blocking file work: the proxy runs :meth:`Session.add` in the work pool.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from PIL import Image, ImageOps

from ._pictures import PictureFetcher
from ._redact import Redactor

PROVENANCE = "recording.json"
#: Emulator decision: the provenance keeps at most this many exchanges (the oldest go first);
#: the fixtures themselves keep every rule.
MAX_EXCHANGES = 10_000
#: Emulator decision: a recorded page is 40 documents, the vendor's page size by image.
PAGE_SIZE = 40
_FORMATS = {"IMAGE_FORMAT_JPEG": "jpeg", "IMAGE_FORMAT_PNG": "png", "IMAGE_FORMAT_GIF": "gif",
            "IMAGE_FORMAT_WEBP": "webp", "jpg": "jpeg", "jpeg": "jpeg", "png": "png",
            "gif": "gif", "webp": "webp"}
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
#: Doofinder operations written as engine rules, and the rule list each goes to.
_DOOFINDER_RULES = {"_image_search": "image_rules", "_visually_similar": "similar",
                    "_search": "query_rules", "_suggest": "suggest_rules"}
_QUERY_NAMES = ("match_and", "match_or", "fuzzy")
_INDEX_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HASHID = re.compile(r"[0-9a-f]{32}")
#: Emulator decision: a Doofinder error is written as a rule's answer only when it is about
#: the answer (the rate limit, the service's own failures), not about the request (a bad
#: token or parameter, which the replaying emulator checks by itself).
_RECORDED_ERRORS = frozenset((424, 429, 500, 502, 503, 504))
#: the engine an index holds its items in when an engine was only ever answered errors
_DEFAULT_INDEX = "product"


@dataclass(frozen=True)
class Exchange:
    """One forwarded call, as the client sent it and the upstream answered it."""

    upstream: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int
    answer: bytes


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_png(data: bytes) -> bytes:
    """The picture's pixels only (EXIF orientation applied), as PNG: no EXIF, XMP, GPS,
    ICC or text chunks survive."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
        bare = Image.new(upright.mode, upright.size)
        bare.frombytes(upright.tobytes())
        if upright.mode == "P":
            bare.putpalette(upright.getpalette() or [])
    out = io.BytesIO()
    bare.save(out, format="PNG")
    return out.getvalue()


def _doc_id(url: str, page_url: str) -> str:
    return "rec-" + hashlib.sha256(f"{url}\n{page_url}".encode()).hexdigest()[:16]


class Session:
    def __init__(self, out: Path, upstreams: dict[str, str], redactor: Redactor | None = None):
        self.out = out
        self.upstreams = upstreams
        self.redactor = redactor or Redactor()
        self.started = _now()
        self.documents: dict[str, dict] = {}
        self.image_rules: dict[str, dict] = {}  # image file -> rule
        self.query_rules: dict[str, dict] = {}  # normalised text -> rule
        self.clock: str | None = None
        self.engines: dict[str, _Engine] = {}
        #: with ``--record-thumbnails``: fetches the result pictures the answers point at
        self.pictures: PictureFetcher | None = None
        #: rule name or query text -> the last page recorded
        self._pages: dict[str, int] = {}
        #: rule name or query text -> each request of its current step -> its answer (JSON)
        self._seen: dict[str, dict[bytes, str]] = {}
        self._page_len: dict[str, int] = {}  # query text -> documents on its first page
        self.exchanges: list[dict] = []
        #: more of the provenance's keys (the record modes' index)
        self.extra: dict[str, object] = {}
        self._lock = threading.Lock()

    # -- one exchange ------------------------------------------------------------------

    def add(self, exchange: Exchange) -> str:
        """Notes the exchange and rewrites the directory; returns what it became."""
        with self._lock:
            kept = self._fixture(exchange)
            self._note(exchange, kept)
            self.write()
            return kept

    def _note(self, exchange: Exchange, kept: str) -> None:
        redact = self.redactor
        headers = redact.headers(dict(exchange.headers))
        self.exchanges.append({
            "time": _now(), "upstream": exchange.upstream, "method": exchange.method,
            "path": exchange.path, "query": [list(p) for p in redact.params(list(exchange.query))],
            "headers": headers, "status": exchange.status, "fixture": kept})
        del self.exchanges[:-MAX_EXCHANGES]

    def _fixture(self, exchange: Exchange) -> str:
        for name, value in exchange.headers:
            self.redactor.headers({name: value})
        self.redactor.params(list(exchange.query))
        body = None
        if exchange.body:
            try:
                body = json.loads(exchange.body)
            except ValueError:
                body = None
            self.redactor.body_fields(body)
        if exchange.upstream == "doofinder":
            return self._doofinder(body, exchange)
        if exchange.upstream != "yandex":
            return "not written (forwarded only)"
        if exchange.path == "/v2/image/search_by_image" and isinstance(body, dict):
            return self._by_image(body, exchange)
        if exchange.path == "/v2/image/search" and isinstance(body, dict):
            query = body.get("query") if isinstance(body.get("query"), dict) else {}
            text = query.get("queryText") if isinstance(query, dict) else None
            xml, status = None, None
            try:
                answer = json.loads(exchange.answer)
                if exchange.status == 200:
                    xml = base64.b64decode(answer["rawData"])
                else:  # google.rpc.Status
                    status = {"status": int(answer["code"]),
                              "message": str(answer.get("message", ""))}
            except (ValueError, KeyError, TypeError):
                return "not written (an answer that is not the vendor's)"
            page = query.get("page", 0) if isinstance(query, dict) else 0
            return self._by_text(text, page, xml, exchange, status)
        if exchange.path == "/images-xml":
            params = dict(exchange.query)
            return self._by_text(params.get("text"), params.get("p", 0),
                                 exchange.answer if exchange.status == 200 else None, exchange)
        return "not written (not a search)"

    def _by_image(self, body: dict, exchange: Exchange) -> str:
        """A rule over the picture (``data``), the URL (``url``) or the CBIR id (``id``); a
        later page of any of them extends its rule's results in order. An ``id`` the
        upstream issued to a recorded rule pages that rule."""
        data, url, cbir = body.get("data"), body.get("url"), body.get("id")
        picture = None
        if isinstance(data, str):
            try:
                picture = clean_png(base64.b64decode(data, validate=True))
            except Exception:
                return "not written (the picture does not decode)"
            name = f"rec-{hashlib.sha256(picture).hexdigest()[:16]}.png"
            match: dict[str, str] = {"image": name}
        elif isinstance(url, str) and url:
            name, match = f"url {url}", {"url": url}
        elif isinstance(cbir, str) and cbir:
            name = next((n for n, r in self.image_rules.items() if r.get("cbir_id") == cbir),
                        f"id {cbir}")
            match = {"cbir_id": cbir}
        else:
            return "not written (no image data, url or id)"
        page = int(body.get("page") or 0) if str(body.get("page") or 0).isdigit() else -1
        try:
            answer = json.loads(exchange.answer)
        except ValueError:
            return "not written (an answer that is not JSON)"
        rule = self.image_rules.get(name)
        if exchange.status != 200:
            if not isinstance(answer, dict) or "code" not in answer:
                return "not written (an answer that is not the vendor's)"
            step = {"error": {"status": int(answer["code"]),
                              "message": str(answer.get("message", ""))}}
            if rule is None:
                if picture is not None:
                    self._image_file(name, picture)
                self.image_rules[name] = {"name": f"recorded {name}", **match, **step}
                self._seen[name] = {exchange.body: _said(step)}
                return f"rules.json image_rules {name} (error)"
            return self._again(rule, name, exchange.body, step, "image_rules")
        ids = [self._document(self._image_doc(info)) for info in answer.get("images", [])]
        if rule is None:
            if page != 0:
                return "not written (a later page of a query with no recorded first page)"
            if picture is not None:
                self._image_file(name, picture)
            rule = {"name": f"recorded {name}", **match, "results": ids}
            if answer.get("id"):
                rule["cbir_id"] = answer["id"]
            self.image_rules[name] = rule
            self._pages[name] = 0
            self._seen[name] = {exchange.body: _said({"results": ids})}
            return f"rules.json image_rules {name}"
        results = rule.get("results")
        if results is not None and exchange.body not in self._seen.get(name, {}) \
                and page == self._pages.get(name, 0) + 1 and len(results) == page * PAGE_SIZE:
            results.extend(ids)
            self._pages[name] = page
            self._seen[name][exchange.body] = _said({"results": ids})
            return f"rules.json image_rules {name} (page {page})"
        return self._again(rule, name, exchange.body, {"results": ids}, "image_rules")

    def _again(self, rule: dict, name: str, request: bytes, step: dict, kind: str) -> str:
        """A request already recorded: answered the same, nothing new; answered otherwise,
        the rule becomes (or grows) a ``sequence``, this answer its next step."""
        seen = self._seen.setdefault(name, {})
        if request not in seen:
            return "not written (a page out of order, or another request of a recorded rule)"
        if seen[request] == _said(step):
            return "not written (already recorded)"
        if "sequence" not in rule:
            first = {k: rule.pop(k) for k in ("results", "error") if k in rule}
            rule["sequence"] = [first]
        rule["sequence"].append(step)
        self._seen[name] = {request: _said(step)}
        return f"rules.json {kind} {name} (step {len(rule['sequence'])})"

    def _image_file(self, name: str, picture: bytes) -> None:
        folder = self.out / "images"
        folder.mkdir(parents=True, exist_ok=True)
        _atomic(folder / name, picture)

    @staticmethod
    def _image_doc(info: dict) -> dict:
        url, page_url = str(info.get("url", "")), str(info.get("pageUrl", ""))
        doc = {"id": _doc_id(url, page_url), "url": url, "page_url": page_url,
               "page_title": str(info.get("pageTitle", "")),
               "width": int(info.get("width", 1)), "height": int(info.get("height", 1)),
               "format": _FORMATS.get(str(info.get("format")), "jpeg")}
        if "passage" in info:
            doc["passage"] = str(info["passage"])
        if info.get("host"):
            doc["host"] = str(info["host"])
        return doc

    def store_picture(self, data: bytes) -> str:
        """A fetched result picture in ``images/`` (pixels only): its file name."""
        picture = clean_png(data)
        name = f"rec-{hashlib.sha256(picture).hexdigest()[:16]}.png"
        self._image_file(name, picture)
        return name

    def _document(self, doc: dict) -> str:
        if doc["id"] not in self.documents and self.pictures is not None:
            name = self.pictures.file_for(doc["url"])
            if name is not None:  # served by the emulator at its URL, resized to the doc's
                doc = {**doc, "image": name}
                del doc["url"]
        known = self.documents.setdefault(doc["id"], doc)
        for key, value in doc.items():
            known.setdefault(key, value)
        return doc["id"]

    def _by_text(self, text: object, page: object, xml: bytes | None,
                 exchange: Exchange, status: dict | None = None) -> str:
        """A rule for the text's first page; later pages, recorded in order, extend its
        results (each page as long as the first)."""
        if not isinstance(text, str) or not text.strip():
            return "not written (no query text)"
        key = " ".join(text.lower().split())
        mark = f"text {key}"  # its place in the pages and requests seen
        number = int(str(page or 0)) if str(page or 0).isdigit() else -1
        if xml is None and status is None:
            return "not written (a non-XML error)"
        try:
            root = etree.fromstring(xml, _XML) if xml is not None else None
        except etree.XMLSyntaxError:
            return "not written (an answer that is not XML)"
        error = root.find("response/error") if root is not None else None
        step: dict[str, Any]
        if root is None:
            step = {"error": status}
        elif error is not None:
            step = {"error": {"code": int(error.get("code", "20")), "message": error.text or ""}}
        else:
            step = {"results": [self._document(self._xml_doc(d))
                                for d in root.iterfind("response/results/grouping/group/doc")]}
        request = exchange.body if exchange.path != "/images-xml" else json.dumps(
            sorted(exchange.query)).encode()
        rule = self.query_rules.get(key)
        if rule is not None:
            results, first = rule.get("results"), self._page_len.get(mark, 0)
            if results is not None and "results" in step and request not in self._seen[mark] \
                    and number == self._pages.get(mark, 0) + 1 and first \
                    and len(results) == number * first:
                results.extend(step["results"])
                self._pages[mark] = number
                self._seen[mark][request] = _said(step)
                return f"rules.json query_rules {text!r} (page {number})"
            return self._again(rule, mark, request, step, "query_rules")
        if number != 0:
            return "not written (a later page of a text with no recorded first page)"
        date = root.find("response") if root is not None else None
        if self.clock is None and date is not None and date.get("date"):
            stamp = dt.datetime.strptime(date.get("date", ""), "%Y%m%dT%H%M%S")
            self.clock = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.query_rules[key] = {"name": f"recorded {key}", "text": text, **step}
        self._pages[mark], self._page_len[mark] = 0, len(step.get("results", ()))
        self._seen[mark] = {request: _said(step)}
        return f"rules.json query_rules {text!r}"

    @staticmethod
    def _xml_doc(doc: etree._Element) -> dict:
        def text(path: str, default: str = "") -> str:
            found = doc.findtext(path)
            return found if found is not None else default

        url, page_url = text("url"), text("image-properties/html-link")
        out = {"id": _doc_id(url, page_url), "url": url, "page_url": page_url, "page_title": "",
               "width": int(text("image-properties/original-width", "1")),
               "height": int(text("image-properties/original-height", "1")),
               "format": _FORMATS.get(text("image-properties/mime-type"), "jpeg"),
               "file_size": int(text("image-properties/file-size", "0")),
               "thumbnail": {"width": int(text("image-properties/thumbnail-width", "1")),
                             "height": int(text("image-properties/thumbnail-height", "1"))}}
        modtime = text("modtime")
        if modtime:
            out["modified"] = dt.datetime.strptime(modtime, "%Y%m%dT%H%M%S").strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        host = urlsplit(page_url).hostname
        if host and host != urlsplit(url).hostname:
            out["host"] = host
        return out

    # -- Doofinder ----------------------------------------------------------------------

    def _doofinder(self, body: object, exchange: Exchange) -> str:
        parts = exchange.path.split("/")
        if len(parts) != 4 or parts[1] != "6" or not _HASHID.fullmatch(parts[2]) \
                or parts[3] not in _DOOFINDER_RULES:
            return "not written (forwarded only)"
        hashid, operation = parts[2], parts[3]
        params = dict(exchange.query)
        if operation == "_search" and isinstance(body, dict):
            params.update({k: v for k, v in body.items() if isinstance(v, str)})
        try:
            answer = json.loads(exchange.answer)
        except ValueError:
            return "not written (an answer that is not JSON)"
        step = self._engine_step(hashid, operation, exchange.status, answer)
        if step is None:
            return f"not written (HTTP {exchange.status}, an answer about the request)"
        request = json.dumps([sorted(exchange.query),
                              {k: v for k, v in body.items() if k != "image"}
                              if isinstance(body, dict) else None], sort_keys=True)
        engine = self.engines.setdefault(hashid, _Engine())
        kind = _DOOFINDER_RULES[operation]
        if operation == "_image_search":
            image = body.get("image") if isinstance(body, dict) else None
            try:
                picture = clean_png(base64.b64decode(str(image), validate=True))
            except Exception:
                return "not written (the picture does not decode)"
            name = f"rec-{hashlib.sha256(picture).hexdigest()[:16]}.png"
            self._image_file(name, picture)
            key, match = name, {"image": name}
        elif operation == "_visually_similar":
            dfid = params.get("dfid")
            if not dfid:
                return "not written (no dfid)"
            key, match = dfid, {"dfid": dfid}
        else:
            text = params.get("query")
            if not isinstance(text, str) or not text.strip():
                return "not written (no query text)"
            key, match = " ".join(text.lower().split()), {"text": text}
        rule = engine.rules[kind].setdefault(key, _Rule(match))
        how = rule.add(request, step)
        for item in answer.get("results", []) if isinstance(answer, dict) else []:
            engine.item(item, self.pictures)
        return f"engines.json {hashid} {kind} {key!r}{how}"

    @staticmethod
    def _engine_step(hashid: str, operation: str, status: int, answer: object) -> dict | None:
        if status != 200:
            if status not in _RECORDED_ERRORS or not isinstance(answer, dict):
                return None
            return {"error": {"http_status": status, "message": str(answer.get("error", ""))}}
        if operation == "_suggest":
            if not isinstance(answer, list):
                return None
            return {"suggestions": [str(s) for s in answer]}
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            return None
        step: dict[str, Any] = {"results": [
            str(i["id"]) for i in answer["results"] if isinstance(i, dict) and "id" in i
            and _item_index(i, hashid) is not None]}
        if answer.get("query_name") in _QUERY_NAMES:
            step["query_name"] = answer["query_name"]
        return step

    def read_engines(self, written: object) -> None:
        """The engines of an ``engines.json`` written earlier, read back so that what is
        recorded next is written beside them (``record --record-mode new_episodes``)."""
        engines = written.get("engines") if isinstance(written, dict) else None
        for engine in engines if isinstance(engines, list) else []:
            if isinstance(engine, dict) and isinstance(engine.get("hashid"), str):
                self.engines[engine["hashid"]] = _Engine.from_json(engine)

    # -- the directory -----------------------------------------------------------------

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        files = {
            "catalog.json": {"version": 1, "documents": list(self.documents.values())},
            "rules.json": {"version": 1, "image_rules": list(self.image_rules.values()),
                           "query_rules": list(self.query_rules.values())},
            PROVENANCE: {"version": 1, "recorded_by": "image-search-emulator record",
                         "upstreams": self.upstreams, "started": self.started,
                         "updated": _now(), "redaction": self.redactor.provenance(),
                         **({} if self.pictures is None else {"pictures": {
                             "fetched": self.pictures.fetched,
                             "not_fetched": self.pictures.failed}}),
                         "exchanges": self.exchanges, **self.extra},
        }
        if self.clock is not None:
            files["settings.json"] = {"version": 1, "clock": self.clock}
        if self.engines:
            files["engines.json"] = {"version": 1, "engines": [
                engine.to_json(hashid) for hashid, engine in self.engines.items()]}
        for name, content in files.items():
            _atomic(self.out / name, (json.dumps(content, indent=1, ensure_ascii=False)
                                      + "\n").encode())


def _said(step: dict) -> str:
    return json.dumps(step, sort_keys=True)


def _item_index(item: dict, hashid: str) -> str | None:
    """The index a Doofinder item is in, from its ``dfid`` (``hashid@index@md5``)."""
    parts = str(item.get("dfid", "")).split("@")
    if len(parts) != 3 or parts[0] != hashid or not _INDEX_NAME.fullmatch(parts[1]):
        return None
    return parts[1]


class _Rule:
    """An engine rule being recorded: its match and its steps. A step is one answer; the
    answers to other requests (filters, sorts, pages) merge into the current step, and a
    request already in it that is answered differently starts the next step."""

    def __init__(self, match: dict[str, str]) -> None:
        self.match = match
        self.steps: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []  # step -> request -> its answer (JSON)

    def add(self, request: str, step: dict[str, Any]) -> str:
        said = json.dumps(step, sort_keys=True)
        if self.steps:
            last, seen = self.steps[-1], self.requests[-1]
            merges = ("results" in last and "results" in step) \
                or said == json.dumps(last, sort_keys=True)
            if seen.get(request, said) == said and merges:
                seen[request] = said
                if "results" in step:
                    last["results"].extend(i for i in step["results"]
                                           if i not in last["results"])
                return ""
        self.steps.append(json.loads(said))
        self.requests.append({request: said})
        return f" (step {len(self.steps)})" if len(self.steps) > 1 else ""

    @classmethod
    def from_json(cls, rule: dict[str, Any], match_keys: tuple[str, ...]) -> _Rule | None:
        """A rule written earlier, read back (``record --record-mode new_episodes``): its
        steps, with the requests each answered unknown (a repeat merges into the last)."""
        match = {k: str(rule[k]) for k in match_keys if isinstance(rule.get(k), str)}
        if not match:
            return None
        made = cls(match)
        sequence = rule.get("sequence")
        steps: list = sequence if isinstance(sequence, list) else [
            {k: v for k, v in rule.items() if k != "name" and k not in match_keys}]
        made.steps = [step for step in steps if isinstance(step, dict)]
        made.requests = [{} for _ in made.steps]
        return made

    def key(self) -> str:
        """Where the engine keeps it: the picture file, the dfid or the normalised text."""
        if "text" in self.match:
            return " ".join(self.match["text"].lower().split())
        return next(iter(self.match.values()))

    def to_json(self) -> dict[str, Any]:
        name = next(iter(self.match.values()))
        rule: dict[str, Any] = {"name": f"recorded {name}", **self.match}
        if len(self.steps) == 1:
            rule.update(self.steps[0])
        else:
            rule["sequence"] = self.steps
        return rule


class _Engine:
    def __init__(self) -> None:
        self.indices: dict[str, dict[str, dict]] = {}
        self.rules: dict[str, dict[str, _Rule]] = {k: {} for k in _DOOFINDER_RULES.values()}

    def item(self, item: object, pictures: PictureFetcher | None = None) -> None:
        if not isinstance(item, dict) or "id" not in item:
            return
        parts = str(item.get("dfid", "")).split("@")
        if len(parts) != 3 or not _INDEX_NAME.fullmatch(parts[1]):
            return
        fields = {k: v for k, v in item.items() if k != "dfid"}
        fields["id"] = str(fields["id"])
        known_items = self.indices.get(parts[1], {})
        if pictures is not None and fields["id"] not in known_items:
            name = pictures.file_for(fields.get("image_link"))
            if name is not None:  # served by the emulator, at the link it gives the item
                fields["image_file"] = name
                del fields["image_link"]
        if not isinstance(fields.get("title"), str):
            fields["title"] = str(fields.get("title") or fields["id"])
        known = self.indices.setdefault(parts[1], {}).setdefault(fields["id"], fields)
        for key, value in fields.items():
            known.setdefault(key, value)

    @classmethod
    def from_json(cls, engine: dict[str, Any]) -> _Engine:
        """An engine written earlier, read back (``record --record-mode new_episodes``)."""
        made = cls()
        for index in engine.get("indices") or []:
            if isinstance(index, dict) and isinstance(index.get("name"), str):
                made.indices[index["name"]] = {str(item["id"]): item for item in
                                               index.get("items") or []
                                               if isinstance(item, dict) and "id" in item}
        for kind, keys in (("image_rules", ("image", "dfid")), ("query_rules", ("text",)),
                           ("suggest_rules", ("text",))):
            for rule in engine.get(kind) or []:
                made_rule = _Rule.from_json(rule, keys) if isinstance(rule, dict) else None
                if made_rule is not None:
                    place = "similar" if "dfid" in made_rule.match else kind
                    made.rules[place][made_rule.key()] = made_rule
        return made

    def to_json(self, hashid: str) -> dict[str, Any]:
        indices = [{"name": name, "items": list(items.values())}
                   for name, items in self.indices.items()] or \
            [{"name": _DEFAULT_INDEX, "items": []}]
        engine: dict[str, Any] = {"hashid": hashid, "name": f"recorded {hashid}",
                                  "indices": indices}
        image_rules = [r.to_json() for r in self.rules["image_rules"].values()] + \
            [r.to_json() for r in self.rules["similar"].values()]
        for kind, rules in (("image_rules", image_rules),
                            ("query_rules", [r.to_json() for r in
                                             self.rules["query_rules"].values()]),
                            ("suggest_rules", [r.to_json() for r in
                                               self.rules["suggest_rules"].values()])):
            if rules:
                engine[kind] = rules
        return engine


def _atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
