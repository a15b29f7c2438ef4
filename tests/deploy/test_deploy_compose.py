"""docker-compose.yml validated by docker-compose itself, and the Dockerfiles / .dockerignore checked for
what the deployment promises: non-root, health-checked on readiness, read-only models, no secrets."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_promql import REPO

from service.settings import Settings

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILES = {"cpu": REPO / "docker" / "Dockerfile.cpu", "gpu": REPO / "docker" / "Dockerfile.gpu"}


def _compose(
    docker_compose: str, *args: str, password: str | None = "test-only", **variables: str
) -> subprocess.CompletedProcess:
    prefixes = ("GRAFANA_", "RELEVANCE_", "COMPOSE_", "SCORER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | variables
    if password is not None:
        env["GRAFANA_ADMIN_PASSWORD"] = password
    return subprocess.run(
        [docker_compose, "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO,
    )


@pytest.mark.parametrize("profiles", [(), ("gpu",), ("gpu", "lb")], ids=["default", "gpu", "gpu+lb"])
def test_compose_config_is_valid(docker_compose: str, profiles: tuple[str, ...]) -> None:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    proc = _compose(docker_compose, *flags, "config", "-q")
    assert proc.returncode == 0, proc.stderr


def test_compose_profiles_select_services(docker_compose: str) -> None:
    # docker-compose 1.29 prints every service with its `profiles`; a service without one always starts.
    services = yaml.safe_load(_compose(docker_compose, "config").stdout)["services"]

    def started(*profiles: str) -> set[str]:
        return {n for n, s in services.items() if not s.get("profiles") or set(s["profiles"]) & set(profiles)}

    always = {"models-init", "prometheus", "grafana"}
    assert started() == {"scorer", *always}
    assert started("gpu") == {"scorer", "scorer-gpu", *always}
    assert started("lb") == {"scorer", "lb", *always}


def test_compose_wiring(docker_compose: str, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = _compose(docker_compose, "--profile", "gpu", "--profile", "lb", "config")
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    for name in ("scorer", "scorer-gpu"):
        svc = services[name]
        assert _mounts(svc)["/models"] == ("models", "ro"), f"{name}: mount the models volume read-only"
        assert svc["environment"]["RELEVANCE_MODELS_DIR"] == "/models"
        assert "replicas" in svc["deploy"], f"{name}: scale-out goes through deploy.replicas"
        # Every RELEVANCE_* variable compose sets is a real setting (a typo would be silently ignored).
        fields = Settings.env_names()
        unknown = {k for k in svc["environment"] if k.startswith("RELEVANCE_")} - fields
        assert not unknown, f"{name}: unknown settings {unknown}"
        # The environment compose sets must parse as Settings, read the way the container reads it.
        with monkeypatch.context() as env:
            for key in [k for k in os.environ if k.startswith("RELEVANCE_")]:
                env.delenv(key)
            for key, value in svc["environment"].items():
                env.setenv(key, str(value))
            settings = Settings(_env_file=None)
        assert settings.models_dir == Path("/models") and not settings.api_keys
        # Passed through (empty by default): in a container no client is on loopback, so admin routes
        # over HTTP need RELEVANCE_ADMIN_KEYS.
        assert "RELEVANCE_ADMIN_KEYS" in svc["environment"] and not settings.admin_keys
    assert services["scorer"]["environment"]["RELEVANCE_BACKEND"] == "torch"
    # The ONNX Runtime option reaches the CPU scorer (its image has the extra) and its export's room
    # in /tmp and memory can be raised without editing the file.
    assert services["scorer"]["environment"]["RELEVANCE_ENCODER_RUNTIME"] == "torch"
    (tmp,) = services["scorer"]["tmpfs"]
    assert tmp == "/tmp:exec,size=1g"
    onnx = _compose(
        docker_compose,
        "config",
        RELEVANCE_ENCODER_RUNTIME="onnxruntime",
        SCORER_TMP_SIZE="2g",
        SCORER_MEMORY="8g",
    )
    assert onnx.returncode == 0, onnx.stderr
    scorer = yaml.safe_load(onnx.stdout)["services"]["scorer"]
    assert scorer["environment"]["RELEVANCE_ENCODER_RUNTIME"] == "onnxruntime"
    assert scorer["tmpfs"] == ["/tmp:exec,size=2g"]
    assert scorer["deploy"]["resources"]["limits"]["memory"] in ("8g", 8 * 2**30, "8589934592")
    gpu = services["scorer-gpu"]
    assert gpu["environment"]["RELEVANCE_BACKEND"] == "vllm"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    # Prometheus and the load balancer discover every replica by the DNS name `scorer`.
    assert "scorer" in gpu["networks"]["default"]["aliases"]
    prom = _mounts(services["prometheus"])
    assert prom["/etc/prometheus/prometheus.yml"] == (str(REPO / "docker/prometheus/prometheus.yml"), "ro")
    assert prom["/etc/prometheus/rules"] == (str(REPO / "docker/prometheus/rules"), "ro")
    grafana = services["grafana"]
    # Passed to docker/grafana/start.sh, which decides whether an admin exists (test_deploy_fresh_start).
    assert grafana["environment"]["GRAFANA_ADMIN_PASSWORD"] == "test-only"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == (str(REPO / "docker/grafana/provisioning"), "ro")
    assert mounts["/var/lib/grafana/dashboards"] == (str(REPO / "docker/grafana/dashboards"), "ro")
    # The nginx image renders the template into /etc/nginx/nginx.conf at start-up (test_deploy_lb).
    lb = _mounts(services["lb"])
    template = (str(REPO / "docker/nginx/nginx.conf.template"), "ro")
    assert lb["/etc/nginx/templates/nginx.conf.template"] == template


def _mounts(service: dict) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) of a service's volumes as `docker-compose config` prints them."""
    out = {}
    for volume in service["volumes"]:
        source, target, mode = [*volume.split(":"), "rw"][:3]
        out[target] = (source, mode)
    return out


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile(kind: str) -> None:
    steps = _instructions(DOCKERFILES[kind])
    froms = [rest for word, rest in steps if word == "FROM"]
    args = dict(re.findall(r"^(\w+)=(\S+)", "\n".join(r for w, r in steps if w == "ARG"), re.M))
    stages: set[str] = set()  # names (`FROM ... AS name`) of the stages seen so far
    for step in froms:
        image, *alias = step.split()
        if image not in stages:  # an earlier stage of the same file is not a base image
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image)
            pinned = re.search(r":[\w.-]*\d[\w.-]*$", image) and "latest" not in image
            assert pinned, f"unpinned base image {image}"
        if len(alias) == 2 and alias[0].upper() == "AS":
            stages.add(alias[1])
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the service must not run as root"
    (health,) = [rest for word, rest in steps if word == "HEALTHCHECK"]
    assert "/health/ready" in health
    entry = " ".join(rest for word, rest in steps if word in ("ENTRYPOINT", "CMD"))
    assert '"-m", "service"' in entry and '"0.0.0.0"' in entry and '"8000"' in entry
    env = " ".join(rest for word, rest in steps if word in ("ENV", "ARG"))
    assert "RELEVANCE_MODELS_DIR=/models" in env
    assert not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\w*=", env, re.I), "no secrets in build args or env"
    # Every COPY source exists and survives .dockerignore.
    for word, rest in steps:
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = rest.split()
            for source in sources:
                assert list(REPO.glob(source)), f"COPY {source}: nothing in the repository matches"


def test_dockerfile_cpu_uses_cpu_torch() -> None:
    text = DOCKERFILES["cpu"].read_text()
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert "python:3.11-slim" in text
    assert '".[serving-onnx]"' in text  # RELEVANCE_ENCODER_RUNTIME=onnxruntime works in the image


def test_dockerignore_keeps_context_small_and_secret_free() -> None:
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [r for r in rules if r and not r.startswith("#")]
    assert rules[0] == "*", "deny by default: only what the images need is sent"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    # training/ and the seed script serve the CPU image's demo stage (test_deploy_fresh_start).
    assert allowed == {
        "pyproject.toml",
        "README.md",
        "models/*.py",
        "service/",
        "training/",
        "docker/seed-models.sh",
    }
    assert any(".env" in r for r in rules)
