"""The cluster's Serve configs (`cluster/serve-config.yaml` and the RayService's
`serveConfigV2`) deploy what the code defines: each application's builder exists,
the websocket application is mounted where the app expects it, and both
applications run with the same Serve settings."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from ray.serve import Deployment

from serve_app.app import REALTIME_PREFIX, ApiIngress, RealtimeIngress

ROOT = Path(__file__).resolve().parents[2]


def _serve_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "cluster/serve-config.yaml").read_text())
    return loaded


def _rayservice_config() -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "cluster/k8s/rayservice.yaml").read_text())
    service = next(d for d in docs if d and d.get("kind") == "RayService")
    loaded: dict[str, Any] = yaml.safe_load(service["spec"]["serveConfigV2"])
    return loaded


@pytest.mark.parametrize("load", [_serve_config, _rayservice_config], ids=["serve", "k8s"])
def test_both_applications_are_deployed_as_the_code_defines_them(load: Any) -> None:
    apps = {app["name"]: app for app in load()["applications"]}
    assert set(apps) == {"taskhive", "taskhive-realtime"}
    assert apps["taskhive"]["route_prefix"] == "/"
    assert apps["taskhive-realtime"]["route_prefix"] == REALTIME_PREFIX
    # `@serve.deployment` makes each class a Deployment (mypy keeps the class type).
    expected = {
        "taskhive": cast(Deployment, ApiIngress).name,
        "taskhive-realtime": cast(Deployment, RealtimeIngress).name,
    }
    for name, app in apps.items():
        module, _, attr = app["import_path"].partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), app["import_path"]
        assert [d["name"] for d in app["deployments"]] == [expected[name]]
    # Same proxy mode, logging and worker setup on both sides of the split.
    assert apps["taskhive"]["runtime_env"] == apps["taskhive-realtime"]["runtime_env"]
    # Both must find the same project hosts (the host count names them).
    assert apps["taskhive"]["args"]["hosts"] == apps["taskhive-realtime"]["args"]["hosts"]
