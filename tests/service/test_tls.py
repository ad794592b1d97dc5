"""TLS: HTTPS and gRPC over TLS on ports of their own, for clients that insist on TLS.

Proven with the clients users have: grpcurl without ``-plaintext`` (``-insecure``, and
``-cacert`` verifying), the AI Studio SDK and the ``yandexcloud`` stubs with the emulator's
certificate as their root, and Python's own strict verifier over HTTPS.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from support.server import FIXTURES, ROOT, Running, catalog_url, start
from emulator._config import ConfigError
from emulator._tls import self_signed_pem
from support.yandex_clients import CONSTANTS, SDK_SCRIPT, STUBS_SCRIPT, run_python

IMAGES = FIXTURES / "images"
SERVICE = "yandex.cloud.searchapi.v2.ImageSearchService"
RED_SQUARE = (IMAGES / "red-square.png").read_bytes()
GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Running]:
    """The emulator on a generated self-signed certificate, all four ports free ones."""
    with start(tls=True, https_port=0, grpc_tls_port=0) as running:
        yield running


def red_square_answer(running: Running) -> str:
    """The red square's picture as answered: served by the emulator at its public base URL,
    whose default is the plaintext HTTP address even with TLS on (see docs/configuration.md, TLS)."""
    return catalog_url("red-square", running.http)


def tls_target(running: Running) -> str:
    return f"127.0.0.1:{running.emulator.grpc_tls_port}"


def strict_context(cafile: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def grpcurl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GRPCURL, *args], capture_output=True, text=True, timeout=60)


def test_generated_certificate_covers_local_names(tls_server):
    cert = x509.load_pem_x509_certificate(tls_server.emulator.certificate.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1"} <= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_https_with_a_strict_verifier(tls_server, host):
    port = tls_server.emulator.https_port
    body = json.dumps({"folderId": "f", "data": base64.b64encode(RED_SQUARE).decode()}).encode()
    request = urllib.request.Request(f"https://{host}:{port}/v2/image/search_by_image",
                                     data=body, headers={"Authorization": "Api-Key k"})
    context = strict_context(tls_server.emulator.certificate)
    with urllib.request.urlopen(request, context=context, timeout=10) as reply:
        answer = json.loads(reply.read())
    assert answer["images"][0]["url"] == red_square_answer(tls_server)
    with urllib.request.urlopen(f"https://{host}:{port}/readyz", context=context, timeout=10) as r:
        assert json.loads(r.read()) == {"status": "ready"}


def test_plaintext_ports_stay_plaintext(tls_server):
    with urllib.request.urlopen(tls_server.http + "/readyz", timeout=10) as reply:
        assert reply.status == 200
    plain = grpcurl("-plaintext", tls_server.grpc, "list")
    assert plain.returncode == 0 and SERVICE in plain.stdout.split()
    # a plaintext client on the TLS port is refused, not answered in the clear
    refused = grpcurl("-plaintext", "-max-time", "5", tls_target(tls_server), "list")
    assert refused.returncode != 0


def test_grpcurl_insecure_and_verifying(tls_server):
    body = json.dumps({"folder_id": "f", "data": base64.b64encode(RED_SQUARE).decode()})
    insecure = grpcurl("-insecure", "-rpc-header", "Authorization: Api-Key k", "-d", body,
                       tls_target(tls_server), f"{SERVICE}/SearchByImage")
    assert insecure.returncode == 0, insecure.stderr
    assert json.loads(insecure.stdout)["images"][0]["url"] == red_square_answer(tls_server)
    verified = grpcurl("-cacert", str(tls_server.emulator.certificate),
                       tls_target(tls_server), "grpc.health.v1.Health/Check")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout) == {"status": "SERVING"}
    # without -insecure or the certificate, grpcurl's verification refuses the self-signed one
    unverified = grpcurl("-max-time", "5", tls_target(tls_server), "list")
    assert unverified.returncode != 0 and "certificate" in unverified.stderr


def _sdk_with_root_certificate(certificate: Path) -> str:
    """The SDK script of test_official_clients, verifying against ``certificate``."""
    plaintext = "service_map={\"searchapi\": target}, verify=False"
    assert plaintext in SDK_SCRIPT
    return SDK_SCRIPT.replace(plaintext, f"service_map={{\"searchapi\": target}}, "
                                         f"verify={str(certificate)!r}")


def test_ai_studio_sdk_with_the_certificate_as_root(tls_server, tmp_path):
    script = _sdk_with_root_certificate(tls_server.emulator.certificate)
    results = run_python(script, tls_target(tls_server), str(IMAGES), CONSTANTS, cwd=tmp_path)
    red = results["red_square"]
    assert "ok" in red, red
    assert red["ok"]["count"] == 3
    assert red["ok"]["docs"][0]["url"] == red_square_answer(tls_server)
    assert results["unknown_id"]["error"]["code"] == "NOT_FOUND"


def test_yandexcloud_stubs_on_a_secure_channel(tls_server, tmp_path):
    plain = "channel = grpc.insecure_channel(target)"
    assert plain in STUBS_SCRIPT
    secure = ("channel = grpc.secure_channel(target, grpc.ssl_channel_credentials("
              f"open({str(tls_server.emulator.certificate)!r}, 'rb').read()))")
    results = run_python(STUBS_SCRIPT.replace(plain, secure), tls_target(tls_server),
                         str(IMAGES), CONSTANTS, cwd=tmp_path)
    assert results["by_data"]["ok"]["count"] == 3
    assert results["no_auth"]["error"]["code"] == "UNAUTHENTICATED"


def test_a_given_certificate_is_served(tmp_path):
    cert_pem, key_pem = self_signed_pem(["emulator.test"])
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    with start(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem",
               https_port=0, grpc_tls_port=0) as running:
        port = running.emulator.https_port
        served = ssl.get_server_certificate(("127.0.0.1", port))
        assert x509.load_pem_x509_certificate(served.encode()) == \
            x509.load_pem_x509_certificate(cert_pem)
        assert running.emulator.certificate == tmp_path / "c.pem"
        # the name on it is not 127.0.0.1: a verifying client says so
        with pytest.raises(urllib.error.URLError, match="IP address mismatch"):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz",
                                   context=strict_context(tmp_path / "c.pem"), timeout=10)
    assert (tmp_path / "c.pem").exists()  # a given certificate is never removed


def test_generated_certificate_is_removed_on_stop():
    with start(tls=True, https_port=0, grpc_tls_port=0) as running:
        directory = running.emulator.certificate.parent
        assert (directory / "cert.pem").exists() and (directory / "key.pem").stat().st_mode & 0o077 == 0
    assert not directory.exists()


def test_unusable_key_pair_stops_start_up(tmp_path):
    cert_pem, _ = self_signed_pem(["a.test"])
    _, other_key = self_signed_pem(["b.test"])
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(other_key)
    with pytest.raises(ConfigError, match="are not a PEM certificate and its private key"), \
            start(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem", https_port=0, grpc_tls_port=0):
        pass
    proc = subprocess.run([sys.executable, "-m", "emulator", "--http-port", "0", "--grpc-port",
                           "0", "--tls-cert", str(tmp_path / "c.pem"), "--tls-key",
                           str(tmp_path / "missing.pem")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        f"error: cannot start: TLS: cannot read {tmp_path / 'missing.pem'}: No such file or directory"]
