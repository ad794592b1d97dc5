"""Configuration: flags > EMULATOR_* environment > config file > defaults, one table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from support.server import FIXTURES, ROOT, start
from emulator._cli import main
from emulator._config import OPTIONS, Config, ConfigError, resolve, table

RED_SQUARE = FIXTURES / "images" / "red-square.png"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_each_source_overrides_the_ones_below(tmp_path):
    toml = write(tmp_path / "emulator.toml",
                 'http_port = 1111\ngrpc_port = 2222\nlog_format = "json"\nworkers = 3\n')
    env = {"EMULATOR_GRPC_PORT": "3333", "EMULATOR_LOG_FORMAT": "text", "EMULATOR_WORKERS": "2"}
    config = resolve({"log_format": "json", "workers": None}, env, toml)
    assert config.http_port == 1111              # file only
    assert config.grpc_port == 3333              # environment over file
    assert config.log_format == "json"           # flag over environment
    assert config.workers == 2                   # a flag not given does not count
    assert config.host == Config().host          # nobody: the default


def test_config_file_from_the_environment_and_json(tmp_path):
    path = write(tmp_path / "settings.json", json.dumps({
        "fixtures": "my-fixtures", "tls_cert": "certs/c.pem", "tls_key": "/abs/k.pem",
        "rate_limits": True, "tls_names": ["emulator", "10.1.2.3"], "shutdown_grace": 2}))
    config = resolve({}, {"EMULATOR_CONFIG": str(path)})
    # paths in a file are relative to the file, as docker-compose reads its own
    assert config.fixtures == tmp_path / "my-fixtures"
    assert config.tls_cert == tmp_path / "certs" / "c.pem"
    assert config.tls_key == Path("/abs/k.pem")
    assert config.rate_limits is True and config.tls_enabled
    assert config.tls_names == ("emulator", "10.1.2.3")
    assert config.shutdown_grace == 2.0


def test_environment_values_are_read_as_text():
    config = resolve({}, {"EMULATOR_RATE_LIMITS": "off", "EMULATOR_TLS": "YES",
                          "EMULATOR_TLS_NAMES": "a.test, b.test", "EMULATOR_JOURNAL_SIZE": "7",
                          "EMULATOR_FIXTURES": "rel/dir", "EMULATOR_PORT": "tcp://10.0.0.1:80"})
    assert config.rate_limits is False and config.tls is True
    assert config.tls_names == ("a.test", "b.test") and config.journal_size == 7
    assert config.fixtures == Path("rel/dir")  # relative to the working directory


@pytest.mark.parametrize("env, source", [
    ({"EMULATOR_HTTP_PORT": "80a"}, "EMULATOR_HTTP_PORT='80a'"),
    ({"EMULATOR_HTTP_PORT": "70000"}, "EMULATOR_HTTP_PORT='70000': expected an integer from 0 to 65535"),
    ({"EMULATOR_WORKERS": "0"}, "EMULATOR_WORKERS='0': expected an integer from 1 to 64"),
    ({"EMULATOR_LOG_FORMAT": "xml"}, "EMULATOR_LOG_FORMAT='xml': expected one of text, json"),
    ({"EMULATOR_TLS": "maybe"}, "EMULATOR_TLS='maybe': expected one of"),
    ({"EMULATOR_SHUTDOWN_GRACE": "-1"}, "EMULATOR_SHUTDOWN_GRACE='-1'"),
    ({"EMULATOR_SHUTDOWN_GRACE": "nan"}, "EMULATOR_SHUTDOWN_GRACE='nan'"),
    ({"EMULATOR_TLS_CERT": "c.pem"}, "tls_cert and tls_key go together"),
    ({"EMULATOR_HTTP_PORT": "9000", "EMULATOR_GRPC_PORT": "9000"}, "grpc_port and http_port are both 9000"),
    ({"EMULATOR_TLS": "1", "EMULATOR_HTTPS_PORT": "8080"}, "https_port and http_port are both 8080"),
    ({"EMULATOR_PUBLIC_BASE_URL": "ftp://x"}, "public_base_url 'ftp://x'"),
    ({"EMULATOR_PUBLIC_BASE_URL": "http://x/?a=1"}, "no query or fragment"),
])
def test_bad_environment_values_name_their_variable(env, source):
    with pytest.raises(ConfigError) as info:
        resolve({}, env)
    assert source in str(info.value)


@pytest.mark.parametrize("name, text, message", [
    ("c.toml", "http_port = '8080'\n", 'http_port: expected an integer, got "8080"'),
    ("c.toml", "rate_limits = 1\n", "rate_limits: expected true or false, got 1"),
    ("c.toml", "workers = true\n", "workers: expected an integer, got true"),
    ("c.toml", "http_port = \n", "not valid TOML"),
    ("c.json", '{"http-port": 1}', "unknown option 'http-port'"),
    ("c.json", "[1]", "expected a table of option names to values"),
    ("c.json", '{"fixtures": ""}', "fixtures: expected a path"),
    ("c.json", "{", "not valid JSON"),
])
def test_bad_config_files_name_the_file_and_key(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        resolve({}, {}, path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        resolve({}, {"EMULATOR_CONFIG": str(tmp_path / "absent.toml")})


def test_cli_reports_bad_configuration_in_one_line(tmp_path, capsys):
    path = write(tmp_path / "bad.toml", "journal_size = -3\n")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: config file {path}: journal_size: "
                                "expected an integer from 1 to 1000000"]
    with pytest.raises(SystemExit) as info:  # argparse's own usage error for a bad flag
        main(["--http-port", "x"])
    assert info.value.code == 2
    assert "argument --http-port: expected a non-negative integer" in capsys.readouterr().err


def test_docs_table_is_the_options_table():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert table() in page
    # every option has a flag, a variable and a file key of the same name
    for option in OPTIONS:
        assert option.flag == "--" + option.name.replace("_", "-")
        assert option.env == "EMULATOR_" + option.name.upper()


def test_docs_example_config_file_is_valid(tmp_path):
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```toml\n(.*?)```", page, re.S)
    config = resolve({}, {}, write(tmp_path / "emulator.toml", example))
    assert config.host == "0.0.0.0" and config.fixtures == tmp_path / "fixtures"
    assert config.tls_enabled and config.tls_names == ("emulator", "emulator.demo.internal")


def test_every_option_is_a_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for option in OPTIONS:
        assert option.flag in shown and option.env in shown


def test_public_base_url_defaults_to_the_bound_address():
    with start() as running:
        assert running.emulator.public_base_url == f"{running.http}"
    with start(host="0.0.0.0") as running:
        assert running.emulator.public_base_url == \
            f"http://127.0.0.1:{running.emulator.http_port}"
    with start(public_base_url="https://demo.example.test/emu") as running:
        assert running.emulator.public_base_url == "https://demo.example.test/emu"


def test_journal_size_is_honoured():
    body = json.dumps({"folderId": "f", "url": "https://example.com/a.jpg"}).encode()
    with start(journal_size=2) as running:
        for _ in range(3):
            urllib.request.urlopen(urllib.request.Request(
                running.http + "/v2/image/search_by_image", data=body,
                headers={"Authorization": "Api-Key k"}), timeout=10).read()
        with urllib.request.urlopen(running.http + "/_emulator/requests", timeout=10) as r:
            seqs = [e["seq"] for e in json.loads(r.read())["requests"]]
    assert seqs == [2, 3]


def test_serve_reads_the_environment_and_file(tmp_path):
    """The server itself, in a subprocess, takes its ports from a file and the environment."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    path = write(tmp_path / "c.toml", f"http_port = {ports[0]}\ngrpc_port = 1\n")
    env = {"EMULATOR_CONFIG": str(path), "EMULATOR_GRPC_PORT": str(ports[1]),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert re.search(rf"HTTP http://127.0.0.1:{ports[0]}  gRPC 127.0.0.1:{ports[1]} ", line), line
        check = subprocess.run([sys.executable, "-m", "emulator", "ready"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and check.stdout == "ready\n", check.stderr
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
