"""`docker compose up` as typed on a fresh clone: no variable to set, a model to serve, dashboards to read.

No Docker engine runs here, so each piece is checked where it can be: the compose file by docker-compose
itself with an EMPTY environment, the CPU image's demo stage by reading the Dockerfile, and the two scripts
the containers run at start (`docker/seed-models.sh` in `models-init`, `docker/grafana/start.sh` in
Grafana) by running them here on temporary directories and a tiny real checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deploy_promql import REPO

from models import CARD_FILENAME, ModelStore

COMPOSE = REPO / "docker-compose.yml"
SEED = REPO / "docker" / "seed-models.sh"
GRAFANA_START = REPO / "docker" / "grafana" / "start.sh"
DOCKERFILE = REPO / "docker" / "Dockerfile.cpu"
DEMO_DIR = "/opt/relevance/demo-models"  # where the image keeps the demo checkpoint


def _config(docker_compose: str, *profiles: str) -> dict:
    """`docker-compose config` with nothing in the environment but PATH (a fresh shell, no .env)."""
    flags = [arg for p in profiles for arg in ("--profile", p)]
    proc = subprocess.run(
        [docker_compose, "-f", str(COMPOSE), *flags, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
        cwd=REPO,
    )
    assert proc.returncode == 0, f"docker-compose config fails with an empty environment:\n{proc.stderr}"
    return yaml.safe_load(proc.stdout)["services"]


@pytest.mark.parametrize("profiles", [(), ("gpu",), ("lb",)], ids=["default", "gpu", "lb"])
def test_compose_needs_no_variable_and_publishes_on_loopback(
    docker_compose: str, profiles: tuple[str, ...]
) -> None:
    services = _config(docker_compose, *profiles)
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback by default"


def test_grafana_is_read_only_without_a_password(docker_compose: str) -> None:
    grafana = _config(docker_compose)["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    # No admin password in the compose file: start.sh sets one only from GRAFANA_ADMIN_PASSWORD (tests below).
    assert env["GRAFANA_ADMIN_PASSWORD"] == "" and "GF_SECURITY_ADMIN_PASSWORD" not in env
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    script = grafana["entrypoint"][1]
    assert grafana["entrypoint"] == ["/bin/sh", script, "/run.sh"], "start.sh must end in the image's /run.sh"
    assert mounted[script] == str(GRAFANA_START)


def test_scorers_wait_for_the_model_store_to_be_filled(docker_compose: str) -> None:
    services = _config(docker_compose, "gpu")
    init = services["models-init"]
    assert "profiles" not in init, "models-init must run with every profile"
    assert init["image"] == services["scorer"]["image"] and init["build"] == services["scorer"]["build"]
    assert init["entrypoint"] == ["bash", "/usr/local/bin/relevance-seed-models"]
    assert "models:/models:rw" in init["volumes"] and init["environment"]["RELEVANCE_MODELS_DIR"] == "/models"
    assert init.get("restart", "no") == "no", "a one-shot service must not be restarted"
    for name in ("scorer", "scorer-gpu"):
        condition = services[name]["depends_on"]["models-init"]["condition"]
        assert condition == "service_completed_successfully", name
        assert "models:/models:ro" in services[name]["volumes"], f"{name}: the store stays read-only"


def test_cpu_image_carries_the_demo_model_and_the_seed_script() -> None:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert ("build", "demo") in stages, "the demo stage starts from the build stage (CPU torch installed)"
    (train,) = [line for line in text.splitlines() if "-m training run" in line]
    config = re.search(r"--config (\S+)", train)[1]
    assert config == "training/configs/demo.yaml" and (REPO / config).is_file()
    assert "--models-dir /demo-models" in train and "HF_HUB_OFFLINE=1" in train  # nothing downloaded
    name = yaml.safe_load((REPO / config).read_text())["name"]
    assert f"/demo-models/{name}/{CARD_FILENAME}" in train, "the build fails unless the checkpoint exists"
    assert f"COPY --from=demo /demo-models {DEMO_DIR}" in text
    assert "COPY docker/seed-models.sh /usr/local/bin/relevance-seed-models" in text
    # The final stage takes the venv from `build`, never from `demo` (training extras stay out).
    assert "COPY --from=build /opt/venv /opt/venv" in text and "--from=demo /opt/venv" not in text
    assert f"DEMO_MODELS_DIR:-{DEMO_DIR}}}" in SEED.read_text()
    assert SEED.stat().st_mode & stat.S_IXUSR, "seed-models.sh must stay executable"


# --- docker/seed-models.sh ----------------------------------------------------------------------------


@pytest.fixture()
def shared_tmp() -> Iterator[Path]:
    """A temp dir any user can enter (pytest's tmp_path is root-only when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="seed-models-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def demo_source(qc_checkpoint: Path, shared_tmp: Path) -> Path:
    """A stand-in for the image's demo dir: one real (tiny) checkpoint."""
    source = shared_tmp / "demo-models"
    shutil.copytree(qc_checkpoint, source / "demo-tiny")
    for path in [source, *source.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return source


def seed(store: Path, source: Path, *, script: Path = SEED, prefix: tuple[str, ...] = ()):
    env = {"PATH": os.environ["PATH"], "RELEVANCE_MODELS_DIR": str(store), "DEMO_MODELS_DIR": str(source)}
    return subprocess.run([*prefix, "bash", str(script)], capture_output=True, text=True, timeout=60, env=env)


def test_seed_fills_an_empty_store_with_a_servable_checkpoint(demo_source: Path, tmp_path: Path) -> None:
    store = tmp_path / "models"
    store.mkdir()
    (store / "lost+found").mkdir()  # what a fresh ext4 volume holds: not a checkpoint
    proc = seed(store, demo_source)
    assert proc.returncode == 0, proc.stderr
    assert "copied the demo checkpoint demo-tiny" in proc.stderr
    assert sorted(p.name for p in store.iterdir()) == ["demo-tiny", "lost+found"]  # no partial copy left
    (entry,) = ModelStore(store).list(verify_weights=True)
    assert entry.name == "demo-tiny" and entry.error is None and entry.checkpoint is not None
    # Run again: the store now holds a checkpoint and is left alone.
    again = seed(store, demo_source)
    assert again.returncode == 0 and "left as it is" in again.stderr, again.stderr


@pytest.mark.parametrize("card", ['{"name": "mine"}', "not json"], ids=["checkpoint", "broken-card"])
def test_seed_leaves_a_store_with_any_checkpoint_alone(demo_source: Path, tmp_path: Path, card: str) -> None:
    store = tmp_path / "models"
    (store / "mine").mkdir(parents=True)
    (store / "mine" / CARD_FILENAME).write_text(card)
    before = sorted(str(p.relative_to(store)) for p in store.rglob("*"))
    proc = seed(store, demo_source)
    assert proc.returncode == 0, proc.stderr
    assert "holds mine: left as it is" in proc.stderr
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*")) == before
    assert (store / "mine" / CARD_FILENAME).read_text() == card


def test_seed_fails_clearly_without_a_demo_checkpoint(tmp_path: Path) -> None:
    store, source = tmp_path / "models", tmp_path / "nothing-here"
    store.mkdir()
    proc = seed(store, source)
    assert proc.returncode == 1
    assert f"{source} has no demo checkpoint to copy" in proc.stderr and "training run" in proc.stderr
    assert not any(store.iterdir())


def test_seed_fails_clearly_without_a_store(demo_source: Path, tmp_path: Path) -> None:
    proc = seed(tmp_path / "missing", demo_source)
    assert proc.returncode == 1 and "is not a directory: mount the models volume there" in proc.stderr


def test_seed_fails_clearly_on_a_store_it_cannot_write(demo_source: Path, shared_tmp: Path) -> None:
    store = shared_tmp / "models"
    store.mkdir(mode=0o555)
    store.chmod(0o555)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root writes anywhere: run as nobody, as the image runs as uid 10001
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and util-linux's setpriv is missing: cannot drop privileges")
        prefix = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    script = shared_tmp / "seed-models.sh"  # the repository may not be readable by nobody
    shutil.copy(SEED, script)
    script.chmod(0o755)
    proc = seed(store, demo_source, script=script, prefix=prefix)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write to it" in proc.stderr and not any(store.iterdir())


def test_seed_refuses_to_merge_into_a_partial_copy(demo_source: Path, tmp_path: Path) -> None:
    store = tmp_path / "models"
    (store / "demo-tiny").mkdir(parents=True)
    (store / "demo-tiny" / "model.safetensors").write_bytes(b"half")
    proc = seed(store, demo_source)
    assert proc.returncode == 1 and "exists but holds no relevance.json" in proc.stderr
    assert [p.name for p in (store / "demo-tiny").iterdir()] == ["model.safetensors"]


# --- docker/grafana/start.sh (POSIX sh: the Grafana image's shell is busybox) ---------------------------


def grafana_env(**env: str) -> dict[str, str]:
    """The environment start.sh hands to Grafana (`env` stands in for the image's /run.sh)."""
    proc = subprocess.run(
        ["sh", str(GRAFANA_START), "env"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], **env},
    )
    assert proc.returncode == 0, proc.stderr
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("given", [None, ""], ids=["unset", "empty"])
def test_grafana_without_a_password_has_no_admin_and_no_login(given: str | None) -> None:
    env = {"GF_SECURITY_ADMIN_PASSWORD": "admin"}  # even one set some other way is dropped
    if given is not None:
        env["GRAFANA_ADMIN_PASSWORD"] = given
    out = grafana_env(**env)
    assert out["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true"
    assert out["GF_AUTH_DISABLE_LOGIN_FORM"] == "true" and out["GF_AUTH_BASIC_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in out and "GRAFANA_ADMIN_PASSWORD" not in out


def test_grafana_with_a_password_creates_the_admin_with_it() -> None:
    out = grafana_env(GRAFANA_ADMIN_PASSWORD="s3cret with spaces")
    assert out["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret with spaces"
    assert out["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "false"
    assert out["GF_AUTH_DISABLE_LOGIN_FORM"] == "false" and out["GF_AUTH_BASIC_ENABLED"] == "true"
    assert "GRAFANA_ADMIN_PASSWORD" not in out  # only Grafana's own variable carries it on


def test_grafana_start_runs_the_given_command_with_its_arguments() -> None:
    run = ["sh", str(GRAFANA_START), "printf", "<%s>", "a", "b c"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0 and proc.stdout == "<a><b c>", proc.stderr
    bare = subprocess.run(["sh", str(GRAFANA_START)], capture_output=True, text=True, timeout=30)
    assert bare.returncode == 2 and "usage" in bare.stderr


@pytest.mark.parametrize("script", [SEED, GRAFANA_START], ids=lambda p: p.name)
def test_start_scripts_pass_shellcheck(script: Path, shellcheck: str) -> None:
    proc = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
