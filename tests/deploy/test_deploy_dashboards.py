"""Grafana dashboards and provisioning: generated files up to date, schema-ish valid, and every metric a
panel, variable or rule names is one the service (or vLLM, or a recording rule) really exports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from deploy_promql import (
    DASHBOARD_DIR,
    REPO,
    load_dashboards,
    metric_names,
    panel_queries,
    recorded_names,
    rule_queries,
    service_metric_names,
    variable_queries,
    vllm_metric_names,
)

PROMETHEUS_BUILTIN = {"up"}
PANEL_TYPES = {"timeseries", "stat", "heatmap", "table", "bargauge", "row"}


@pytest.fixture(scope="module")
def known_names() -> set[str]:
    return service_metric_names() | vllm_metric_names() | recorded_names() | PROMETHEUS_BUILTIN


def test_dashboards_are_generated_from_source() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "docker" / "grafana" / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_expected_dashboards_exist() -> None:
    dashboards = load_dashboards()
    assert set(dashboards) == {"relevance-service.json", "relevance-model.json", "relevance-vllm.json"}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARD_DIR.glob("*.json")))
def test_dashboard_schema(name: str) -> None:
    dash = load_dashboards()[name]
    for key in ("uid", "title", "panels", "schemaVersion", "templating", "time"):
        assert key in dash, f"{name}: missing {key}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    assert all(isinstance(i, int) and i > 0 for i in ids)
    grid = set()
    for panel in dash["panels"]:
        where = f"{name} / {panel.get('title')}"
        assert panel["type"] in PANEL_TYPES, where
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, where
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not grid & cells, f"{where}: overlaps another panel"
        grid |= cells
        if panel["type"] == "row":
            continue
        assert panel["title"], where
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
        assert panel["targets"], f"{where}: no queries"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: duplicate refIds"
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], where
            assert target["expr"].strip(), where
            assert target["expr"].count("(") == target["expr"].count(")"), f"{where}: unbalanced parentheses"


def test_datasource_uid_matches_provisioning() -> None:
    spec = yaml.safe_load((REPO / "docker/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = spec["datasources"]
    assert source["uid"] == "prometheus" and source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"  # the compose service name
    providers = yaml.safe_load((REPO / "docker/grafana/provisioning/dashboards/relevance.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_metric_name_extraction() -> None:
    # The checker below is only as good as this parser.
    expr = (
        'histogram_quantile(0.99, sum by (task, le) (rate(relevance_x_bucket{task=~"q.*", le!="1"}[5m]))) '
        "> 1 and on (task) task:relevance_requests:rate5m > 0.05 "
        "or vector(0) unless max(vllm:num_requests_running) unless relevance_y offset 5m"
    )
    expected = {
        "relevance_x_bucket",
        "task:relevance_requests:rate5m",
        "vllm:num_requests_running",
        "relevance_y",
    }
    assert metric_names(expr) == expected


def test_every_queried_metric_exists(known_names: set[str]) -> None:
    unknown = {}
    for query in panel_queries() + rule_queries():
        names = metric_names(query.expr)
        assert names, f"{query.source}: no metric in {query.expr!r}"
        if missing := names - known_names:
            unknown[query.source] = sorted(missing)
    for source, metric, _label in variable_queries():
        if metric not in known_names:
            unknown[source] = [metric]
    assert not unknown, f"metrics neither the service, vLLM nor a recording rule exports: {unknown}"


def _family(sample_name: str) -> str:
    for suffix in ("_total", "_bucket", "_sum", "_count", "_created"):
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name


def test_every_service_metric_is_on_a_dashboard() -> None:
    used = set().union(*(metric_names(q.expr) for q in panel_queries()))
    unused = {_family(n) for n in service_metric_names()} - {_family(n) for n in used}
    assert not unused, f"service metrics on no dashboard: {sorted(unused)}"
