"""The peer a team would otherwise use: WireMock, replaying the emulator's own answer bytes.

The standalone jar comes from the ``wiremock`` npm package, pinned in ``bench/package.json``
and its lock (``npm ci --prefix bench`` installs it); Java runs it. One stub per HTTP case
matches the method, the path and the body's size (not its bytes, so WireMock does the
least it can) and
answers the status, headers and bytes the emulator answered, from a file under
``__files/``. It runs with no request journal and enough container threads for the
largest connection count, as a load-test setup would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PACKAGE = BENCH / "node_modules" / "wiremock"
INSTALL_HINT = "npm ci --prefix bench (and a Java 11+ runtime)"
#: Jetty's container threads: above the largest connection count measured (64).
CONTAINER_THREADS = 100


def jar() -> Path | None:
    """The installed standalone jar, or None."""
    found = sorted((PACKAGE / "build").glob("wiremock-standalone-*.jar")) if PACKAGE.is_dir() else []
    return found[-1] if found else None


def java() -> str | None:
    return shutil.which("java")


def version() -> str:
    path = jar()
    return path.stem.removeprefix("wiremock-standalone-") if path else "missing"


def missing() -> str | None:
    """Why WireMock cannot run here, or None when it can."""
    if java() is None:
        return "no java on PATH"
    if jar() is None:
        return f"the wiremock npm package is not installed ({INSTALL_HINT})"
    return None


def write_stubs(canned: Path, root: Path) -> Path:
    """WireMock's root directory (``mappings/``, ``__files/``) with one stub for each HTTP
    entry of the bare server's manifest of canned answers."""
    manifest = json.loads(canned.read_text())
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "__files").mkdir(exist_ok=True)
    for n, entry in enumerate(manifest["http"]):
        shutil.copyfile(canned.parent / entry["body_file"], root / "__files" / entry["body_file"])
        headers: dict[str, list[str]] = {"Content-Type": [entry["content_type"]]}
        for name, value in entry["headers"]:
            headers.setdefault(name, []).append(value)
        request: dict = {"method": entry.get("method", "ANY"), "urlPath": entry["path"]}
        if entry["request_bytes"]:  # two images on one path: told apart by size, as bare.py does
            request["headers"] = {"Content-Length": {"equalTo": str(entry["request_bytes"])}}
        stub = {"request": request,
                "response": {"status": entry["status"], "bodyFileName": entry["body_file"],
                             "headers": {k: v[0] if len(v) == 1 else v
                                         for k, v in headers.items()}}}
        (root / "mappings" / f"{n:02d}.json").write_text(json.dumps(stub))
    return root


def argv(root: Path, http_port: int) -> list[str]:
    path, runtime = jar(), java()
    if path is None or runtime is None:
        raise RuntimeError(f"WireMock cannot run: {missing()}")
    return [runtime, "-jar", str(path), "--bind-address", "127.0.0.1", "--port", str(http_port),
            "--root-dir", str(root), "--no-request-journal", "--disable-request-logging",
            "--disable-banner", "--container-threads", str(CONTAINER_THREADS)]
