"""docs/operations.md explains every metric, recording rule and alert that exists (and nothing removed)."""

from __future__ import annotations

import re

from deploy_promql import REPO, alert_names, recorded_names, service_metric_names

from service.errors import ErrorType

DOC = (REPO / "docs" / "operations.md").read_text()


def _family(sample_name: str) -> str:
    return re.sub(r"_(total|bucket|sum|count|created)$", "", sample_name)


def test_every_service_metric_is_documented() -> None:
    families = {_family(n) for n in service_metric_names()}
    documented = set(re.findall(r"`(relevance_[a-z_]+)", DOC))
    documented |= {_family(n) for n in documented}
    # "`relevance_cache_hits_total` / `_misses_total`" documents both cache counters.
    documented |= {"relevance_cache_misses"} if "`_misses_total`" in DOC else set()
    assert not families - documented, f"undocumented metrics: {sorted(families - documented)}"


def test_every_alert_and_recording_rule_is_documented() -> None:
    missing = [name for name in alert_names() if f"`{name}`" not in DOC]
    missing += [name for name in recorded_names() if name not in DOC and name.rsplit(":", 1)[0] not in DOC]
    assert not missing, f"undocumented rules: {missing}"
    documented_alerts = set(re.findall(r"^\| `(Relevance\w+)`", DOC, re.M))
    assert documented_alerts == set(alert_names()), "docs list alerts that do not exist"


def test_every_error_reason_is_documented() -> None:
    missing = [t.value for t in ErrorType if f"`{t.value}`" not in DOC]
    assert not missing, f"undocumented rejection reasons: {missing}"
