"""Writes the Grafana dashboards under docker/grafana/dashboards/ (the JSON files are committed).

Dashboards are generated rather than hand-edited so that every panel has the same datasource, unique ids,
a consistent grid and label filters. Edit here, then run:

    python docker/grafana/build_dashboards.py          # rewrite the JSON files
    python docker/grafana/build_dashboards.py --check  # exit 1 if a committed file is stale (tests do this)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioned in provisioning/datasources/
SCHEMA_VERSION = 39

# Label filters every service query carries; the dashboard variables below fill them.
SEL = 'instance=~"$instance"'
SEL_TASK = 'instance=~"$instance", task=~"$task"'
VSEL = 'instance=~"$instance", model_name=~"$model_name"'
TL = 'task=~"$task", language=~"$language"'
RI = "$__rate_interval"


@dataclass
class Panel:
    title: str
    targets: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | heatmap | table | bargauge
    width: int = 12
    height: int = 8
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    stack: bool = False
    min: float | None = None
    max: float | None = None


def _target(expr: str, legend: str, ref: str, kind: str) -> dict[str, Any]:
    target: dict[str, Any] = {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": kind not in ("table", "bargauge"),
        "instant": kind in ("table", "bargauge"),
        "refId": ref,
    }
    if kind in ("heatmap", "bargauge"):
        target["format"] = "heatmap"  # Grafana turns cumulative le buckets into per-bucket counts
    if kind == "table":
        target["format"] = "table"
    return target


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
        }
    options: dict[str, Any] = {
        "timeseries": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "stat": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
        },
        "heatmap": {
            "calculate": False,
            "yAxis": {"unit": panel.unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange"},
        },
        "table": {"showHeader": True},
        "bargauge": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "vertical",
            "displayMode": "gradient",
        },
    }[panel.kind]
    options.update(panel.options)
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            _target(expr, legend, chr(ord("A") + i), panel.kind)
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }


def _row(title: str, pid: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"var-{name}"},
        "definition": query,
        "refresh": 2,  # on time range change: replicas come and go
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard(
    *, uid: str, title: str, description: str, rows: list[tuple[str, list[Panel]]], variables: list[dict]
) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row_title, row_panels in rows:
        panels.append(_row(row_title, pid, y))
        pid, y = pid + 1, y + 1
        x, row_height = 0, 0
        for panel in row_panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel(panel, pid, x, y))
            pid, x, row_height = pid + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["relevance"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["relevance"], "asDropdown": True, "title": "Relevance dashboards"}
        ],
        "panels": panels,
    }


def _quantiles(metric: str, by: str, sel: str, unit_legend: str = "") -> list[tuple[str, str]]:
    group = f"{by}, le" if by else "le"
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{RI}])))",
            f"p{round(q * 100)}{(' {{' + by + '}}') if by else ''}{unit_legend}",
        )
        for q in (0.5, 0.9, 0.99)
    ]


def service_overview() -> dict[str, Any]:
    instance = _variable("instance", "Instance", "label_values(relevance_ready, instance)")
    task = _variable("task", "Task", "label_values(relevance_requests_total, task)")
    stats = [
        Panel(
            "Ready replicas",
            [(f"sum(relevance_ready{{{SEL}}})", "ready")],
            kind="stat",
            width=4,
            height=4,
            description="Replicas whose /health/ready answers 200 (models loaded and warmed, backend "
            "healthy).",
        ),
        Panel(
            "Requests / s",
            [(f"sum(rate(relevance_requests_total{{{SEL_TASK}}}[{RI}]))", "req/s")],
            unit="reqps",
            kind="stat",
            width=4,
            height=4,
        ),
        Panel(
            "Pairs / s",
            [(f"sum(rate(relevance_pairs_scored_total{{{SEL_TASK}}}[{RI}]))", "pairs/s")],
            unit="short",
            kind="stat",
            width=4,
            height=4,
        ),
        Panel(
            "5xx ratio",
            [
                (
                    f'(sum(rate(relevance_requests_total{{{SEL_TASK}, status=~"5.."}}[{RI}]))'
                    f" or vector(0)) / sum(rate(relevance_requests_total{{{SEL_TASK}}}[{RI}]))",
                    "5xx",
                )
            ],
            unit="percentunit",
            kind="stat",
            width=4,
            height=4,
        ),
        Panel(
            "p99 latency",
            [
                (
                    f"histogram_quantile(0.99, sum by (le) "
                    f"(rate(relevance_request_duration_seconds_bucket{{{SEL_TASK}}}[{RI}])))",
                    "p99",
                )
            ],
            unit="s",
            kind="stat",
            width=4,
            height=4,
        ),
        Panel(
            "In flight",
            [(f"sum(relevance_inflight_requests{{{SEL}}})", "in flight")],
            kind="stat",
            width=4,
            height=4,
        ),
    ]
    traffic = [
        Panel(
            "Requests by task and status",
            [
                (
                    f"sum by (task, status) (rate(relevance_requests_total{{{SEL_TASK}}}[{RI}]))",
                    "{{task}} {{status}}",
                )
            ],
            unit="reqps",
            stack=True,
        ),
        Panel(
            "Rejected requests by reason",
            [(f"sum by (reason) (rate(relevance_rejected_requests_total{{{SEL}}}[{RI}]))", "{{reason}}")],
            unit="reqps",
            stack=True,
            description="Every non-2xx answer by error type: overloaded (429), timeout (504), validation "
            "errors and limits (4xx), unauthorized, backend_unavailable (503).",
        ),
        Panel(
            "Error ratio by task (5xx, 429)",
            [
                ('task:relevance_request_errors:ratio_rate5m{task=~"$task"}', "5xx {{task}}"),
                ('task:relevance_requests_throttled:ratio_rate5m{task=~"$task"}', "429 {{task}}"),
            ],
            unit="percentunit",
            min=0,
            description="Recording rules behind RelevanceHighErrorRate (>5%) and RelevanceRequestsThrottled "
            "(>1%).",
        ),
        Panel(
            "Backend failures and model reloads",
            [
                (
                    f"sum by (backend) (rate(relevance_backend_failures_total{{{SEL}}}[{RI}]))",
                    "failures {{backend}}",
                ),
                (
                    f"sum by (result) (rate(relevance_model_reloads_total{{{SEL}}}[{RI}]))",
                    "reload {{result}}",
                ),
            ],
            unit="ops",
        ),
    ]
    latency = [
        Panel(
            "Request latency by task",
            _quantiles("relevance_request_duration_seconds", "task", SEL_TASK),
            unit="s",
            description="End to end, as the service measures it (queue + tokenization + inference + "
            "encoding).",
        ),
        Panel(
            "Where the time goes (p50 / p99)",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate({m}_bucket{{{SEL}}}[{RI}])))",
                    f"{name} p{round(q * 100)}",
                )
                for m, name in (
                    ("relevance_queue_duration_seconds", "queue"),
                    ("relevance_tokenization_duration_seconds", "tokenization"),
                    ("relevance_inference_duration_seconds", "inference"),
                )
                for q in (0.5, 0.99)
            ],
            unit="s",
            description="Queue wait (micro-batcher) vs tokenization vs model inference per batch. Queue "
            "wait far above the configured max wait means the replica is saturated.",
        ),
        Panel(
            "Inference latency by backend",
            _quantiles("relevance_inference_duration_seconds", "backend", SEL),
            unit="s",
        ),
        Panel(
            "Request latency heatmap",
            [
                (
                    f"sum by (le) (increase(relevance_request_duration_seconds_bucket{{{SEL_TASK}}}[{RI}]))",
                    "{{le}}",
                )
            ],
            unit="s",
            kind="heatmap",
        ),
    ]
    batching = [
        Panel(
            "Batch size (pairs)",
            [
                *_quantiles("relevance_batch_pairs", "", SEL),
                (
                    f"sum(rate(relevance_batch_pairs_sum{{{SEL}}}[{RI}])) "
                    f"/ sum(rate(relevance_batch_pairs_count{{{SEL}}}[{RI}]))",
                    "mean",
                ),
            ],
            width=8,
        ),
        Panel(
            "Batch tokens (padded)",
            [
                *_quantiles("relevance_batch_tokens", "", SEL),
                (
                    f"sum(rate(relevance_batch_tokens_sum{{{SEL}}}[{RI}])) "
                    f"/ sum(rate(relevance_batch_tokens_count{{{SEL}}}[{RI}]))",
                    "mean",
                ),
            ],
            width=8,
        ),
        Panel(
            "Batches / s",
            [(f"sum by (instance) (rate(relevance_batch_pairs_count{{{SEL}}}[{RI}]))", "{{instance}}")],
            unit="ops",
            width=8,
        ),
        Panel(
            "Queue depth",
            [(f"sum by (instance) (relevance_queue_depth{{{SEL}}})", "{{instance}}")],
            description="Pairs waiting for a batch. The queue bound (a setting) turns the excess into 429s.",
        ),
        Panel(
            "In-flight requests",
            [(f"sum by (instance) (relevance_inflight_requests{{{SEL}}})", "{{instance}}")],
        ),
    ]
    models = [
        Panel(
            "Loaded models",
            [(f"relevance_model_info{{{SEL}}}", "")],
            kind="table",
            width=24,
            height=6,
            options={"showHeader": True},
        ),
    ]
    return dashboard(
        uid="relevance-service",
        title="Relevance / Service overview",
        description="Traffic, errors, latency and batching of the relevance scoring service.",
        rows=[
            ("Health", stats),
            ("Traffic and errors", traffic),
            ("Latency", latency),
            ("Batching and queue", batching),
            ("Models", models),
        ],
        variables=[instance, task],
    )


def model_traffic() -> dict[str, Any]:
    instance = _variable("instance", "Instance", "label_values(relevance_ready, instance)")
    task = _variable("task", "Task", "label_values(relevance_pairs_scored_total, task)")
    language = _variable("language", "Language", "label_values(relevance_pairs_scored_total, language)")
    sel = 'instance=~"$instance", task=~"$task", language=~"$language"'
    scores = [
        Panel(
            "Score distribution",
            [(f"sum by (le) (increase(relevance_score_bucket{{{SEL_TASK}}}[{RI}]))", "{{le}}")],
            unit="short",
            kind="heatmap",
            description="Histogram of served probabilities over time. A calibrated model on stable traffic "
            "keeps its shape; mass moving to one end is drift or a broken input field.",
        ),
        Panel(
            "Score histogram (time range)",
            [(f"sum by (le) (increase(relevance_score_bucket{{{SEL_TASK}}}[$__range]))", "{{le}}")],
            kind="bargauge",
            options={"displayMode": "gradient"},
        ),
    ]
    relevance = [
        Panel(
            "Relevant rate by task and language",
            [
                (
                    # A language with no relevant pair yet has no relevant series: read it as 0.
                    f"(sum by (task, language) (rate(relevance_pairs_relevant_total{{{sel}}}[{RI}])) "
                    f"or sum by (task, language) (rate(relevance_pairs_scored_total{{{sel}}}[{RI}])) * 0) "
                    f"/ sum by (task, language) (rate(relevance_pairs_scored_total{{{sel}}}[{RI}]))",
                    "{{task}} {{language}}",
                )
            ],
            unit="percentunit",
            min=0,
            max=1,
        ),
        Panel(
            "Drift: 1h relevant rate minus its 1d average",
            [
                (
                    f"task_language:relevance_pairs_relevant:ratio_rate1h{{{TL}}} "
                    f"- task_language:relevance_pairs_relevant:ratio_rate1d{{{TL}}}",
                    "{{task}} {{language}}",
                )
            ],
            unit="percentunit",
            description="RelevanceRelevantRateDrift fires when this leaves +-0.15 for 30 minutes with at "
            "least 200 pairs an hour.",
        ),
        Panel(
            "Off training: 1h relevant rate minus the model's rate in training",
            [
                (
                    f"task_language:relevance_pairs_relevant:ratio_rate1h{{{TL}}} - on (task, language) "
                    f"avg by (task, language) (relevance_training_relevant_rate{{{sel}}})",
                    "{{task}} {{language}}",
                )
            ],
            unit="percentunit",
            description="Against the share the served model judged relevant on its own training data (model "
            "card). RelevanceRelevantRateOffTraining fires when this leaves +-0.15 for 30 minutes with at "
            "least 200 pairs an hour.",
        ),
        Panel(
            "Training rates of the served model (model card)",
            [
                (
                    f"avg by (task, language) (relevance_training_relevant_rate{{{sel}}})",
                    "{{task}} {{language}} judged relevant",
                ),
                (
                    f"avg by (task, language) (relevance_training_positive_rate{{{sel}}})",
                    "{{task}} {{language}} labelled relevant",
                ),
            ],
            unit="percentunit",
            min=0,
            max=1,
            description="Per language of the checkpoint's evaluation data: the share it judged relevant at "
            "its threshold (what the served relevant rate is compared with) and the share labelled relevant.",
        ),
        Panel(
            "Pairs scored by language",
            [(f"sum by (language) (rate(relevance_pairs_scored_total{{{sel}}}[{RI}]))", "{{language}}")],
            unit="short",
            stack=True,
        ),
        Panel(
            "Pairs scored by task",
            [(f"sum by (task) (rate(relevance_pairs_scored_total{{{sel}}}[{RI}]))", "{{task}}")],
            unit="short",
            stack=True,
        ),
    ]
    inputs = [
        Panel(
            "Truncation rate",
            [
                (
                    f"sum by (task) (rate(relevance_pairs_truncated_total{{{SEL_TASK}}}[{RI}])) "
                    f"/ sum by (task) (rate(relevance_pairs_scored_total{{{SEL_TASK}}}[{RI}]))",
                    "{{task}}",
                )
            ],
            unit="percentunit",
            min=0,
            description="Pairs whose category path or title was cut to fit the model's max length.",
        ),
        Panel(
            "Cache hit rate",
            [
                (
                    f"sum by (task) (rate(relevance_cache_hits_total{{{SEL_TASK}}}[{RI}])) "
                    f"/ (sum by (task) (rate(relevance_cache_hits_total{{{SEL_TASK}}}[{RI}])) "
                    f"+ sum by (task) (rate(relevance_cache_misses_total{{{SEL_TASK}}}[{RI}])))",
                    "{{task}}",
                )
            ],
            unit="percentunit",
            min=0,
            max=1,
        ),
        Panel(
            "Query translation (models trained on Apertium's)",
            [
                (
                    f"sum by (language) (rate(relevance_translations_total{{{SEL}}}[{RI}]))",
                    "translated {{language}}",
                ),
                (f"sum(rate(relevance_translation_cache_hits_total{{{SEL}}}[{RI}]))", "cache hits"),
                (
                    f"sum by (reason) (rate(relevance_translation_failures_total{{{SEL}}}[{RI}]))",
                    "scored untranslated: {{reason}}",
                ),
            ],
            unit="short",
            min=0,
            description="Pairs whose missing query_en the service filled (per second): engine translations "
            "by language, cache hits, and pairs scored untranslated because translation failed, timed out "
            "or Apertium is missing (alert RelevanceTranslationFailing).",
        ),
        Panel(
            "Translation engine call time",
            _quantiles("relevance_translation_duration_seconds", "", SEL),
            unit="s",
            min=0,
            description="One Apertium call, which takes every query that queued while the previous one ran.",
        ),
        Panel(
            "Loaded models",
            [(f"relevance_model_info{{{SEL}}}", "")],
            kind="table",
            width=24,
            height=6,
        ),
    ]
    return dashboard(
        uid="relevance-model",
        title="Relevance / Model and traffic",
        description="What the model answers: score distribution, relevant rate and drift (against its "
        "own past and its training data) by task and language, truncation and cache.",
        rows=[("Scores", scores), ("Relevant rate", relevance), ("Inputs and cache", inputs)],
        variables=[instance, task, language],
    )


def vllm_engine() -> dict[str, Any]:
    instance = _variable("instance", "Instance", "label_values(vllm:num_requests_running, instance)")
    model = _variable("model_name", "Model", "label_values(vllm:num_requests_running, model_name)")
    return dashboard(
        uid="relevance-vllm",
        title="Relevance / vLLM engine",
        description="vLLM's own vllm: metrics, exported by the service when RELEVANCE_BACKEND=vllm.",
        rows=[
            (
                "Scheduler",
                [
                    Panel(
                        "Requests running / waiting",
                        [
                            (
                                f"sum by (instance) (vllm:num_requests_running{{{VSEL}}})",
                                "running {{instance}}",
                            ),
                            (
                                f"sum by (instance) (vllm:num_requests_waiting{{{VSEL}}})",
                                "waiting {{instance}}",
                            ),
                        ],
                    ),
                    Panel(
                        "KV cache usage",
                        [(f"max by (instance) (vllm:kv_cache_usage_perc{{{VSEL}}})", "{{instance}}")],
                        unit="percentunit",
                        min=0,
                        max=1,
                    ),
                    Panel(
                        "Finished requests / s",
                        [
                            (
                                "sum by (finished_reason) "
                                f"(rate(vllm:request_success_total{{{VSEL}}}[{RI}]))",
                                "{{finished_reason}}",
                            )
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Preemptions / s",
                        [
                            (
                                f"sum by (instance) (rate(vllm:num_preemptions_total{{{VSEL}}}[{RI}]))",
                                "{{instance}}",
                            )
                        ],
                        unit="ops",
                    ),
                ],
            ),
            (
                "Latency",
                [
                    Panel(
                        "End-to-end request latency",
                        _quantiles("vllm:e2e_request_latency_seconds", "", VSEL),
                        unit="s",
                    ),
                    Panel(
                        "Queue vs prefill (p99)",
                        [
                            (
                                f"histogram_quantile(0.99, sum by (le) (rate({m}_bucket{{{VSEL}}}[{RI}])))",
                                name,
                            )
                            for m, name in (
                                ("vllm:request_queue_time_seconds", "queue"),
                                ("vllm:request_prefill_time_seconds", "prefill"),
                                ("vllm:request_inference_time_seconds", "inference"),
                            )
                        ],
                        unit="s",
                        description="Pooling (classify) requests have no decode phase: inference is prefill.",
                    ),
                ],
            ),
            (
                "Tokens",
                [
                    Panel(
                        "Prompt tokens / s",
                        [
                            (
                                f"sum by (instance) (rate(vllm:prompt_tokens_total{{{VSEL}}}[{RI}]))",
                                "{{instance}}",
                            )
                        ],
                        unit="short",
                    ),
                    Panel(
                        "Prompt tokens per request",
                        _quantiles("vllm:request_prompt_tokens", "", VSEL),
                        unit="short",
                    ),
                    Panel(
                        "Tokens per engine step",
                        _quantiles("vllm:iteration_tokens_total", "", VSEL),
                        unit="short",
                    ),
                    Panel(
                        "Prefix cache hit rate",
                        [
                            (
                                f"sum(rate(vllm:prefix_cache_hits_total{{{VSEL}}}[{RI}])) "
                                f"/ sum(rate(vllm:prefix_cache_queries_total{{{VSEL}}}[{RI}]))",
                                "hit rate",
                            )
                        ],
                        unit="percentunit",
                        min=0,
                        max=1,
                        description="Shared prefixes (the task prefix, repeated queries) are served from "
                        "the KV cache.",
                    ),
                ],
            ),
        ],
        variables=[instance, model],
    )


DASHBOARDS = {
    "relevance-service.json": service_overview,
    "relevance-model.json": model_traffic,
    "relevance-vllm.json": vllm_engine,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed dashboard differs")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path, text = OUT_DIR / name, render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path}")
    if stale:
        print(f"stale dashboards (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
