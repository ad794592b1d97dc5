"""The container and its manifests, checked without a container engine.

hadolint lints the Dockerfile; the Dockerfile's own ENTRYPOINT and HEALTHCHECK commands run
here with its ENV, as the container would run them; docker-compose.yml and the Kubernetes
manifest parse and agree with the image (ports, probes, user).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.server import ROOT
from emulator._config import Config, resolve

DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
PROGRAM = "image-search-emulator"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def arguments(kind: str) -> list[str]:
    return [rest for word, rest in instructions() if word == kind]


def env() -> dict[str, str]:
    values = {}
    for rest in arguments("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", rest):
            values[name] = value
    return values


def exec_form(text: str) -> list[str]:
    command = json.loads(text)
    assert isinstance(command, list), f"not in JSON (exec) form: {text}"
    return command


def outside_container(command: list[str]) -> list[str]:
    """The image's console script, run from this checkout."""
    assert command[0] == PROGRAM
    return [sys.executable, "-m", "emulator", *command[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hadolint_passes():
    result = subprocess.run([HADOLINT, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_image_shape():
    [base] = arguments("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base)
    [user] = arguments("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    exposed = {int(port) for rest in arguments("EXPOSE") for port in rest.split()}
    defaults = Config()
    assert exposed == {defaults.http_port, defaults.grpc_port, defaults.https_port,
                       defaults.grpc_tls_port}
    variables = env()
    assert variables["EMULATOR_HOST"] == "0.0.0.0"
    # the fixtures have a fixed path, and the built-in set is copied there
    assert "fixtures " + variables["EMULATOR_FIXTURES"] in arguments("COPY")


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets in LISTEN state on ``port`` (Linux /proc/net/tcp)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_entrypoint_and_healthcheck_outside_a_container():
    entrypoint = exec_form(arguments("ENTRYPOINT")[0])
    [healthcheck] = arguments("HEALTHCHECK")
    probe = exec_form(healthcheck.split(" CMD ", 1)[1])
    ports = {"EMULATOR_HTTP_PORT": free_port(), "EMULATOR_GRPC_PORT": free_port()}
    container_env = dict(os.environ, **env(), **{k: str(v) for k, v in ports.items()})
    # what COPY puts at the fixed path, from this checkout
    container_env["EMULATOR_FIXTURES"] = str(ROOT / "fixtures")
    before = subprocess.run(outside_container(probe), cwd=ROOT, env=container_env,
                            capture_output=True, text=True, timeout=60)
    assert before.returncode == 1  # nothing serves yet: unhealthy
    proc = subprocess.Popen(outside_container(entrypoint), cwd=ROOT, env=container_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        assert f"HTTP http://127.0.0.1:{ports['EMULATOR_HTTP_PORT']}" in ready, ready
        for port in ports.values():  # bound to every interface, as the container needs
            assert _listening_addresses(port) & {"00000000", "00000000000000000000000000000000"}
        check = subprocess.run(outside_container(probe), cwd=ROOT, env=container_env,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and check.stdout == "ready\n", check.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_compose_file_matches_the_image():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["emulator"]
    assert service["build"] == "."
    published = {int(mapping.split(":")[1]) for mapping in service["ports"]}
    exposed = {int(port) for rest in arguments("EXPOSE") for port in rest.split()}
    assert published == exposed
    for name in service.get("environment", {}):
        assert name.startswith("EMULATOR_")


def test_kubernetes_manifest():
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    by_kind = {d["kind"]: d for d in documents
               if d["metadata"]["name"] == "image-search-emulator"}
    assert {d["kind"] for d in documents} == {"Deployment", "Service"} == set(by_kind)
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": Config().http_port, "grpc": Config().grpc_port}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    grpc_probes = [p["grpc"] for p in (container.get(k) for k in
                   ("readinessProbe", "livenessProbe", "startupProbe")) if p and "grpc" in p]
    assert grpc_probes and grpc_probes[0]["port"] == Config().grpc_port
    # the image's non-root user, and longer than the emulator's shutdown grace
    assert str(pod["securityContext"]["runAsUser"]) == arguments("USER")[0].split(":")[0]
    assert pod["terminationGracePeriodSeconds"] > Config().shutdown_grace
    service = by_kind["Service"]
    assert service["spec"]["selector"] == by_kind["Deployment"]["spec"]["selector"]["matchLabels"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)


def test_the_replicas_share_one_state_store():
    """docker compose's "shared" profile and the Kubernetes manifest: two replicas, one
    Valkey, each replica naming it in EMULATOR_STATE (a setting of the option table)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    replicas = [s for s in services.values() if "state" in s.get("depends_on", {})]
    assert len(replicas) == 2 and all(s["profiles"] == ["shared"] for s in replicas)
    assert {s["environment"]["EMULATOR_STATE"] for s in replicas} == {"redis://state:6379/0"}
    assert resolve({}, replicas[0]["environment"]).state == "redis://state:6379/0"
    assert services["state"]["profiles"] == ["shared"] and "emulator" not in services["state"]
    assert "profiles" not in services["emulator"]  # the plain `docker compose up` is as before
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    named = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    store = named[("Service", "image-search-emulator-state")]
    [container] = named[("Deployment", "image-search-emulator")]["spec"]["template"]["spec"][
        "containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    port = store["spec"]["ports"][0]["port"]
    assert env["EMULATOR_STATE"] == f"redis://{store['metadata']['name']}:{port}/0"
    assert named[("Deployment", "image-search-emulator")]["spec"]["replicas"] >= 2
