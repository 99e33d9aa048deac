"""deploy/: the Prometheus config and alert rules pass promtool, the alerts fire on the series
they are meant for (promtool's own unit tests), and every metric the dashboard and the alerts
read is one the services expose."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from audio_service.main import create_app as create_audio_app
from audio_service.settings import AudioSettings
from devstack.prometheus import (
    CONFIG_PATH,
    DEPLOY_DIR,
    INSTALL_HINT,
    RULES_PATH,
    binary,
    render_config,
)
from quiz_service.main import create_app as create_quiz_app
from quiz_service.settings import QuizSettings
from testkit.apps import running_app
from testkit.metrics import Scrape
from testkit.postgres import in_ci, temporary_database

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "quiz-audio.json"
# Names of our metrics in PromQL; nginx_* come from the exporter (tests/e2e/test_observability).
OUR_METRIC = re.compile(r"\b(?:http|db|audio|quiz|process|python)_[a-z0-9_]+\b")
NGINX_METRIC = re.compile(r"\bnginx_[a-z0-9_]+\b")


def promtool(*args: str, cwd: Path = DEPLOY_DIR) -> str:
    tool = binary("promtool")
    if tool is None:
        if in_ci():
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    result = subprocess.run(
        [str(tool), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dashboard_exprs() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_exprs() -> list[str]:
    rules: dict[str, Any] = yaml.safe_load(RULES_PATH.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_the_alert_rules_pass_promtool() -> None:
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", str(RULES_PATH))


def test_the_alerts_fire_on_their_series_and_not_on_a_healthy_stack() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts.test.yml")


def test_the_compose_config_and_its_test_rendering_pass_promtool(tmp_path: Path) -> None:
    promtool("check", "config", str(CONFIG_PATH))
    rendered = render_config({"quiz": ["127.0.0.1:1"], "audio": ["127.0.0.1:2"]})
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(rendered))
    promtool("check", "config", str(path))
    assert [job["job_name"] for job in rendered["scrape_configs"]] == ["quiz", "audio"]


def test_the_dashboard_is_provisioned_against_the_prometheus_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    assert "uid: prometheus" in datasource
    panels = dashboard["panels"]
    assert {panel["datasource"]["uid"] for panel in panels} == {"prometheus"}
    assert len({panel["id"] for panel in panels}) == len(panels)
    titles = " ".join(panel["title"].lower() for panel in panels)
    for topic in ("request rate", "errors", "p50 / p99", "conversions", "realtime", "upstream"):
        assert topic in titles
    assert "pool saturation" in titles


@pytest.fixture(scope="module")
async def exposed_names() -> set[str]:
    """Every sample name both services' /metrics declare (PostgreSQL, for the pool's)."""
    names: set[str] = set()
    async with temporary_database("test_obs") as url:
        apps = [
            create_quiz_app(QuizSettings(database_url=url, log_format="text")),
            create_audio_app(AudioSettings(database_url=url, log_format="text")),
        ]
        for app in apps:
            async with running_app(app) as client:
                assert (await client.get("/health")).status_code == 200
                names |= Scrape((await client.get("/metrics")).text).sample_names()
    return names


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_read_is_one_the_services_expose(exposed_names: set[str], source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    assert exprs, f"no expressions found in the {source}"
    used = {name for expr in exprs for name in OUR_METRIC.findall(expr)}
    assert used, f"the {source} reads none of our metrics"
    assert used - exposed_names == set()


def test_the_dashboard_reads_nginx_counters() -> None:
    assert {name for expr in dashboard_exprs() for name in NGINX_METRIC.findall(expr)}


def test_the_readme_lists_only_metrics_that_exist(exposed_names: set[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| Metric | Type | Labels | What |", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"`((?:http|db|audio|quiz)_[a-z0-9_]+)`", table))
    assert len(listed) > 20
    # A histogram is listed by its family name; its samples are _bucket, _sum, _count.
    missing = {n for n in listed if n not in exposed_names and f"{n}_count" not in exposed_names}
    assert missing == set()
