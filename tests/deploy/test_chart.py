"""The Helm chart, rendered by Helm's own engine and checked against the Kubernetes schemas and our rules."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ragmesh.deploy import EXAMPLES, KUBE_VERSIONS, dump, lint, load_values, render, validate

VALUE_SETS = {
    "default": [],
    "small": [EXAMPLES / "values-small.yaml"],
    "production": [EXAMPLES / "values-production.yaml"],
    "gpu": [EXAMPLES / "values-gpu.yaml"],
}
SERVICES = ("gateway", "embedder", "retriever", "generator", "ingest")
METRICS_PORT = 9464


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request) -> tuple[str, dict, list[dict]]:
    values = load_values(VALUE_SETS[request.param])
    return request.param, values, render(values, release="rm", namespace="prod")


def _of(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _component(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def test_strict_lint_is_clean(rendered):
    _, values, _ = rendered
    assert lint(values) == []


def test_every_object_is_valid_for_every_supported_kubernetes_version(rendered):
    _, _, objects = rendered
    assert KUBE_VERSIONS[0] == "1.29.0" and KUBE_VERSIONS[-1] == "1.33.0"
    assert validate(objects) == []


def test_every_workload_is_hardened_probed_bounded_and_protected(rendered):
    _, _, objects = rendered
    workloads = {**_of(objects, "Deployment"), **_of(objects, "StatefulSet")}
    pdbs = {_component(p) for p in _of(objects, "PodDisruptionBudget").values()}
    accounts = _of(objects, "ServiceAccount")
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            assert "readinessProbe" in container and "livenessProbe" in container, name
        if workload["kind"] == "Deployment":
            assert _component(workload) in pdbs, f"{name} has no PodDisruptionBudget"
            assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"


def test_grpc_services_use_builtin_grpc_probes_and_the_gateway_http(rendered):
    _, values, objects = rendered
    mtls = values.get("internalAuth", {}).get("mode") == "mtls"
    for name, deployment in _of(objects, "Deployment").items():
        component = _component(deployment)
        if component not in SERVICES:
            continue
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if component == "gateway":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        else:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                # Under mTLS the kubelet (which has no client certificate) probes the plaintext health port.
                expected = 50100 if mtls else container["ports"][0]["containerPort"]
                assert container[probe]["grpc"]["port"] == expected, (name, probe)


def test_generation_can_drain_before_the_pod_is_killed(rendered):
    _, _, objects = rendered
    for component in ("gateway", "generator"):
        pod = _of(objects, "Deployment")[f"rm-ragmesh-{component}"]["spec"]["template"]["spec"]
        pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
        # The pause plus the generator's 120 s deadline must fit in the grace period.
        assert pod["terminationGracePeriodSeconds"] >= pause + 120


def test_every_hpa_owns_an_existing_deployment_that_sets_no_replicas(rendered):
    _, _, objects = rendered
    deployments = _of(objects, "Deployment")
    hpas = _of(objects, "HorizontalPodAutoscaler")
    assert hpas
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments, name
        assert "replicas" not in deployments[target["name"]]["spec"], f"{target['name']} fights its HPA"
        assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} >= {"cpu"}
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_grpc_backends_have_headless_services_and_callers_use_dns_round_robin(rendered):
    _, _, objects = rendered
    services = _of(objects, "Service")
    for component in ("embedder", "retriever", "generator", "ingest"):
        assert services[f"rm-ragmesh-{component}-headless"]["spec"]["clusterIP"] == "None"
    env = {
        e["name"]: e.get("value")
        for e in _of(objects, "Deployment")["rm-ragmesh-gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RAGMESH_GATEWAY_EMBEDDER_TARGET"] == "dns:///rm-ragmesh-embedder-headless.prod.svc.cluster.local:50051"


def test_only_the_gateway_has_an_ingress_and_it_is_tls(rendered):
    _, _, objects = rendered
    ingresses = list(_of(objects, "Ingress").values())
    assert len(ingresses) == 1 and ingresses[0]["spec"]["tls"]
    backends = {p["backend"]["service"]["name"] for r in ingresses[0]["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"rm-ragmesh-gateway"}


def test_no_secret_value_is_inline(rendered):
    _, _, objects = rendered
    assert not _of(objects, "Secret"), "the chart must reference existing Secrets, never create them from values"
    text = dump(objects)
    assert "api-keys" in text  # referenced by name only
    for deployment in _of(objects, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                secret_like = any(env["name"].endswith(end) for end in ("API_KEY", "PASSWORD", "_SECRET", "_TOKEN"))
                assert not secret_like or "valueFrom" in env, env


def _allowed_paths(objects: list[dict]) -> set[tuple[str, str]]:
    """(caller, callee) component pairs that the ingress rules of the NetworkPolicies allow."""
    pods = {_component(w) for w in [*_of(objects, "Deployment").values(), *_of(objects, "StatefulSet").values()]}
    paths = set()
    for policy in _of(objects, "NetworkPolicy").values():
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        if selected is None:
            continue
        for rule in policy["spec"].get("ingress", []):
            # Prometheus's rule opens the metrics port and nothing else.
            scrape = [port["port"] for port in rule.get("ports", [])] == [METRICS_PORT]
            for source in rule.get("from", []):
                if "podSelector" in source:
                    paths.add((source["podSelector"]["matchLabels"]["app.kubernetes.io/component"], selected))
                elif "namespaceSelector" in source:
                    paths.add(("prometheus" if scrape else "ingress-controller", selected))
    assert {callee for _, callee in paths} <= pods
    return paths


def test_network_policies_deny_by_default_and_open_only_the_architectures_paths(rendered):
    name, values, objects = rendered
    policies = _of(objects, "NetworkPolicy")
    deny = policies["rm-ragmesh-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    expected = {
        ("ingress-controller", "gateway"),
        ("gateway", "embedder"),
        ("ingest", "embedder"),
        ("gateway", "retriever"),
        ("ingest", "retriever"),
        ("gateway", "generator"),
        ("gateway", "ingest"),
        *(("prometheus", service) for service in SERVICES),
    }
    if values.get("qdrant", {}).get("deploy", True):
        expected.add(("retriever", "qdrant"))
    if values.get("redis", {}).get("deploy", True):
        # The gateway's state and caches; the embedder's embedding cache; ingest's corpus-change announcements.
        expected |= {("gateway", "redis"), ("embedder", "redis"), ("ingest", "redis")}
    if values.get("cacheRedis", {}).get("deploy", False):
        expected.add(("gateway", "cache-redis"))
    if values.get("database", {}).get("deploy", True):
        # The gateway's records; the ingest catalogue, jobs and write leases.
        expected |= {("gateway", "postgresql"), ("ingest", "postgresql")}
    if name == "gpu":
        expected |= {("embedder", "tei"), ("generator", "vllm")}
    for job in ("evaluation", "snapshots"):
        if values.get(job, {}).get("enabled"):
            expected.add((job, "gateway"))
    assert _allowed_paths(objects) == expected
    # Outside the cluster: a managed PostgreSQL is reached by gateway and ingest, an S3 store by ingest.
    external = policies["rm-ragmesh-egress-external"]["spec"]["podSelector"]["matchExpressions"][1]["values"]
    database_outside = not values.get("database", {}).get("deploy", True)
    s3 = bool(values.get("ingest", {}).get("objectStore", {}).get("url"))
    redis_outside = not values.get("redis", {}).get("deploy", True)
    assert ("ingest" in external) == (database_outside or s3 or redis_outside), external
    assert ("snapshots" in external) == bool(values.get("snapshots", {}).get("enabled")), external
    if database_outside:
        assert "gateway" in external


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"servces": {}}, "additional properties 'servces' not allowed"),
        ({"services": {"gateway": {"replicass": 2}}}, "additional properties 'replicass' not allowed"),
        ({"defaults": {"autoscaling": {"cpu": 170}}}, "maximum"),
        ({"qdrant": {"deploy": False}}, "/qdrant/external/url"),
        ({"image": {"digests": {"gateway": "latest"}}}, "pattern"),
        ({"embedding": {"backend": "tei"}}, "anyOf"),
        ({"cacheRedis": {"deploy": True}, "redis": {"deploy": False}}, "/redis/deploy"),
    ],
)
def test_the_schema_rejects_a_misspelt_or_impossible_value(overrides, message):
    import helm_python as helm

    with pytest.raises(helm.HelmValuesError) as error:
        render(load_values([], overrides))
    assert message in str(error.value)


def test_digests_pin_images_when_given():
    digest = "sha256:" + "a" * 64
    objects = render(load_values([], {"image": {"digests": {"embedder": digest}}}))
    images = {
        _component(d): d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in _of(objects, "Deployment").values()
    }
    assert images["embedder"] == f"ghcr.io/ragmesh/ragmesh-embedder@{digest}"
    assert images["gateway"] == "ghcr.io/ragmesh/ragmesh-gateway:0.1.0"


CHECKOV = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.skipif(not CHECKOV.exists() and not shutil.which("checkov"), reason="checkov runs in `make helm-lint`")
def test_checkov_finds_no_failed_kubernetes_check(tmp_path):
    for name, files in VALUE_SETS.items():
        (tmp_path / f"{name}.yaml").write_text(dump(render(load_values(files))))
    binary = str(CHECKOV) if CHECKOV.exists() else shutil.which("checkov")
    result = subprocess.run(
        [binary, "-d", str(tmp_path), "--framework", "kubernetes", "--quiet", "--compact"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Failed checks: 0" in result.stdout


SETTINGS = {
    "gateway": "services.gateway.config:GatewaySettings",
    "embedder": "services.embedder.config:EmbedderSettings",
    "retriever": "services.retriever.config:RetrieverSettings",
    "generator": "services.generator.config:GeneratorSettings",
    "ingest": "services.ingest.config:IngestSettings",
}


def _settings_fields(component: str) -> set[str]:
    import importlib

    module, name = SETTINGS[component].split(":")
    return set(getattr(importlib.import_module(module), name).model_fields)


def _secret_files(pod: dict) -> set[str]:
    return {
        item["path"]
        for volume in pod.get("volumes", [])
        for source in volume.get("projected", {}).get("sources", [])
        for item in source["secret"]["items"]
    }


@pytest.mark.parametrize("overrides", [{}, {"internalAuth": {"mode": "mtls", "mtls": {"issuerRef": {"name": "ca"}}}}])
def test_every_setting_the_chart_sets_is_read_by_the_process(rendered, overrides):
    """Each RAGMESH_<SERVICE>_<NAME> variable and each secret file is a field of that service's settings."""
    name, _, _ = rendered
    objects = render(load_values(VALUE_SETS[name], overrides))
    for deployment in _of(objects, "Deployment").values():
        component = _component(deployment)
        if component not in SETTINGS:
            continue
        fields = _settings_fields(component)
        pod = deployment["spec"]["template"]["spec"]
        prefix = f"RAGMESH_{component.upper()}_"
        for env in pod["containers"][0]["env"]:
            if env["name"].startswith(prefix):
                assert env["name"][len(prefix) :].lower() in fields, (component, env["name"])
        for path in _secret_files(pod):
            assert path.startswith(f"ragmesh_{component}_") and path[len(f"ragmesh_{component}_") :] in fields, path


