"""`ragmesh deploy`: render and validate the chart, install or upgrade it, wait, smoke-test, roll back.

Rendering uses Helm's own engine as a library (helm-python-sdk); validation uses the Kubernetes OpenAPI
schemas that kubernetes-validate ships. The cluster half drives the helm binary through pyhelm3 and
watches rollouts with the official kubernetes client.
"""

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "ragmesh"
EXAMPLES = CHART.parent / "examples"
# The Kubernetes minor versions the chart supports; every rendered object is validated against each.
KUBE_VERSIONS = ("1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0")


def load_values(files: list[Path], overrides: dict | None = None) -> dict:
    """Values files merged left to right (later wins, maps merge deeply), then `overrides`."""

    def merge(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            base[key] = merge(dict(base.get(key) or {}), value) if isinstance(value, dict) else value
        return base

    values: dict = {}
    for file in files:
        values = merge(values, yaml.safe_load(Path(file).read_text()) or {})
    return merge(values, overrides or {})


def render(values: dict, release: str = "ragmesh", namespace: str = "ragmesh", chart: Path = CHART) -> list[dict]:
    """Every object the chart renders with these values (schema-checked by Helm first)."""
    import helm_python as helm

    with helm.Chart.load(str(chart)) as loaded:
        loaded.validate_schema(values)
        manifests = loaded.render(values, name=release, namespace=namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def lint(values: dict, chart: Path = CHART) -> list[str]:
    """Helm's strict lint: every warning is an error. Returns the findings (empty when clean)."""
    import helm_python as helm

    report = helm.lint(str(chart), values, strict=True)
    findings = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]
    return findings + list(report.get("errors") or [])


CUSTOM_API_VERSIONS = ("cert-manager.io/v1", "monitoring.coreos.com/v1")


def validate(objects: list[dict], versions: tuple[str, ...] = KUBE_VERSIONS) -> list[str]:
    """Schema errors of every object against every supported Kubernetes version (strict: no unknown fields)."""
    import kubernetes_validate

    errors = []
    for version in versions:
        # Custom resources (cert-manager's Certificate, the Prometheus Operator's ServiceMonitor and PrometheusRule)
        # have no schema in Kubernetes' own set.
        for obj in (o for o in objects if o["apiVersion"] not in CUSTOM_API_VERSIONS):
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{version} {obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    return errors


@dataclass
class DeployReport:
    """What happened, step by step, for the command line to print."""

    steps: list[str] = field(default_factory=list)
    ok: bool = True

    def say(self, line: str) -> None:
        self.steps.append(line)


def dry_run(values: dict, release: str, namespace: str) -> DeployReport:
    """Lint, render and validate without a cluster."""
    report = DeployReport()
    findings = lint(values)
    objects = render(values, release, namespace)
    errors = validate(objects)
    kinds: dict[str, int] = {}
    for obj in objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    report.say(f"rendered {len(objects)} objects: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    report.say(f"helm lint --strict: {'clean' if not findings else '; '.join(findings)}")
    report.say(f"schemas ({', '.join(KUBE_VERSIONS)}): {'valid' if not errors else f'{len(errors)} errors'}")
    report.steps.extend(errors[:20])
    report.ok = not findings and not errors
    return report


def _wait_for_rollouts(apps, namespace: str, release: str, timeout: float, say: Callable[[str], None]) -> bool:
    deadline = time.monotonic() + timeout
    pending = {"Deployment", "StatefulSet"}
    while time.monotonic() < deadline:
        selector = f"app.kubernetes.io/instance={release}"
        workloads = apps.list_namespaced_deployment(namespace, label_selector=selector).items
        workloads += apps.list_namespaced_stateful_set(namespace, label_selector=selector).items
        waiting = [
            w.metadata.name
            for w in workloads
            if (w.status.observed_generation or 0) < w.metadata.generation
            or (w.status.updated_replicas or 0) < (w.spec.replicas or 1)
            or (w.status.ready_replicas or 0) < (w.spec.replicas or 1)
        ]
        if not waiting:
            say(f"rolled out: {len(workloads)} workloads ready")
            return True
        pending = set(waiting)
        time.sleep(3)
    say(f"rollout timed out waiting for: {', '.join(sorted(pending))}")
    return False


def _smoke(url: str, api_key: str) -> str:
    """A real question through the gateway; returns what went wrong, or "" when it answered."""
    import httpx

    try:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        if ready.status_code != 200:
            return f"readyz {ready.status_code}: {ready.text[:300]}"
        reply = httpx.post(
            f"{url}/v1/query",
            headers={"X-API-Key": api_key},
            json={"question": "deployment smoke test", "generate": False},
            timeout=60,
        )
        return "" if reply.status_code == 200 else f"query {reply.status_code}: {reply.text[:300]}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def deploy(
    values_files: list[Path],
    release: str,
    namespace: str,
    smoke_url: str,
    api_key: str,
    timeout_seconds: int = 900,
    kubeconfig: Path | None = None,
    say: Callable[[str], None] = print,
) -> bool:
    """Install or upgrade (atomic, wait), wait for rollouts, report HPAs, smoke-test, roll back on failure."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from pyhelm3 import Client

    values = load_values(values_files)
    checked = dry_run(values, release, namespace)
    for line in checked.steps:
        say(line)
    if not checked.ok:
        say("not deploying: the chart did not validate")
        return False
    if shutil.which("helm") is None:
        say(
            "not deploying: installs need the helm binary on PATH (pyhelm3 drives it); see https://helm.sh/docs/intro/install/"
        )
        return False
    helm = Client(kubeconfig=kubeconfig, default_timeout=f"{timeout_seconds}s")

    async def install():
        chart = await helm.get_chart(str(CHART))
        previous = None
        try:
            previous = await helm.get_current_revision(release, namespace=namespace)
        except Exception:
            previous = None
        revision = await helm.install_or_upgrade_release(
            release, chart, values, atomic=True, wait=True, namespace=namespace, timeout=f"{timeout_seconds}s"
        )
        return previous, revision

    previous, revision = asyncio.run(install())
    say(f"release {release} at revision {revision.revision} ({revision.status})")
    if kubeconfig:
        k8s_config.load_kube_config(config_file=str(kubeconfig))
    else:
        try:
            k8s_config.load_incluster_config()
        except k8s_config.ConfigException:
            k8s_config.load_kube_config()
    ok = _wait_for_rollouts(k8s.AppsV1Api(), namespace, release, timeout_seconds, say)
    for hpa in (
        k8s.AutoscalingV2Api()
        .list_namespaced_horizontal_pod_autoscaler(namespace, label_selector=f"app.kubernetes.io/instance={release}")
        .items
    ):
        say(
            f"hpa {hpa.metadata.name}: {hpa.status.current_replicas} current, {hpa.status.desired_replicas} desired "
            f"({hpa.spec.min_replicas}-{hpa.spec.max_replicas})"
        )
    problem = _smoke(smoke_url, api_key) if ok else "rollout did not complete"
    if not problem:
        say("smoke query answered: deployed")
        return True
    say(f"smoke test failed: {problem}")
    if previous is not None:

        async def rollback() -> None:
            await previous.release.rollback(previous.revision, wait=True, timeout=f"{timeout_seconds}s")

        asyncio.run(rollback())
        say(f"rolled back to revision {previous.revision}")
    else:
        say("first install failed its smoke test; nothing to roll back to (uninstall with helm uninstall)")
    return False


def dump(objects: list[dict]) -> str:
    """The rendered objects as one YAML stream (for checkov and for eyes)."""
    return "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objects)


def summary(objects: list[dict]) -> str:
    kinds: dict[str, int] = {}
    for obj in objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    return json.dumps(dict(sorted(kinds.items())))
