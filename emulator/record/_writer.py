"""A recording session: each forwarded exchange becomes ordinary fixtures.

* a Yandex v2 ``search_by_image`` with image ``data`` -> the picture in ``images/`` (its
  pixels re-encoded as PNG, so no EXIF, XMP or GPS is kept) and an ``image_rules`` entry
  with the answered documents (or the answered error), the answer's CBIR id as ``cbir_id``;
* a text search (v2 ``search``, v1 ``/images-xml``) -> a ``query_rules`` entry;
* every answered image -> a ``catalog.json`` document;
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
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree
from PIL import Image, ImageOps

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
        if exchange.upstream != "yandex":
            return "not written (forwarded only)"
        if exchange.path == "/v2/image/search_by_image" and isinstance(body, dict):
            return self._by_image(body, exchange)
        if exchange.path == "/v2/image/search" and isinstance(body, dict):
            query = body.get("query") if isinstance(body.get("query"), dict) else {}
            text = query.get("queryText") if isinstance(query, dict) else None
            xml = None
            if exchange.status == 200:
                try:
                    xml = base64.b64decode(json.loads(exchange.answer)["rawData"])
                except (ValueError, KeyError, TypeError):
                    return "not written (an answer that is not the vendor's)"
            return self._by_text(text, body.get("page", 0), xml, exchange)
        if exchange.path == "/images-xml":
            params = dict(exchange.query)
            return self._by_text(params.get("text"), params.get("p", 0),
                                 exchange.answer if exchange.status == 200 else None, exchange)
        return "not written (not a search)"

    def _by_image(self, body: dict, exchange: Exchange) -> str:
        data = body.get("data")
        if not isinstance(data, str):
            return "not written (only image bytes are recorded, not url or id queries)"
        try:
            picture = clean_png(base64.b64decode(data, validate=True))
        except Exception:
            return "not written (the picture does not decode)"
        name = f"rec-{hashlib.sha256(picture).hexdigest()[:16]}.png"
        page = int(body.get("page") or 0) if str(body.get("page") or 0).isdigit() else -1
        try:
            answer = json.loads(exchange.answer)
        except ValueError:
            return "not written (an answer that is not JSON)"
        rule = self.image_rules.get(name)
        if exchange.status != 200:
            if rule is not None or not isinstance(answer, dict) or "code" not in answer:
                return "not written (an error after a recorded answer)"
            self._image_file(name, picture)
            self.image_rules[name] = {"name": f"recorded {name}", "image": name, "error": {
                "status": int(answer["code"]), "message": str(answer.get("message", ""))}}
            return f"rules.json image_rules {name} (error)"
        ids = [self._document(self._image_doc(info)) for info in answer.get("images", [])]
        if rule is None:
            if page != 0:
                return "not written (a later page of a picture with no recorded first page)"
            self._image_file(name, picture)
            rule = {"name": f"recorded {name}", "image": name, "results": ids}
            if answer.get("id"):
                rule["cbir_id"] = answer["id"]
            self.image_rules[name] = rule
            return f"rules.json image_rules {name}"
        results = rule.get("results")
        if results is not None and page > 0 and len(results) == page * PAGE_SIZE:
            results.extend(ids)
            return f"rules.json image_rules {name} (page {page})"
        return "not written (already recorded)"

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

    def _document(self, doc: dict) -> str:
        known = self.documents.setdefault(doc["id"], doc)
        for key, value in doc.items():
            known.setdefault(key, value)
        return doc["id"]

    def _by_text(self, text: object, page: object, xml: bytes | None,
                 exchange: Exchange) -> str:
        if not isinstance(text, str) or not text.strip():
            return "not written (no query text)"
        key = " ".join(text.lower().split())
        if key in self.query_rules:
            return "not written (already recorded)"
        if str(page or 0) != "0":
            return "not written (only first pages of text searches are recorded)"
        if xml is None:
            return "not written (a non-XML error)"
        try:
            root = etree.fromstring(xml, _XML)
        except etree.XMLSyntaxError:
            return "not written (an answer that is not XML)"
        error = root.find("response/error")
        rule: dict = {"name": f"recorded {key}", "text": text}
        if error is not None:
            rule["error"] = {"code": int(error.get("code", "20")), "message": error.text or ""}
        else:
            rule["results"] = [self._document(self._xml_doc(d))
                               for d in root.iterfind("response/results/grouping/group/doc")]
        date = root.find("response")
        if self.clock is None and date is not None and date.get("date"):
            stamp = dt.datetime.strptime(date.get("date", ""), "%Y%m%dT%H%M%S")
            self.clock = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.query_rules[key] = rule
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
                         "exchanges": self.exchanges, **self.extra},
        }
        if self.clock is not None:
            files["settings.json"] = {"version": 1, "clock": self.clock}
        for name, content in files.items():
            _atomic(self.out / name, (json.dumps(content, indent=1, ensure_ascii=False)
                                      + "\n").encode())


def _atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