def _env(deployment: dict) -> dict[str, dict]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_by_default_services_authenticate_each_other_and_every_store_has_a_credential():
    objects = render(load_values([]))
    deployments = {_component(d): d for d in _of(objects, "Deployment").values()}
    for component, deployment in deployments.items():
        assert _env(deployment)[f"RAGMESH_{component.upper()}_PEER_AUTH"]["value"] == "token"
        files = _secret_files(deployment["spec"]["template"]["spec"])
        assert (f"ragmesh_{component}_peer_token" in files) == (component in ("gateway", "ingest")), component
        assert (f"ragmesh_{component}_peer_tokens" in files) == (component != "gateway"), component
    gateway = deployments["gateway"]
    assert "ragmesh_gateway_database_url" in _secret_files(gateway["spec"]["template"]["spec"])
    # Ingest replicas share the catalogue, jobs and write leases through the same database (their own tables).
    assert "ragmesh_ingest_database_url" in _secret_files(deployments["ingest"]["spec"]["template"]["spec"])
    assert "ragmesh_gateway_redis_password" in _secret_files(gateway["spec"]["template"]["spec"])
    assert "ragmesh_ingest_redis_password" in _secret_files(deployments["ingest"]["spec"]["template"]["spec"])
    assert "ragmesh_retriever_qdrant_api_key" in _secret_files(deployments["retriever"]["spec"]["template"]["spec"])
    stores = {
        _component(s): s["spec"]["template"]["spec"]["containers"][0] for s in _of(objects, "StatefulSet").values()
    }
    assert "--requirepass" in stores["redis"]["command"][-1] and "env" not in stores["redis"]
    assert {e["name"] for e in stores["qdrant"]["env"]} == {"QDRANT__SERVICE__API_KEY"}
    postgres = {e["name"]: e for e in stores["postgresql"]["env"]}
    assert postgres["POSTGRES_PASSWORD_FILE"]["value"] == "/etc/postgresql-auth/password"


