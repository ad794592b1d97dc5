"""Fixture loading and checking: ``emulator.core.load_fixtures``, ``fixtures check`` and start-up.

Every problem must name the file, the place in it (a JSON path, or line and column for a
syntax error) and the reason; the CLI exits 1 with that message and no traceback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import pytest

from support.server import FIXTURES, ROOT
from emulator._cli import main
from emulator.core import FixtureError, FixtureStore, load_fixtures


def _edit(directory: Path, name: str, change: Callable[[dict], None]) -> None:
    path = directory / name
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _set(path: tuple, value):
    def change(data):
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


def _catalog_index(doc_id: str) -> int:
    """Where the default catalog lists a document."""
    documents = json.loads((FIXTURES / "catalog.json").read_text(encoding="utf-8"))["documents"]
    return next(i for i, d in enumerate(documents) if d["id"] == doc_id)


@dataclass(frozen=True)
class Case:
    name: str
    breaks: Callable[[Path], None]
    file: str
    place: str  # exact
    reason: str  # a regular expression the reason must match


CASES = [
    Case("json-syntax",
         lambda d: (d / "catalog.json").write_text('{\n "version": 1,\n "documents": [,]\n}\n'),
         "catalog.json", "line 3 column 16", r"Expecting value"),
    Case("rules-json-syntax",
         lambda d: (d / "rules.json").write_text('{"version": 1, "image_rules": [}\n'),
         "rules.json", "line 1 column 32", r"Expecting value"),
    Case("wrong-type",
         lambda d: _edit(d, "catalog.json", _set(("documents", 0, "width"), "wide")),
         "catalog.json", "$.documents[0].width", r"'wide' is not of type 'integer'"),
    Case("unknown-document-in-rule",
         lambda d: _edit(d, "rules.json", _set(("image_rules", 0, "results", 0), "no-such-doc")),
         "rules.json", "$.image_rules[0].results[0]", r"no-such-doc.*catalog\.json"),
    Case("unknown-document-in-query-rule",
         lambda d: _edit(d, "rules.json", _set(("query_rules", 1, "results", 2), "ghost")),
         "rules.json", "$.query_rules[1].results[2]", r"ghost"),
    Case("missing-image-file",
         lambda d: (d / "images" / "tolstoy-portrait.jpg").unlink(),
         "rules.json", "$.image_rules[0].image", r"images/tolstoy-portrait\.jpg"),
    # unavailable.png: a file only a rule names (the catalog's files are checked first)
    Case("image-file-not-an-image",
         lambda d: (d / "images" / "unavailable.png").write_bytes(b"plain text, not a PNG"),
         "rules.json", "$.image_rules[3].image", r"images/unavailable\.png is not an image"),
    Case("catalog-image-file-not-an-image",
         lambda d: (d / "images" / "red-square.png").write_bytes(b"plain text, not a PNG"),
         "catalog.json", f"$.documents[{_catalog_index('red-square')}].image",
         r"images/red-square\.png is not an image"),
    Case("missing-catalog-image-file",
         lambda d: (d / "images" / "gray-sketch.gif").unlink(),
         "catalog.json", f"$.documents[{_catalog_index('gray-sketch')}].image",
         r"no image file images/gray-sketch\.gif"),
    Case("missing-catalog",
         lambda d: (d / "catalog.json").unlink(),
         "catalog.json", "$", r"missing"),
    Case("missing-rules",
         lambda d: (d / "rules.json").unlink(),
         "rules.json", "$", r"missing"),
    Case("wrong-version",
         lambda d: _edit(d, "catalog.json", _set(("version",), 2)),
         "catalog.json", "$.version", r"\b1\b"),
    Case("wrong-version-settings",
         lambda d: _edit(d, "settings.json", _set(("version",), "1")),
         "settings.json", "$.version", r"\b1\b"),
    Case("duplicate-document-id",
         lambda d: _edit(d, "catalog.json", _set(("documents", 1, "id"), "tolstoy-01")),
         "catalog.json", "$.documents[1].id", r"duplicate.*tolstoy-01"),
    Case("unknown-property",
         lambda d: _edit(d, "settings.json", _set(("rate_limit",), True)),
         "settings.json", "$", r"rate_limit"),
    Case("access-wrong-type",
         lambda d: _edit(d, "access.json", _set(("keys",), [{"key": "k", "folders": "f1"}])),
         "access.json", "$.keys[0].folders", r"not of type 'array'"),
]


def build(tmp_path: Path, case: Case) -> Path:
    directory = tmp_path / case.name
    shutil.copytree(FIXTURES, directory)
    case.breaks(directory)
    return directory


# -- the default fixtures -----------------------------------------------------------------------
def test_default_fixtures_load():
    store = load_fixtures(FIXTURES)
    assert isinstance(store, FixtureStore)
    catalog = json.loads((FIXTURES / "catalog.json").read_text())
    rules = json.loads((FIXTURES / "rules.json").read_text())
    assert set(store.documents) == {d["id"] for d in catalog["documents"]}
    assert len(store.rules.image_rules) == len(rules["image_rules"])
    assert len(store.rules.query_rules) == len(rules["query_rules"])
    assert set(store.urls) == set(rules["urls"])
    assert store.settings.generated_image_results == 37 * 40
    assert store.documents["adult-poster"].family_safe is False


@pytest.mark.parametrize("which", ["explicit", "built-in"])
def test_check_passes_on_the_default_fixtures(processes, which):
    result = processes[1][which, "check"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {FIXTURES}: ")
    documents = len(json.loads((FIXTURES / "catalog.json").read_text())["documents"])
    assert f"{documents} documents" in result.stdout
    assert result.stderr == ""


def test_check_passes_on_a_copy(tmp_path, capsys):
    directory = tmp_path / "copy"
    shutil.copytree(FIXTURES, directory)
    assert load_fixtures(directory).documents
    result = in_process(["fixtures", "check", str(directory)], capsys)
    assert result.returncode == 0 and result.stdout.startswith(f"ok: {directory}: ")


# -- broken fixtures ------------------------------------------------------------------------------
#: The cases also run through a real ``python -m emulator`` process (the rest run in-process,
#: through the same ``main``, to keep the suite fast).
SUBPROCESS_CHECK = ("json-syntax", "wrong-type", "unknown-document-in-rule", "missing-image-file",
                    "image-file-not-an-image", "missing-catalog", "wrong-version")
SUBPROCESS_SERVE = ("json-syntax", "wrong-type")


def serve_args(directory: Path) -> list[str]:
    return ["--fixtures", str(directory), "--http-port", "0", "--grpc-port", "0"]


@pytest.fixture(scope="module")
def processes(tmp_path_factory):
    """The subprocess runs, all started at once: {(case name, "check"|"serve"): result}."""
    base = tmp_path_factory.mktemp("broken")
    by_name = {case.name: case for case in CASES}
    dirs = {name: build(base, by_name[name]) for name in set(SUBPROCESS_CHECK + SUBPROCESS_SERVE)}
    dirs["no-directory"] = base / "no-such-directory"
    argvs = {(name, "check"): ["fixtures", "check", str(dirs[name])]
             for name in (*SUBPROCESS_CHECK, "no-directory")}
    argvs["explicit", "check"] = ["fixtures", "check", str(FIXTURES)]
    argvs["built-in", "check"] = ["fixtures", "check"]
    argvs.update({(name, "serve"): serve_args(dirs[name])
                  for name in SUBPROCESS_SERVE})
    procs = {key: subprocess.Popen([sys.executable, "-m", "emulator", *argv], cwd=ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for key, argv in argvs.items()}
    results = {}
    try:
        for key, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            results[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return dirs, results


def in_process(argv: list[str], capsys) -> subprocess.CompletedProcess:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


def assert_reported(result: subprocess.CompletedProcess, case: Case, directory: Path) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "ready" not in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert f"{directory}/{case.file}: {case.place}: " in line, line
    assert re.search(case.reason, line.split(f"{case.place}: ", 1)[1]), line
    return line


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_load_fixtures_names_file_place_and_reason(tmp_path, case):
    directory = build(tmp_path, case)
    with pytest.raises(FixtureError) as info:
        load_fixtures(directory)
    error = info.value
    assert (error.file, error.place) == (case.file, case.place), str(error)
    assert re.search(case.reason, error.reason), error.reason
    assert str(error) == f"{error.file}: {error.place}: {error.reason}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_and_start_up_report_the_same_message(tmp_path, capsys, case):
    directory = build(tmp_path, case)
    checked = in_process(["fixtures", "check", str(directory)], capsys)
    assert checked.stdout == ""
    check_line = assert_reported(checked, case, directory)
    served = in_process(serve_args(directory), capsys)
    serve_line = assert_reported(served, case, directory)
    # object addresses masked: test_reason_for_a_non_image_carries_no_python_internals owns that
    mask = lambda text: re.sub(r"0x[0-9a-f]+", "0x?", text)  # noqa: E731
    assert mask(check_line.removeprefix("error: ")) in mask(serve_line)


@pytest.mark.parametrize("name", SUBPROCESS_CHECK)
def test_check_command_subprocess(processes, name):
    dirs, results = processes
    case = next(c for c in CASES if c.name == name)
    result = results[name, "check"]
    assert result.stdout == ""
    assert_reported(result, case, dirs[name])


@pytest.mark.parametrize("name", SUBPROCESS_SERVE)
def test_start_up_subprocess_exits_1_with_the_check_message(processes, name):
    dirs, results = processes
    case = next(c for c in CASES if c.name == name)
    line = assert_reported(results[name, "serve"], case, dirs[name])
    assert results[name, "serve"].stdout == ""
    if (name, "check") in results:
        assert results[name, "check"].stderr.strip().removeprefix("error: ") in line


def test_reason_for_a_non_image_carries_no_python_internals(tmp_path):
    """The same broken directory must give the same message every time: no object reprs
    with memory addresses (``<_io.BytesIO object at 0x...>``)."""
    case = next(c for c in CASES if c.name == "image-file-not-an-image")
    with pytest.raises(FixtureError) as info:
        load_fixtures(build(tmp_path, case))
    assert "is not an image" in info.value.reason
    assert not re.search(r"object at 0x[0-9a-f]+", info.value.reason), info.value.reason


def test_missing_directory_is_named_once(processes, capsys):
    dirs, results = processes
    missing = str(dirs["no-directory"])
    checked = results["no-directory", "check"]
    served = in_process(serve_args(dirs["no-directory"]), capsys)
    for result in (checked, served):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "not a directory" in result.stderr
        assert result.stderr.count(missing) == 1, result.stderr


def test_load_fixtures_on_a_missing_directory(tmp_path):
    with pytest.raises(FixtureError) as info:
        load_fixtures(tmp_path / "nowhere")
    assert info.value.reason == "not a directory"


def test_a_file_in_place_of_the_directory(tmp_path, capsys):
    path = tmp_path / "file.json"
    path.write_text("{}")
    with pytest.raises(FixtureError):
        load_fixtures(path)
    result = in_process(["fixtures", "check", str(path)], capsys)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not a directory" in result.stderr


def test_a_port_in_use_stops_start_up_cleanly():
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "emulator", "--http-port", str(port),
                                 "--grpc-port", "0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot start:") and "Traceback" not in result.stderr
    assert "never awaited" not in result.stderr and "Event loop is closed" not in result.stderr
