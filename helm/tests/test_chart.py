"""The Helm chart in helm/switchboard, rendered offline (helm-python-sdk embeds Helm's own
library) and checked the way a reviewer would: strict lint, every manifest valid for a current
Kubernetes, probes, resources, hooks, secrets, drains, CronJobs, the schema and the docs."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "switchboard"
TEST_VALUES = yaml.safe_load((CHART / "ci" / "test-values.yaml").read_text())
EXISTING_SECRET = "switchboard-secrets"  # noqa: S105 - a Secret object's name

# The oldest version the pinned kubernetes-validate (>=1.33) surely knows, and the newest the
# installed one knows: an API removed since 1.33 fails the second.
KUBERNETES_VERSIONS = sorted({"1.33.0", kubernetes_validate.latest_version()})

POD_TMP = "/tmp"  # noqa: S108 - the pods' scratch emptyDir, not this machine's
HEARTBEAT_FILE = f"{POD_TMP}/switchboard-worker.heartbeat"
MIGRATION_URL_KEY = "SWITCHBOARD_MIGRATION_DATABASE_URL"


def merged(*layers: dict) -> dict:
    """Values layered like `helm -f a -f b`: later maps win, key by key."""
    result: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


WITH_EXISTING_SECRET = {"secrets": {"existingSecret": EXISTING_SECRET}}
SCENARIOS = {
    # The chart's own defaults need secrets from somewhere: the operator's Secret is the
    # documented way.
    "defaults": WITH_EXISTING_SECRET,
    "ci-test-values": TEST_VALUES,
    "ingress-and-existing-secret": merged(
        WITH_EXISTING_SECRET,
        {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                "tls": [{"secretName": "switchboard-tls", "hosts": ["switchboard.example.com"]}],
            }
        },
    ),
    "autoscaling-disabled": merged(
        TEST_VALUES, {"api": {"autoscaling": {"enabled": False}, "replicas": 3}}
    ),
}


def render(values: dict | None = None, *, name: str = "sb") -> dict[str, str]:
    """The chart's templates rendered as `helm upgrade` would: {template path: text}."""
    with helm_python.Chart.load(CHART) as chart:
        return chart.render(values or {}, name=name, namespace="ops", is_upgrade=True)


def manifests(values: dict | None = None, *, name: str = "sb") -> list[dict]:
    """Every object the chart renders (NOTES.txt and empty documents left out)."""
    objects = []
    for path, text in sorted(render(values, name=name).items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str, component: str) -> dict:
    [found] = [
        o
        for o in by_kind(objects, kind)
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    return found


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in {"Deployment", "Job", "CronJob"}]


def containers(objects: list[dict]) -> list[tuple[str, dict]]:
    """(object name, container) for every container of every workload."""
    return [
        (o["metadata"]["name"], c)
        for o in workloads(objects)
        for c in pod_spec(o)["containers"] + pod_spec(o).get("initContainers", [])
    ]


def command_line(container: dict) -> str:
    return " ".join(container.get("command", []) + container.get("args", []))


def flask_commands(text: str) -> set[str]:
    """Each `flask --app wsgi <group> <command>` in a text, as "group command"."""
    found = set()
    for match in re.finditer(r"flask --app wsgi((?: [a-z][a-z-]*)+)", text):
        found.add(match.group(1).strip())
    return found


def cli_commands() -> set[str]:
    """The leaf commands app/cli.py defines ("db upgrade", "worker", ...), read from its
    source: AppGroup("name") groups, @group.command("name") and @click.command("name")."""
    tree = ast.parse((ROOT / "app" / "cli.py").read_text())
    groups: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "AppGroup"
        ):
            groups[node.targets[0].id] = node.value.args[0].value
    commands = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                continue
            owner, name = decorator.func.value, decorator.args[0].value
            if decorator.func.attr == "command" and getattr(owner, "id", None) in groups:
                commands.add(f"{groups[owner.id]} {name}")
            elif decorator.func.attr == "command" and getattr(owner, "id", None) == "click":
                commands.add(name)
    return commands


# --- lint and Kubernetes validity ------------------------------------------------------------