def test_mtls_issues_a_certificate_per_service_and_probes_a_plaintext_health_port():
    values = load_values([], {"internalAuth": {"mode": "mtls", "mtls": {"issuerRef": {"name": "internal-ca"}}}})
    objects = render(values, release="rm", namespace="prod")
    certificates = _of(objects, "Certificate")
    assert {c["spec"]["commonName"] for c in certificates.values()} == set(SERVICES)
    embedder = _of(objects, "Deployment")["rm-ragmesh-embedder"]
    pod = embedder["spec"]["template"]["spec"]
    assert certificates["rm-ragmesh-embedder"]["spec"]["secretName"] == "rm-ragmesh-embedder-tls"
    assert "rm-ragmesh-embedder-headless" in certificates["rm-ragmesh-embedder"]["spec"]["dnsNames"]
    assert {v["name"]: v for v in pod["volumes"]}["tls"]["secret"]["secretName"] == "rm-ragmesh-embedder-tls"
    container = pod["containers"][0]
    assert container["readinessProbe"]["grpc"]["port"] == 50100 != container["ports"][0]["containerPort"]
    env = _env(embedder)
    assert env["RAGMESH_EMBEDDER_PEER_NAMES"]["value"] == '["gateway","ingest"]'
    assert env["RAGMESH_EMBEDDER_HEALTH_PORT"]["value"] == "50100"
    assert not any("peer_token" in f for f in _secret_files(pod))


