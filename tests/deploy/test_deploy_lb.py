"""Replicas behind the real load balancer: the project's own nginx template (the one docker-compose's `lb`
profile renders), rendered for loopback and run by the real nginx in front of two real `python -m service`
replicas, with a real Prometheus scraping both.

Under a steady load sent through nginx with the project's client (`service.client`), one replica is
stopped mid-load (SIGTERM: graceful; SIGKILL: crash). No client request may fail: nginx resends a request
that failed on the stopped replica to the other one (`proxy_next_upstream ... non_idempotent`; scoring
is idempotent), and whatever nginx cannot place the client retries. Every answer's scores must be the
scores both replicas gave the same pairs before the load.

Two quick cases pin the mechanisms down without timing: a replica that reads a POST and dies before
answering (nginx must resend it: `non_idempotent`), and no replica at all (the LB's own 503 in the
service's error format, with Retry-After, which the client retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from deploy_promql import REPO

from service.client import AsyncRelevanceClient, RelevanceAPIError, RelevanceClient

TEMPLATE = REPO / "docker" / "nginx" / "nginx.conf.template"
COMPOSE = REPO / "docker-compose.yml"
PLACEHOLDER = re.compile(r"\$(?:\{(\w+)\}|(\w+))")  # what envsubst replaces: ${NAME} and $NAME
REQUESTS = 300  # sent through nginx ...
LOAD_S = 5.0  # ... spread over this long
KILL_AT_S = 2.0  # one replica is stopped this far into the load
IN_FLIGHT = 16
BATCH_WAIT_MS = 100  # requests wait up to this long in a replica's batcher: a stop meets some in flight

QUERIES = ["running shoes", "bolso de mujer", "ドラクエ バッグ", "가방", "sac à main", "phone case"]
CATEGORIES = [
    "sports,running shoes",
    "luggage & bags,women's handbags",
    "electronics,phone accessories,cases",
    "home & garden,kitchen,cookware",
    "toys & games,video games",
    "beauty,skin care",
    "clothing,women,dresses",
    "books",
]
POOL = [
    {"query": q, "category_path": c, **({"language": "es"} if "mujer" in q else {})}
    for q in QUERIES
    for c in CATEGORIES
]


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """Debian's nginx (in /usr/sbin, which a non-root PATH may lack); missing fails, as the other tools."""
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if path:
        return path
    reason = (
        "`nginx` is not installed: `apt-get install --no-install-recommends nginx` (or `make system-deps`)"
    )
    if os.environ.get("RELEVANCE_SKIP_DEPLOY_TOOLS") == "1":
        pytest.skip(f"{reason}; skipped because RELEVANCE_SKIP_DEPLOY_TOOLS=1")
    pytest.fail(f"{reason}; set RELEVANCE_SKIP_DEPLOY_TOOLS=1 to skip these tests instead", pytrace=False)


def compose_lb() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]["lb"]


def render(values: dict[str, str]) -> str:
    """The template as envsubst renders it with exactly `values` set (the image's NGINX_ENVSUBST_FILTER
    limits it to LB_*): other $names, nginx's own variables, stay as they are."""
    text = TEMPLATE.read_text()
    used = {a or b for a, b in PLACEHOLDER.findall(text) if (a or b).startswith("LB_")}
    assert used == set(values), f"template placeholders {sorted(used)} != values {sorted(values)}"
    return PLACEHOLDER.sub(lambda m: values.get(m[1] or m[2], m[0]), text)


