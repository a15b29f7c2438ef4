"""Prometheus config and rules, checked by the real promtool: config, rule syntax, and the unit tests of
every alert (each firing and not firing)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from deploy_promql import PROM_DIR, RULE_FILES, RULE_TESTS, alert_names, load_rules


def _run(*cmd: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out}"
    return out


def test_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    _run(promtool, "check", "config", str(PROM_DIR / "prometheus.yml"))
    # The same config with rule_files pointing at the repository's rules: they must load with it.
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"], "compose mounts rules/ at that path"
    config["rule_files"] = [str(p) for p in RULE_FILES]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    out = _run(promtool, "check", "config", str(path))
    assert out.count("SUCCESS") >= 1 + len(RULE_FILES), out


def test_rules_are_valid(promtool: str) -> None:
    out = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", out))
    assert found == len(load_rules()), out


def test_alert_unit_tests_pass(promtool: str) -> None:
    out = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert "SUCCESS" in out, out


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    spec = yaml.safe_load(RULE_TESTS.read_text())
    tested_files = {(RULE_TESTS.parent / f).resolve() for f in spec["rule_files"]}
    assert tested_files == {p.resolve() for p in RULE_FILES}
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in spec["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(alert_names())
    assert alerts, "no alerts defined"
    assert not alerts - firing, f"alerts never tested firing: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"alerts never tested not firing: {sorted(alerts - quiet)}"
    assert not (firing | quiet) - alerts, f"tests for unknown alerts: {sorted((firing | quiet) - alerts)}"


def test_alerts_are_actionable() -> None:
    for rule in load_rules():
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), rule["alert"]
        assert rule["alert"].startswith("Relevance"), rule["alert"]