def test_every_plain_value_the_chart_sets_parses_into_the_processs_settings(rendered, monkeypatch):
    """The chart's values reach each process in the shape it reads (tiers in camelCase JSON, rate limits, ...)."""
    import importlib

    _, _, objects = rendered
    for deployment in _of(objects, "Deployment").values():
        component = _component(deployment)
        if component not in SETTINGS:
            continue
        prefix = f"RAGMESH_{component.upper()}_"
        for env in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
            if env["name"].startswith(prefix) and "value" in env:
                monkeypatch.setenv(env["name"], env["value"])
        module, settings_class = SETTINGS[component].split(":")
        settings = getattr(importlib.import_module(module), settings_class)()
        if component == "gateway":
            assert settings.tiers["free"].llm_options is False and settings.default_tier == "standard"


def test_the_budget_alert_webhook_url_comes_from_a_secret_when_one_is_named():
    objects = render(load_values([], {"budgets": {"alertWebhook": {"existingSecret": "alerts", "secretKey": "slack"}}}))
    gateway = next(d for d in _of(objects, "Deployment").values() if _component(d) == "gateway")
    env = _env(gateway)
    assert env["RAGMESH_GATEWAY_BUDGET_ALERT_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "alerts",
        "key": "slack",
    }


def test_the_key_of_askers_pseudonyms_comes_from_a_secret_when_one_is_named():
    for secret, expected in (("", False), ("ragmesh-learning", True)):
        objects = render(load_values([], {"learning": {"interactionSecret": secret}}))
        gateway = next(d for d in _of(objects, "Deployment").values() if _component(d) == "gateway")
        files = _secret_files(gateway["spec"]["template"]["spec"])
        assert ("ragmesh_gateway_interaction_secret" in files) is expected