@pytest.mark.parametrize("values", [{}, TEST_VALUES], ids=["defaults", "ci-test-values"])
def test_chart_lints_clean_in_strict_mode(values):
    result = helm_python.lint(CHART, values, strict=True)

    assert result["errors"] == []
    # Severity 1 is INFO ("icon is recommended"); anything above is a warning or an error.
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_default_values_alone_refuse_to_render_without_secrets():
    with pytest.raises(helm_python.HelmRenderError, match=r"secrets\.databaseUrl is required"):
        render({})


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly_against_kubernetes(scenario, version):
    objects = manifests(SCENARIOS[scenario])

    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "CronJob", "Job", "PodDisruptionBudget"} <= kinds
    for obj in objects:
        # Raises SchemaNotFoundError for an unknown kind/apiVersion, ValidationError otherwise.
        kubernetes_validate.validate(obj, version, strict=True)


def test_scenarios_render_what_they_switch_on():
    assert by_kind(manifests(SCENARIOS["ingress-and-existing-secret"]), "Ingress")
    fixed = manifests(SCENARIOS["autoscaling-disabled"])
    assert by_kind(fixed, "HorizontalPodAutoscaler") == []
    assert one(fixed, "Deployment", "api")["spec"]["replicas"] == 3
    autoscaled = manifests(TEST_VALUES)
    assert "replicas" not in one(autoscaled, "Deployment", "api")["spec"]  # the HPA owns it
    hpa = one(autoscaled, "HorizontalPodAutoscaler", "api")
    assert (
        hpa["spec"]["scaleTargetRef"]["name"]
        == one(autoscaled, "Deployment", "api")["metadata"]["name"]
    )


def test_the_sign_in_throttle_sees_client_addresses_through_the_charts_ingress():
    def hops(values: dict) -> str:
        [config] = by_kind(manifests(values), "ConfigMap")
        return config["data"]["SWITCHBOARD_TRUSTED_PROXY_HOPS"]

    # Behind the chart's Ingress the TCP peer is the ingress controller: one hop is trusted.
    assert hops(SCENARIOS["ingress-and-existing-secret"]) == "1"
    # Without it nothing appends X-Forwarded-For, and trusting one would let a caller forge it.
    assert hops(TEST_VALUES) == "0"
    assert hops(merged(TEST_VALUES, {"config": {"trustedProxyHops": 2}})) == "2"