def loopback_values(listen_port: int, replicas: list[str], temp_dir: Path) -> dict[str, str]:
    """Compose's values with loopback addresses: each replica gets compose's passive-health parameters
    (Debian's nginx 1.22 has no `resolve`, and loopback needs no DNS)."""
    env = {k: str(v) for k, v in compose_lb()["environment"].items() if k.startswith("LB_")}
    match = re.fullmatch(r"server\s+scorer:8000\s+resolve\s+([^;]*);", env["LB_UPSTREAM_SERVERS"].strip())
    assert match, f"compose's LB_UPSTREAM_SERVERS changed shape: {env['LB_UPSTREAM_SERVERS']!r}"
    params = match[1].strip()
    temp_dir.mkdir(parents=True, exist_ok=True)  # nginx creates the dirs inside it, not it
    return {
        **env,
        "LB_LISTEN": f"127.0.0.1:{listen_port}",
        "LB_RESOLVER": "127.0.0.1",  # never asked: no `resolve` on loopback
        "LB_UPSTREAM_SERVERS": " ".join(f"server {addr} {params};" for addr in replicas),
        "LB_TEMP_DIR": str(temp_dir),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait(what: str, check, timeout: float, *, logs: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        if time.monotonic() > deadline:
            tail = logs.read_text()[-3000:] if logs and logs.exists() else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}", pytrace=False)
        time.sleep(0.1)


@contextlib.contextmanager
def replica(checkpoint: Path, port: int, workdir: Path) -> Iterator[subprocess.Popen]:
    """A real `python -m service` on loopback: the tiny checkpoint, no score cache (every answer is a
    forward pass), one torch thread, a short graceful shutdown."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVANCE_")}
    env |= {
        "RELEVANCE_NUM_THREADS": "1",
        "RELEVANCE_TORCH_COMPILE": "false",
        "RELEVANCE_CACHE_SIZE": "0",
        "RELEVANCE_BATCH_MAX_WAIT_MS": str(BATCH_WAIT_MS),
        "RELEVANCE_GRACEFUL_SHUTDOWN_S": "5",
        "RELEVANCE_LOG_LEVEL": "warning",
        "OMP_NUM_THREADS": "1",
    }
    log = workdir / f"replica-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "service", "--qc-model", str(checkpoint)),
                *("--models-dir", str(workdir / "store"), "--host", "127.0.0.1", "--port", str(port)),
            ],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    proc.log = log  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        _stop(proc)


@contextlib.contextmanager
def nginx(binary: str, values: dict[str, str], workdir: Path) -> Iterator[Path]:
    """nginx in the foreground as whatever user runs the tests: every path it writes under `workdir`.
    Yields the access log (its stdout: the template logs to /dev/stdout)."""
    conf = workdir / "nginx.conf"
    conf.write_text(render(values))
    access, errors = workdir / "nginx-access.log", workdir / "nginx-error.log"
    cmd = [binary, "-p", str(workdir), "-e", "stderr", "-c", str(conf)]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, (
        f"nginx -t refused the rendered template:\n{check.stderr}\n{conf.read_text()}"
    )
    with access.open("w") as out, errors.open("w") as err:
        proc = subprocess.Popen(
            [*cmd, "-g", f"daemon off; pid {workdir / 'nginx.pid'};"], stdout=out, stderr=err
        )
    try:
        yield access
        assert proc.poll() is None, f"nginx exited: {errors.read_text()}"
    finally:
        _stop(proc, signal.SIGQUIT)  # graceful: finish what is in flight, flush the log


@contextlib.contextmanager
def prometheus(binary: str, targets: list[str], workdir: Path) -> Iterator[str]:
    """A real Prometheus on loopback scraping `targets` every second (job `relevance`, as compose's)."""
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "relevance", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait("prometheus", lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, 30, logs=log)
        yield url
    finally:
        _stop(proc)


def up(prom_url: str) -> dict[str, float]:
    """instance -> `up` as Prometheus has it now."""
    body = httpx.get(f"{prom_url}/api/v1/query", params={"query": 'up{job="relevance"}'}, timeout=5).json()
    return {r["metric"]["instance"]: float(r["value"][1]) for r in body["data"]["result"]}


async def load(url: str, victim: subprocess.Popen, victim_url: str, sig: signal.Signals) -> dict:
    """REQUESTS scoring requests (1-4 pairs from POOL) through the LB at an even pace over LOAD_S, at most
    IN_FLIGHT at once, with the project's async client. KILL_AT_S into the load, as soon as the victim
    holds requests in flight (its batcher waits BATCH_WAIT_MS for company), it gets `sig`."""
    sleeps: list[float] = []
    answers: list[tuple[int, list[int], dict]] = []
    failures: list[str] = []

    async def sleep(seconds: float) -> None:  # the client's back-off: each call is one client retry
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    async with AsyncRelevanceClient(url, sleep=sleep, timeout=30) as client:
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def one(i: int) -> None:
            await asyncio.sleep(i * LOAD_S / REQUESTS)
            picks = [(i * 7 + j * 13) % len(POOL) for j in range(1 + i % 4)]
            pairs = [{**POOL[k], "id": f"{i}.{j}"} for j, k in enumerate(picks)]
            async with gate:
                try:
                    answers.append((i, picks, await client.score_qc(pairs)))
                except Exception as exc:  # any failure the client gives up on
                    failures.append(f"request {i}: {exc!r}")

        async def stop_victim() -> float:
            await asyncio.sleep(KILL_AT_S)
            async with httpx.AsyncClient(base_url=victim_url, timeout=5) as probe:
                deadline = time.monotonic() + 3
                while not await inflight(probe) >= 1:
                    assert time.monotonic() < deadline, "no requests in flight on the replica to stop"
                    await asyncio.sleep(0.005)
            victim.send_signal(sig)
            return time.time()

        killer = asyncio.create_task(stop_victim())
        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
        killed_at = await killer
    return {"answers": answers, "failures": failures, "client_retries": len(sleeps), "killed_at": killed_at}


async def inflight(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    match = re.search(r"^relevance_inflight_requests (\S+)$", text, re.M)
    assert match, "no relevance_inflight_requests in /metrics"
    return float(match[1])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_replica_stopped_under_load_behind_nginx(
    sig: signal.Signals,
    nginx_bin: str,
    prometheus_bin: str,
    qc_checkpoint: Path,
    tmp_path: Path,
) -> None:
    ports = [_free_port(), _free_port()]
    addrs = [f"127.0.0.1:{p}" for p in ports]
    survivor, gone = addrs
    with contextlib.ExitStack() as stack:
        procs = [stack.enter_context(replica(qc_checkpoint, port, tmp_path)) for port in ports]
        for proc, addr in zip(procs, addrs, strict=True):
            _wait(
                f"replica {addr} to be ready",
                lambda a=addr, p=proc: (
                    p.poll() is None and httpx.get(f"http://{a}/health/ready", timeout=5).status_code == 200
                ),
                120,
                logs=proc.log,
            )
        prom = stack.enter_context(prometheus(prometheus_bin, addrs, tmp_path))
        lb_port = _free_port()
        temp = tmp_path / "nginx-temp"
        access_log = stack.enter_context(nginx(nginx_bin, loopback_values(lb_port, addrs, temp), tmp_path))
        lb = f"http://127.0.0.1:{lb_port}"

        # Reference scores: both replicas, asked directly, agree on every pair of the pool.
        reference = []
        for addr in addrs:
            with RelevanceClient(f"http://{addr}") as client:
                reference.append([r["score"] for r in client.score_qc(POOL)["results"]])
        assert reference[0] == pytest.approx(reference[1], abs=1e-6)
        expected = reference[0]

        # Through the LB: scoring works, and the per-replica routes are not proxied.
        with RelevanceClient(lb) as client:
            assert [r["score"] for r in client.score_qc(POOL)["results"]] == pytest.approx(expected, abs=1e-5)
            assert client.ready()
        for path in ("/metrics", "/admin/reload"):
            response = httpx.post(f"{lb}{path}") if "admin" in path else httpx.get(f"{lb}{path}")
            assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"

        # Prometheus scrapes both replicas before one is stopped.
        _wait("Prometheus to see both replicas up", lambda: up(prom) == dict.fromkeys(addrs, 1.0), 30)

        result = asyncio.run(load(lb, procs[1], f"http://{gone}", sig))

        code = procs[1].wait(timeout=15)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), f"replica exit code {code}"
        _wait("Prometheus to see the stopped replica down", lambda: up(prom).get(gone) == 0.0, 15)
        assert up(prom)[survivor] == 1.0

    # nginx has exited (graceful) and flushed its log.
    lines = [json.loads(line) for line in access_log.read_text().splitlines() if line.strip()]
    scoring = [line for line in lines if line["uri"] == "/v1/relevance/qc"]
    nginx_retried = [line for line in scoring if "," in line["upstream"]]
    by_replica = {addr: sum(line["upstream"].split(", ")[-1] == addr for line in scoring) for addr in addrs}
    after_kill = [line for line in scoring if line["ts"] > result["killed_at"] + 1.0]
    # What the stop met (reported, not asserted: timing): requests the stopping replica still answered
    # after the signal (SIGTERM drains), and requests cut mid-flight that nginx resent (SIGKILL).
    drained = sum(line["upstream"] == gone and line["ts"] >= result["killed_at"] for line in scoring)
    cut = len(
        re.findall(r"\[error\].*while reading response header", (tmp_path / "nginx-error.log").read_text())
    )
    print(
        f"{sig.name}: {REQUESTS} requests, {len(result['failures'])} failed, "
        f"{len(nginx_retried)} resent by nginx to the other replica "
        f"({[line['upstream_status'] for line in nginx_retried]}; {cut} of them cut mid-flight), "
        f"{drained} answered by the stopping replica after the signal, "
        f"{result['client_retries']} client retries; answered by {by_replica}"
    )

    assert not result["failures"], result["failures"]
    assert len(result["answers"]) == REQUESTS
    for i, picks, body in result["answers"]:
        assert [r["id"] for r in body["results"]] == [f"{i}.{j}" for j in range(len(picks))]
        assert [r["score"] for r in body["results"]] == pytest.approx([expected[k] for k in picks], abs=1e-5)

    # The failover happened in nginx: requests that met the stopped replica went on to the survivor, and
    # once it was gone the survivor answered everything.
    assert len(scoring) == REQUESTS + 1 + result["client_retries"]  # + the check above
    assert nginx_retried, "no request was retried on the other replica: the stop was never noticed"
    assert all(line["upstream"].split(", ")[-1] == survivor for line in nginx_retried)
    assert by_replica[gone] > 0 and by_replica[survivor] > 0
    assert after_kill and all(line["upstream"] == survivor for line in after_kill)
    assert sum(line["status"] != 200 for line in scoring) == result["client_retries"]


def test_compose_renders_the_same_template(nginx_bin: str, tmp_path: Path) -> None:
    """The `lb` service mounts the template where the nginx image renders it into /etc/nginx/nginx.conf,
    sets every placeholder (and only LB_* are substituted), and the loopback rendering is valid nginx."""
    lb = compose_lb()
    assert "./docker/nginx/nginx.conf.template:/etc/nginx/templates/nginx.conf.template:ro" in lb["volumes"]
    env = {k: str(v) for k, v in lb["environment"].items()}
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert env["NGINX_ENVSUBST_FILTER"] == "^LB_"
    assert env["LB_LISTEN"] == "8080" and lb["ports"][0].endswith(":8080")
    assert "max_fails=" in env["LB_UPSTREAM_SERVERS"] and "fail_timeout=" in env["LB_UPSTREAM_SERVERS"]
    rendered = render({k: v for k, v in env.items() if k.startswith("LB_")})
    assert "server scorer:8000 resolve" in rendered and "$LB_" not in rendered and "${LB_" not in rendered
    assert "$relevance_request_id" in rendered  # nginx's own variables untouched

    values = loopback_values(_free_port(), ["127.0.0.1:1", "127.0.0.1:2"], tmp_path / "temp")
    (tmp_path / "nginx.conf").write_text(render(values))
    check = subprocess.run(
        [nginx_bin, "-p", str(tmp_path), "-e", "stderr", "-c", str(tmp_path / "nginx.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.slow
def test_lb_errors_are_the_services_and_retryable(nginx_bin: str, tmp_path: Path) -> None:
    """nginx's own answers speak the service's error format: no replica reachable is a 503 with
    Retry-After that the project's client retries (then gives up with the error), an oversized body a
    413 `body_too_large`, and the per-replica routes are not proxied."""
    dead = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]  # nothing listens there
    lb_port = _free_port()
    with nginx(nginx_bin, loopback_values(lb_port, dead, tmp_path / "temp"), tmp_path) as access_log:
        lb = f"http://127.0.0.1:{lb_port}"
        _wait("nginx", lambda: httpx.get(f"{lb}/metrics", timeout=2).status_code == 404, 10)
        slept: list[float] = []
        client = RelevanceClient(lb, max_retries=2, sleep=slept.append)
        with client, pytest.raises(RelevanceAPIError) as err:
            client.score_qc(POOL[:2])
        assert (err.value.status, err.value.type) == (503, "backend_unavailable")
        assert slept == [1.0, 1.0]  # the LB's Retry-After, twice, then the client gives up
        too_big = httpx.post(f"{lb}/v1/relevance/qc", content=b"x" * (1024 * 1024 + 1))
        assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "body_too_large"
    lines = [json.loads(line) for line in access_log.read_text().splitlines() if line.strip()]
    tried = [line["upstream"] for line in lines if line["status"] == 503]
    assert tried and all(set(upstream.split(", ")) <= set(dead) for upstream in tried)


class DroppingUpstream:
    """A replica that dies holding the request: it reads a whole POST, then resets the connection without
    answering. nginx has sent that request, so it may resend it only with `non_idempotent`."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1]) if head else 0
                while len(body) < length and (chunk := conn.recv(65536)):
                    body += chunk
                if head.startswith(b"POST") and len(body) == length:
                    self.dropped += 1
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                conn.close()


@pytest.mark.slow
def test_lb_resends_a_post_a_replica_dropped(nginx_bin: str, qc_checkpoint: Path, tmp_path: Path) -> None:
    """Deterministic `non_idempotent`: a replica that takes a scoring POST and dies before answering, and
    a real one. Every request succeeds with no client retry (max_retries=0), and those the dropping
    replica took were resent by nginx to the real one, which scored them."""
    dropper = DroppingUpstream()
    port = _free_port()
    with replica(qc_checkpoint, port, tmp_path) as proc:
        real = f"127.0.0.1:{port}"
        _wait(
            "the replica to be ready",
            lambda: httpx.get(f"http://{real}/health/ready", timeout=5).status_code == 200,
            120,
            logs=proc.log,
        )
        values = loopback_values(_free_port(), [dropper.addr, real], tmp_path / "temp")
        with nginx(nginx_bin, values, tmp_path) as access_log:
            lb = f"http://127.0.0.1:{values['LB_LISTEN'].rsplit(':', 1)[1]}"
            with RelevanceClient(f"http://{real}") as client:
                expected = [r["score"] for r in client.score_qc(POOL[:3])["results"]]
            with RelevanceClient(lb, max_retries=0) as client:
                for _ in range(6):
                    scores = [r["score"] for r in client.score_qc(POOL[:3])["results"]]
                    assert scores == pytest.approx(expected, abs=1e-5)
    lines = [json.loads(line) for line in access_log.read_text().splitlines() if line.strip()]
    resent = [line for line in lines if line["upstream"] == f"{dropper.addr}, {real}"]
    assert dropper.dropped >= 1 and len(resent) == dropper.dropped, (dropper.dropped, lines)
    assert all(line["upstream_status"] == "502, 200" and line["status"] == 200 for line in resent)