def test_adapter_artifacts_go_to_the_named_store_with_keys_from_a_secret_else_the_pods_scratch_space():
    store = {"url": "s3://models/learning", "region": "eu-west-1", "existingSecret": "learning-store"}
    for values, url, files in (({}, "file:///tmp/ragmesh-artifacts", False), (store, store["url"], True)):
        objects = render(load_values([], {"learning": {"artifactStore": values}}))
        gateway = next(d for d in _of(objects, "Deployment").values() if _component(d) == "gateway")
        assert _env(gateway)["RAGMESH_GATEWAY_ARTIFACT_STORE_URL"]["value"] == url
        mounted = _secret_files(gateway["spec"]["template"]["spec"])
        assert ("ragmesh_gateway_artifact_s3_secret_access_key" in mounted) is files
        assert ("ragmesh_gateway_artifact_s3_access_key_id" in mounted) is files


def test_every_process_drains_for_the_grace_its_pod_is_given(rendered):
    """The chart gives each pod a termination grace; the process drains for that, less preStop and a margin."""
    _, _, objects = rendered
    for deployment in _of(objects, "Deployment").values():
        component = _component(deployment)
        if component not in SETTINGS:
            continue
        pod = deployment["spec"]["template"]["spec"]
        grace = float(_env(deployment)[f"RAGMESH_{component.upper()}_GRACE_SECONDS"]["value"])
        pre_stop = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
        assert 0 < grace <= pod["terminationGracePeriodSeconds"] - pre_stop, component
        assert grace >= pod["terminationGracePeriodSeconds"] - pre_stop - 5, component


def test_the_caches_can_have_a_redis_of_their_own_in_the_chart_or_outside():
    objects = render(load_values([], {"cacheRedis": {"deploy": True}, "redis": {"maxmemoryPolicy": "noeviction"}}))
    stores = {
        _component(s): s["spec"]["template"]["spec"]["containers"][0] for s in _of(objects, "StatefulSet").values()
    }
    state, caches = stores["redis"]["command"][-1], stores["cache-redis"]["command"][-1]
    assert "--maxmemory-policy noeviction" in state and "--appendonly yes" in state
    assert "--maxmemory-policy allkeys-lru" in caches and "--appendonly no" in caches and "--requirepass" in caches
    gateway = next(d for d in _of(objects, "Deployment").values() if _component(d) == "gateway")
    assert _env(gateway)["RAGMESH_GATEWAY_CACHE_REDIS_URL"]["value"].startswith("redis://")
    assert "ragmesh_gateway_cache_redis_password" in _secret_files(gateway["spec"]["template"]["spec"])
    assert ("gateway", "cache-redis") in _allowed_paths(objects)
    # Outside the chart: its URL (with any password) comes from a Secret.
    objects = render(load_values([EXAMPLES / "values-production.yaml"]))
    gateway = next(d for d in _of(objects, "Deployment").values() if _component(d) == "gateway")
    assert "ragmesh_gateway_cache_redis_url" in _secret_files(gateway["spec"]["template"]["spec"])
    assert "cache-redis" not in {_component(s) for s in _of(objects, "StatefulSet").values()}