# --- what every container must have ----------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_requests_and_limits_cpu_and_memory(scenario):
    objects = manifests(SCENARIOS[scenario])

    assert len(by_kind(objects, "Deployment")) == 2
    for name, container in containers(objects):
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (name, bound)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_runs_as_non_root_on_a_read_only_root_filesystem(scenario):
    objects = manifests(SCENARIOS[scenario])

    for obj in workloads(objects):
        assert pod_spec(obj)["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        mounts = {v["name"] for v in pod_spec(obj)["volumes"] if "emptyDir" in v}
        for container in pod_spec(obj)["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            # With a read-only root, /tmp must be writable scratch space.
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == POD_TMP]
            assert tmp and tmp[0]["name"] in mounts


def test_every_container_keeps_the_app_instance_folder_on_a_writable_volume():
    """The app creates its instance folder at start; on a read-only root it must be told
    (SWITCHBOARD_INSTANCE_PATH) to use the emptyDir mounted for it."""
    values = merged(TEST_VALUES, {"instancePath": "/srv/instance"})

    for obj in workloads(manifests(values)):
        writable = {v["name"] for v in pod_spec(obj)["volumes"] if "emptyDir" in v}
        for container in pod_spec(obj)["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env.get("SWITCHBOARD_INSTANCE_PATH") == "/srv/instance", obj["metadata"]["name"]
            mounted = [m for m in container["volumeMounts"] if m["mountPath"] == "/srv/instance"]
            assert mounted and mounted[0]["name"] in writable, obj["metadata"]["name"]


# --- probes ----------------------------------------------------------------------------------


def test_api_is_live_on_healthz_and_ready_on_readyz():
    api = one(manifests(TEST_VALUES), "Deployment", "api")
    [container] = pod_spec(api)["containers"]

    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_the_app_proves_liveness_does_not_depend_on_the_database():
    # The chart restarts pods on /healthz only because the app's own suite shows /healthz stays
    # 200 while /readyz answers 503 with the database unreachable. If that test goes, so does
    # the reason for this probe layout.
    suite = (ROOT / "tests" / "test_health_and_docs.py").read_text()
    [body] = re.findall(
        r"def test_healthz_does_not_depend_on_the_database\(.*?(?=\ndef |\Z)", suite, re.S
    )
    assert 'get("/healthz").status_code == 200' in body
    assert 'get("/readyz"), 503' in body


def test_api_binds_the_port_its_probes_and_service_use():
    objects = manifests(merged(TEST_VALUES, {"api": {"port": 9000}}))
    [container] = pod_spec(one(objects, "Deployment", "api"))["containers"]

    env = {e["name"]: e.get("value") for e in container["env"]}
    # gunicorn.conf.py binds $PORT; the image's default is 8000.
    assert env["PORT"] == "9000"
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert by_kind(objects, "Service")[0]["spec"]["ports"][0]["targetPort"] == "http"


def _worker(values: dict) -> dict:
    [container] = pod_spec(one(manifests(values), "Deployment", "worker"))["containers"]
    return container


def _probe_exit_code(container: dict, heartbeat: Path) -> int:
    """Run the worker's liveness command for real, against `heartbeat`."""
    command = container["livenessProbe"]["exec"]["command"]
    assert command[0] == "python"  # the image's venv python; here, this interpreter
    env = {**os.environ, "SWITCHBOARD_WORKER_HEARTBEAT_FILE": str(heartbeat)}
    return subprocess.run(  # noqa: S603 - the chart's own probe, no shell
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=30
    ).returncode


def test_worker_liveness_checks_a_heartbeat_file_on_the_tmp_emptydir():
    container = _worker(TEST_VALUES)

    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SWITCHBOARD_WORKER_HEARTBEAT_FILE"] == HEARTBEAT_FILE
    assert POD_TMP in {m["mountPath"] for m in container["volumeMounts"]}
    command = container["livenessProbe"]["exec"]["command"]
    assert "import wsgi" not in " ".join(command)  # importing the app proves no progress


def test_worker_liveness_fails_on_a_stale_or_missing_heartbeat(tmp_path):
    container = _worker(merged(TEST_VALUES, {"worker": {"heartbeatMaxAgeSeconds": 120}}))
    heartbeat = tmp_path / "heartbeat"

    assert _probe_exit_code(container, heartbeat) != 0  # never touched
    heartbeat.touch()
    assert _probe_exit_code(container, heartbeat) == 0
    now = time.time()
    os.utime(heartbeat, (now - 100, now - 100))
    assert _probe_exit_code(container, heartbeat) == 0
    os.utime(heartbeat, (now - 130, now - 130))
    assert _probe_exit_code(container, heartbeat) != 0


def test_worker_heartbeat_allows_five_minutes_by_default(tmp_path):
    container = _worker(TEST_VALUES)
    heartbeat = tmp_path / "heartbeat"
    heartbeat.touch()
    now = time.time()

    os.utime(heartbeat, (now - 290, now - 290))
    assert _probe_exit_code(container, heartbeat) == 0
    os.utime(heartbeat, (now - 310, now - 310))
    assert _probe_exit_code(container, heartbeat) != 0


# --- migrations and secrets ------------------------------------------------------------------


def test_migration_job_is_a_pre_install_pre_upgrade_hook_recreated_each_time():
    job = one(manifests(TEST_VALUES), "Job", "migration")
    annotations = job["metadata"]["annotations"]

    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"].split(",")
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert pod_spec(job)["containers"][0]["command"] == ["flask", "--app", "wsgi", "db", "upgrade"]


def test_migration_hook_gets_its_secret_before_it_runs():
    objects = manifests(TEST_VALUES)
    job = one(objects, "Job", "migration")
    [copy_] = [
        s
        for s in by_kind(objects, "Secret")
        if "helm.sh/hook" in s["metadata"].get("annotations", {})
    ]

    # Hooks run before the release's own Secret exists: the Job reads a hook copy made first.
    assert (
        copy_["metadata"]["annotations"]["helm.sh/hook"]
        == job["metadata"]["annotations"]["helm.sh/hook"]
    )
    assert int(copy_["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod_spec(job)["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {copy_["metadata"]["name"]}
    assert MIGRATION_URL_KEY in copy_["data"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_the_migration_hook_gets_the_owner_database_url(scenario):
    objects = manifests(SCENARIOS[scenario])

    holders = set()
    for name, container in containers(objects):
        # A whole-Secret envFrom would hand every key, the owner's URL included, to the app.
        assert all("secretRef" not in source for source in container.get("envFrom", [])), name
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef", {})
            if MIGRATION_URL_KEY in (env["name"], ref.get("key")):
                holders.add(name)
    assert holders == {one(objects, "Job", "migration")["metadata"]["name"]}
    # The chart's long-lived Secret, which the app's pods read, does not hold it either.
    for secret in by_kind(objects, "Secret"):
        if "helm.sh/hook" not in secret["metadata"].get("annotations", {}):
            assert MIGRATION_URL_KEY not in secret["data"]


def test_existing_secret_mode_renders_no_secret_and_references_the_named_one():
    objects = manifests(WITH_EXISTING_SECRET)

    assert by_kind(objects, "Secret") == []
    names = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for _, container in containers(objects)
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert names == {EXISTING_SECRET}


def test_chart_made_secret_is_referenced_by_the_app_pods():
    objects = manifests(TEST_VALUES)
    [secret] = [s for s in by_kind(objects, "Secret") if not s["metadata"].get("annotations")]

    for kind, component in [("Deployment", "api"), ("Deployment", "worker")]:
        env = pod_spec(one(objects, kind, component))["containers"][0]["env"]
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
        assert refs == {secret["metadata"]["name"]}


def _checksums(values: dict) -> dict[str, dict[str, str]]:
    return {
        o["metadata"]["name"]: {
            key: value
            for key, value in (
                o["spec"]["template"]["metadata"].get("annotations", {})
                if o["kind"] == "Deployment"
                else o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
            ).items()
            if key.startswith("checksum/")
        }
        for o in workloads(manifests(values))
        if o["kind"] in {"Deployment", "CronJob"}
    }


def test_pods_roll_when_their_config_or_secret_changes():
    before = _checksums(TEST_VALUES)
    config_changed = _checksums(merged(TEST_VALUES, {"config": {"oauthIssuer": "https://sb.io"}}))
    secret_changed = _checksums(merged(TEST_VALUES, {"secrets": {"secretKey": "rotated"}}))

    assert _checksums(TEST_VALUES) == before  # the same values render the same pods
    assert len(before) == 7  # API, worker, five CronJobs
    for name, sums in before.items():
        assert config_changed[name]["checksum/config"] != sums["checksum/config"], name
        assert config_changed[name]["checksum/secret"] == sums["checksum/secret"], name
        assert secret_changed[name]["checksum/secret"] != sums["checksum/secret"], name


# --- draining and scaling --------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pdb_leaves_room_to_drain(scenario):
    objects = manifests(SCENARIOS[scenario])
    pdb = one(objects, "PodDisruptionBudget", "api")
    api = one(objects, "Deployment", "api")

    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["maxUnavailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    "api",
    [
        {"podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 2}},
        {"podDisruptionBudget": {"maxUnavailable": None, "minAvailable": "100%"}},
        {"podDisruptionBudget": {"maxUnavailable": None, "minAvailable": "75%"}},  # 2 of 2
        {
            "podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 3},
            "autoscaling": {"enabled": False},
            "replicas": 3,
        },
    ],
    ids=["2-of-2", "100pct", "75pct-rounds-up", "3-of-3-fixed"],
)
def test_pdb_that_would_block_every_drain_is_refused_with_a_clear_message(api):
    values = merged(TEST_VALUES, {"api": merged({"autoscaling": {"minReplicas": 2}}, api)})

    with pytest.raises(helm_python.HelmRenderError, match="no node could ever be drained"):
        render(values)


def test_pdb_with_min_available_below_the_floor_renders():
    values = merged(
        TEST_VALUES,
        {"api": {"podDisruptionBudget": {"maxUnavailable": None, "minAvailable": "50%"}}},
    )

    pdb = one(manifests(values), "PodDisruptionBudget", "api")
    assert pdb["spec"]["minAvailable"] == "50%"
    assert "maxUnavailable" not in pdb["spec"]


# --- CronJobs and the commands every process runs -------------------------------------------


def test_cronjobs_never_overlap_and_run_the_apps_own_commands():
    cronjobs = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o
        for o in by_kind(manifests(TEST_VALUES), "CronJob")
    }

    expected = {
        "sla-scan": {"sla scan"},
        "billing-close": {"billing close"},
        "tenants-purge": {"tenants purge"},
        "suspend-past-due": {"billing suspend-past-due"},
        "personal-data": {"contacts purge-personal-data"},
    }
    assert set(cronjobs) == set(expected)
    for component, cronjob in cronjobs.items():
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid", component
        [container] = pod_spec(cronjob)["containers"]
        assert flask_commands(command_line(container)) == expected[component]
        assert pod_spec(cronjob)["restartPolicy"] == "Never"


def test_every_flask_command_in_the_chart_is_defined_in_app_cli():
    rendered = render(TEST_VALUES)
    used = set()
    for _, container in containers(manifests(TEST_VALUES)):
        used |= flask_commands(command_line(container))
    used |= flask_commands(rendered["switchboard/templates/NOTES.txt"])

    assert {"db upgrade", "worker", "sla scan", "billing close", "tenants purge"} <= used
    assert used <= cli_commands(), used - cli_commands()


FLASK = ROOT / ".venv" / "bin" / "flask"


@pytest.mark.skipif(not FLASK.exists(), reason="no .venv: `make install` first")
def test_every_flask_command_in_the_chart_answers_help_in_the_real_cli(tmp_path):
    used = set()
    for _, container in containers(manifests(TEST_VALUES)):
        used |= flask_commands(command_line(container))
    used |= flask_commands(render(TEST_VALUES)["switchboard/templates/NOTES.txt"])
    # Loading the app must write nothing into the checkout's instance folder (it would generate
    # a secret key and a JWT key there) and touch no database: give it all three.
    key = subprocess.run(  # noqa: S603 - the app's own interpreter, no shell
        [
            FLASK.parent / "python",
            "-c",
            "from cryptography.hazmat.primitives import serialization as s;"
            "from cryptography.hazmat.primitives.asymmetric import ec;"
            "print(ec.generate_private_key(ec.SECP256R1()).private_bytes(s.Encoding.PEM,"
            " s.PrivateFormat.PKCS8, s.NoEncryption()).decode())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "SWITCHBOARD_SECRET_KEY": "chart-test",
        "SWITCHBOARD_JWT_PRIVATE_KEY": key,
    }
    before = sorted((ROOT / "instance").iterdir())

    for command in sorted(used):
        result = subprocess.run(  # noqa: S603 - the project's own CLI, no shell
            [FLASK, "--app", "wsgi", *command.split(), "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (command, result.stderr)
        # A group's --help also exits 0: a command's help shows its own usage line.
        assert f"Usage: flask {command} [OPTIONS]" in result.stdout, (command, result.stdout)
    assert sorted((ROOT / "instance").iterdir()) == before


def test_billing_close_closes_the_previous_utc_month():
    cronjob = one(manifests(TEST_VALUES), "CronJob", "billing-close")
    [container] = pod_spec(cronjob)["containers"]
    [script] = container["args"]
    assert container["command"] == ["/bin/sh", "-c"]
    assert script.endswith('billing close "$month"')
    assignment = script.split(" && ")[0]
    assert assignment.startswith("month=")

    before = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    shown = subprocess.run(  # noqa: S603 - the CronJob's own shell, as the pod runs it
        ["/bin/sh", "-c", f'{assignment} && echo "$month"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    after = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    assert shown in {before.strftime("%Y-%m"), after.strftime("%Y-%m")}


def test_commands_match_the_dockerfile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    objects = manifests(TEST_VALUES)
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)
    [user] = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)

    api = pod_spec(one(objects, "Deployment", "api"))["containers"][0]
    assert api["command"] == json.loads(cmd) == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    worker = pod_spec(one(objects, "Deployment", "worker"))["containers"][0]
    migrate = pod_spec(one(objects, "Job", "migration"))["containers"][0]
    # The Dockerfile's header lists what the image runs; the chart runs exactly that.
    assert shlex.join(worker["command"]) in dockerfile
    assert shlex.join(migrate["command"]) in dockerfile
    assert " ".join(str(i) for i in user) == "10001 10001"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(user[0])
    assert values["containerSecurityContext"]["runAsUser"] == int(user[0])
    # The instance folder the chart mounts an emptyDir on is where the image puts it.
    assert f"mkdir -p {values['instancePath']}" in dockerfile


# --- values.schema.json ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"api": {"replicas": 0}}, "/api/replicas"),
        ({"worker": {"replicas": 1.5}}, "/worker/replicas"),
        ({"image": {"tag": ""}}, "/image/tag"),
        ({"replicaCount": 3}, "replicaCount"),
        ({"cronjobs": {"slaScan": {"schedule": 5}}}, "/cronjobs/slaScan/schedule"),
        ({"cronjobs": {"slaScan": {"schedule": "every minute"}}}, "/cronjobs/slaScan/schedule"),
        ({"api": {"resources": {"limits": None}}}, "/api/resources"),
        ({"worker": {"heartbeatMaxAgeSeconds": 10}}, "/worker/heartbeatMaxAgeSeconds"),
        ({"containerSecurityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRoot"),
        # Both bounds at once: maxUnavailable (a default) must be nulled to use minAvailable.
        ({"api": {"podDisruptionBudget": {"minAvailable": 1}}}, "maxUnavailable"),
    ],
    ids=[
        "replicas-0",
        "worker-replicas-1.5",
        "empty-tag",
        "unknown-top-level-key",
        "schedule-number",
        "schedule-words",
        "resources-without-limits",
        "heartbeat-too-short",
        "writable-root",
        "pdb-both-bounds",
    ],
)
def test_values_schema_rejects_bad_values(bad, where):
    with pytest.raises(helm_python.HelmValuesError) as caught:
        render(merged(TEST_VALUES, bad))

    assert where in str(caught.value)


# --- names, NOTES and the README -------------------------------------------------------------


def test_object_names_fit_kubernetes_limits_with_the_longest_release_name():
    release = "a-release-name-as-long-as-helm-allows-fifty-three-chr"
    assert len(release) == 53
    objects = manifests(merged(TEST_VALUES, {"ingress": {"enabled": True}}), name=release)

    for obj in objects:
        name = obj["metadata"]["name"]
        # Services and Jobs become DNS labels / label values (63); a CronJob appends an
        # 11-character suffix to its Jobs' names (52).
        limit = {"Service": 63, "Job": 63, "CronJob": 52}.get(obj["kind"], 253)
        assert len(name) <= limit, (obj["kind"], name)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63, value


def test_notes_name_objects_the_chart_makes():
    for values in (TEST_VALUES, SCENARIOS["ingress-and-existing-secret"]):
        notes = render(values)["switchboard/templates/NOTES.txt"]
        names = {(o["kind"], o["metadata"]["name"]) for o in manifests(values)}

        mentioned = re.findall(r"\b(deployment|deploy|service)/([a-z0-9-]+)", notes)
        assert mentioned
        for kind, name in mentioned:
            kind = {"deploy": "Deployment", "deployment": "Deployment"}.get(kind, "Service")
            assert (kind, name) in names, (kind, name)
        secret = EXISTING_SECRET if values is not TEST_VALUES else "sb-switchboard"
        assert f"Secret {secret}" in notes


def _readme_block(containing: str) -> str:
    """The helm/README.md shell block that contains `containing`, dedented."""
    readme = (ROOT / "helm" / "README.md").read_text()
    blocks = re.findall(r"^( *)```sh\n(.*?)^\1```", readme, re.S | re.M)
    [block] = [textwrap.dedent(body) for _, body in blocks if containing in body]
    return block


def test_readme_install_command_renders_valid_manifests():
    block = _readme_block("helm upgrade --install").replace("\\\n", " ")
    [command] = [line for line in block.splitlines() if "helm upgrade --install" in line]
    words = shlex.split(command)
    assert words[:4] == ["helm", "upgrade", "--install", "switchboard"]
    assert words[4] == "helm/switchboard"
    sets = [words[i + 1] for i, word in enumerate(words) if word == "--set"]
    values = helm_python.parse_set_string(",".join(sets))

    objects = manifests(values)
    assert by_kind(objects, "Ingress")
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)


def test_readme_secret_holds_every_key_the_chart_reads():
    block = _readme_block("create secret generic")
    keys = {
        env["valueFrom"]["secretKeyRef"]["key"]
        for _, container in containers(manifests(WITH_EXISTING_SECRET))
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }

    assert MIGRATION_URL_KEY in keys
    for key in keys:
        assert re.search(rf"--from-(literal|file)={key}=", block), key


# --- metrics ---------------------------------------------------------------------------------


def test_api_pods_announce_their_metrics_port_and_can_require_a_token():
    values = merged(TEST_VALUES, {"secrets": {"metricsToken": "scrape-me"}})
    objects = manifests(values)
    api = one(objects, "Deployment", "api")
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    container = pod_spec(api)["containers"][0]
    port = container["ports"][0]["containerPort"]
    secret = next(o for o in by_kind(objects, "Secret") if "SWITCHBOARD_DATABASE_URL" in o["data"])
    token_env = [e for e in container["env"] if e["name"] == "SWITCHBOARD_METRICS_TOKEN"]

    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(port)
    assert "SWITCHBOARD_METRICS_TOKEN" in secret["data"]
    assert token_env and token_env[0]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_notes_warn_when_the_ingress_makes_metrics_public():
    public = merged(TEST_VALUES, {"ingress": {"enabled": True}})
    guarded = merged(public, {"secrets": {"metricsToken": "scrape-me"}})

    assert "/metrics is public" in render(public)["switchboard/templates/NOTES.txt"]
    assert "/metrics is public" not in render(guarded)["switchboard/templates/NOTES.txt"]