def test_every_service_serves_metrics_and_the_operator_objects_come_from_deploy_monitoring():

    monitoring = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
    on = {"enabled": True}
    values = load_values(
        [EXAMPLES / "values-production.yaml"],
        {"observability": {"serviceMonitor": on, "prometheusRule": on, "dashboards": on}},
    )
    objects = render(values, release="rm", namespace="prod")
    assert not validate(objects)
    for deployment in _of(objects, "Deployment").values():
        component = _component(deployment)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"} in container["ports"]
        assert _env(deployment)[f"RAGMESH_{component.upper()}_METRICS_PORT"]["value"] == str(METRICS_PORT)
    for service in SERVICES:
        ports = {p["name"]: p for p in _of(objects, "Service")[f"rm-ragmesh-{service}"]["spec"]["ports"]}
        assert ports["metrics"]["targetPort"] == "metrics"
    (monitor,) = _of(objects, "ServiceMonitor").values()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (rule,) = _of(objects, "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load((monitoring / "alerts.yaml").read_text())
    dashboards = _of(objects, "ConfigMap")["rm-ragmesh-dashboards"]
    shipped = {f"ragmesh-{p.name}": json.loads(p.read_text()) for p in (monitoring / "dashboards").glob("*.json")}
    assert {key: json.loads(text) for key, text in dashboards["data"].items()} == shipped
    # Off by default: a cluster without the operator's CRDs installs cleanly.
    default = render(load_values([]))
    assert not _of(default, "ServiceMonitor") and not _of(default, "PrometheusRule")


def test_the_generator_can_scale_on_generations_in_flight_and_a_service_without_such_a_gauge_cannot():
    import helm_python as helm

    values = load_values([], {"services": {"generator": {"autoscaling": {"inFlightTarget": 4}}}})
    hpa = _of(render(values), "HorizontalPodAutoscaler")["ragmesh-generator"]
    pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods == [
        {
            "metric": {"name": "ragmesh_generator_in_flight_generations"},
            "target": {"type": "AverageValue", "averageValue": "4"},
        }
    ]
    with pytest.raises(helm.HelmError, match="exports no in-flight gauge"):
        render(load_values([], {"services": {"retriever": {"autoscaling": {"inFlightTarget": 4}}}}))


def test_the_scheduled_evaluation_runs_as_a_hardened_cronjob_the_gateway_lets_in():
    objects = render(load_values([EXAMPLES / "values-production.yaml"]), release="rm", namespace="prod")
    job = _of(objects, "CronJob")["rm-ragmesh-evaluation"]
    assert job["spec"]["schedule"] == "17 * * * *" and job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["ragmesh", "evaluate"] and pod["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in container["env"]}
    assert env["RAGMESH_URL"]["value"] == "http://rm-ragmesh-gateway:8080"
    # The key is a file from the Secret, never an environment variable.
    assert env["RAGMESH_API_KEY_FILE"]["value"] == "/secrets/key/api-key" and "RAGMESH_API_KEY" not in env
    assert {v["name"]: v for v in pod["volumes"]}["api-key"]["secret"]["secretName"] == "ragmesh-evaluation-key"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True
    labels = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    gateway = _of(objects, "NetworkPolicy")["rm-ragmesh-gateway"]
    callers = [peer.get("podSelector", {}).get("matchLabels") for peer in gateway["spec"]["ingress"][0]["from"]]
    assert labels in callers
    # Off by default; on without a key Secret, the chart refuses to render.
    assert not _of(render(load_values([])), "CronJob")
    with pytest.raises(Exception, match=r"evaluation\.apiKeySecret"):
        render(
            load_values([])
            | {"evaluation": {"enabled": True, "schedule": "0 * * * *", "apiKeySecret": "", "deadlineSeconds": 900}}
        )


def test_nightly_snapshots_go_to_the_bucket_through_the_cli_with_file_credentials():
    values = load_values([EXAMPLES / "values-production.yaml"])
    values["snapshots"] |= {"endpoint": "https://s3.example.net", "credentialsSecret": "ragmesh-s3"}
    job = _of(render(values, release="rm", namespace="prod"), "CronJob")["rm-ragmesh-snapshots"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["ragmesh", "export", "--last-day", "--to", "s3://ragmesh-datasets/interactions"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RAGMESH_S3_ENDPOINT"] == "https://s3.example.net"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/secrets/aws/credentials"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["aws"]["secret"]["secretName"] == "ragmesh-s3" and job["spec"]["schedule"] == "10 0 * * *"
    with pytest.raises(Exception, match=r"snapshots\.to"):
        render(load_values([]) | {"snapshots": {**values["snapshots"], "to": ""}})
