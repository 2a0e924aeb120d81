"""deploy/ is correct by construction: every file parses; the cluster-launcher configs
pass Ray's own validation; the KubeRay manifests carry what their CRDs require; the
image installs mixfarm the README's way as a non-root user; compose wires a head, two
workers, Prometheus and Grafana around one shared data volume; every `mixfarm` command
line in them is one the CLI accepts; the Grafana dashboard queries only metrics the
service exports.

Fast and offline: no Docker, no Kubernetes, no cloud. `bash -n` and `promtool` (when
installed) check shell commands and PromQL.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from prometheus_client.parser import text_string_to_metric_families

from dashboard.metrics import FarmMetrics
from farm.cli import build_parser
from farm.queue.jobstore import JobStore

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
LAUNCHER_CONFIGS = ("aws.yaml", "gcp.yaml")
EXPECTED_FILES = (
    "Dockerfile",
    "Dockerfile.dockerignore",
    "compose.yaml",
    "prometheus.yml",
    "grafana/mixfarm-dashboard.json",
    "grafana/provisioning/datasources/prometheus.yml",
    "grafana/provisioning/dashboards/mixfarm.yml",
    "kuberay/raycluster.yaml",
    "kuberay/rayjob.yaml",
    "kuberay/podmonitor.yaml",
    "kuberay/pvc.yaml",
    "cluster-launcher/aws.yaml",
    "cluster-launcher/gcp.yaml",
    "README.md",
)

# Required fields, as (path of the parent object, keys it must have); `[]` walks every
# item of a list, and a parent that is absent (an optional field) is skipped, because
# its own presence is what an outer rule requires. Read from ray-project/kuberay:
# ray-operator/config/crd/bases/ray.io_rayclusters.yaml (its `ray.io/v1` schema, the
# version served from KubeRay 1.0 on) and ray-operator/apis/ray/v1/raycluster_types.go
# and rayjob_types.go of a KubeRay 1.2+ commit (fields without `omitempty`/+optional),
# which agree. RayJobSpec has no required field of its own: entrypoint and
# shutdownAfterJobFinishes are this project's rules (tested below), and its
# rayClusterSpec is a RayClusterSpec. If a later KubeRay relaxes one of these
# (rayStartParams has been talked of), giving it stays valid.
RAY_CLUSTER_SPEC_REQUIRED = (
    ("", ("headGroupSpec",)),
    ("headGroupSpec", ("rayStartParams", "template")),
    ("workerGroupSpecs[]", ("groupName", "maxReplicas", "minReplicas", "rayStartParams", "template")),
)
# The pod template inside them is core/v1 PodTemplateSpec, whose required fields the
# CRD embeds (spec.required: [containers]; containers[], volumes[], env[]: [name]; ...).
POD_TEMPLATE_REQUIRED = (
    ("spec", ("containers",)),
    ("spec.containers[]", ("name",)),
    ("spec.containers[].ports[]", ("containerPort",)),
    ("spec.containers[].env[]", ("name",)),
    ("spec.containers[].env[].valueFrom.secretKeyRef", ("key",)),
    ("spec.containers[].volumeMounts[]", ("mountPath", "name")),
    ("spec.volumes[]", ("name",)),
    ("spec.volumes[].persistentVolumeClaim", ("claimName",)),
)
# prometheus-operator: example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml
# and pkg/apis/monitoring/v1/podmonitor_types.go (spec and spec.selector lack
# `omitempty`; podMetricsEndpoints is +optional, required here: without it nothing is scraped).
POD_MONITOR_REQUIRED = (
    ("", ("spec",)),
    ("spec", ("selector", "podMetricsEndpoints")),
)
GROUP_TEMPLATES = ("headGroupSpec.template", "workerGroupSpecs[].template")


# --- helpers -----------------------------------------------------------------------


def load_yaml(relative: str) -> dict:
    """The one document of a YAML file under deploy/."""
    (document,) = list(yaml.safe_load_all((DEPLOY / relative).read_text()))
    return document


def objects_at(node, path: str) -> list:
    """Every object reached by ``path`` ("a.b[].c"); absent parts yield nothing."""
    found = [node]
    for part in filter(None, path.split(".")):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        reached = []
        for item in found:
            if isinstance(item, dict) and key in item:
                value = item[key]
                reached.extend(value if many and isinstance(value, list) else [value])
        found = reached
    return found


def missing_fields(document: dict, rules, prefix: str = "") -> list[str]:
    """The required fields ``document`` lacks, each as a path."""
    missing = []
    for parent, keys in rules:
        path = ".".join(filter(None, (prefix, parent)))
        for index, node in enumerate(objects_at(document, path)):
            for key in keys:
                if not isinstance(node, dict) or key not in node or node[key] is None:
                    missing.append(f"{path or '<root>'}#{index}.{key}")
    return missing


def ray_cluster_specs() -> list[tuple[str, dict]]:
    """(name, RayClusterSpec) of raycluster.yaml and of rayjob.yaml's rayClusterSpec."""
    return [("raycluster", load_yaml("kuberay/raycluster.yaml")["spec"]), ("rayjob", load_yaml("kuberay/rayjob.yaml")["spec"]["rayClusterSpec"])]


def pod_templates(spec: dict) -> list[dict]:
    return [template for path in GROUP_TEMPLATES for template in objects_at(spec, path)]


def mixfarm_invocations(shell: str, command: str) -> list[list[str]]:
    """Each `mixfarm <command> ...` in a shell string, as argv after `mixfarm`."""
    found = []
    for match in re.finditer(rf"\bmixfarm {command}\b", shell):
        text = re.split(r"\s(?:&&|&|;|\|\||\||>|<)|\n", shell[match.start() :])[0]
        found.append(shlex.split(text)[1:])
    return found


SHELL_VALUES = {"$MIXFARM_MAX_RUNNING": "16", "$host": "0.0.0.0", "${MIXFARM_MAX_RUNNING:-4}": "4"}


def assert_cli_accepts(argv: list[str]) -> object:
    """Parse ``argv`` with mixfarm's own parser (shell variables given sample values)."""
    argv = [SHELL_VALUES.get(word, word) for word in argv]
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"mixfarm rejects: mixfarm {shlex.join(argv)}")


def assert_bash_syntax(script: str) -> None:
    result = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, f"{script!r}: {result.stderr}"


def readme_install_commands() -> list[str]:
    """The `pip install` commands of the README's first shell block."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|shell)\n(.*?)```", readme, re.S).group(1)
    parts = [part.strip() for line in block.splitlines() for part in line.split("&&")]
    return [part for part in parts if part.startswith("pip install")]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            instructions.append((word.upper(), " ".join(rest.split())))
    return instructions


def ray_pin() -> str:
    (value,) = [args.split("=", 1)[1] for word, args in dockerfile_instructions() if word == "ARG" and args.startswith("RAY_VERSION=")]
    return value


def byte_size(text) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([kmg]?)b?", str(text).lower()).groups()
    return int(number) * 1024 ** " kmg".index(unit or " ")


def compose() -> dict:
    return load_yaml("compose.yaml")


def ray_services(services: dict) -> dict:
    return {name: service for name, service in services.items() if "ray start" in " ".join(service.get("command") or [])}


def service_shell(service: dict) -> str:
    command = service["command"]
    assert command[:2] == ["bash", "-c"], command
    return command[2]


def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana/mixfarm-dashboard.json").read_text())


def dashboard_exprs(board: dict) -> list[str]:
    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    return [target["expr"] for panel in panels(board["panels"]) for target in panel.get("targets", []) if "expr" in target]


# --- every file ----------------------------------------------------------------------


def test_deploy_has_every_file_its_readme_describes():
    readme = (DEPLOY / "README.md").read_text()
    for relative in EXPECTED_FILES:
        assert (DEPLOY / relative).is_file(), relative
        if relative != "README.md":
            assert relative in readme, f"deploy/README.md never mentions {relative}"


@pytest.mark.parametrize("path", sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_file_parses(path):
    documents = list(yaml.safe_load_all(path.read_text()))
    assert documents and all(isinstance(document, dict) for document in documents)


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_json_file_parses(path):
    assert isinstance(json.loads(path.read_text()), dict)


# --- Ray cluster launcher --------------------------------------------------------------


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_cluster_launcher_config_passes_rays_validation(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load_yaml(f"cluster-launcher/{name}")
    validate_config(copy.deepcopy(config))  # ray-schema.json on the file as written
    # what `ray up` validates: the file merged with the provider's defaults.yaml
    validate_config(prepare_config(copy.deepcopy(config)))


def test_rays_validation_rejects_a_misspelt_field():
    from ray.autoscaler._private.util import validate_config

    config = load_yaml("cluster-launcher/aws.yaml")
    config["idle_timeout_minute"] = config.pop("idle_timeout_minutes")
    with pytest.raises(jsonschema.ValidationError):
        validate_config(config)


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_cluster_launcher_head_runs_no_tasks_and_workers_autoscale_on_cheap_capacity(name):
    config = load_yaml(f"cluster-launcher/{name}")
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"]["CPU"] == 0
    (worker,) = [spec for key, spec in types.items() if key != config["head_node_type"]]
    assert 1 <= worker["min_workers"] <= worker["max_workers"] <= config["max_workers"]
    assert worker["resources"]["CPU"] > 0
    assert config["idle_timeout_minutes"] > 0 and config["upscaling_speed"] > 0
    node = worker["node_config"]
    if config["provider"]["type"] == "aws":
        assert node["InstanceMarketOptions"]["MarketType"] == "spot"
    else:
        assert node["scheduling"] == {"preemptible": True, "onHostMaintenance": "TERMINATE", "automaticRestart": False}


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_cluster_launcher_installs_mixfarm_with_the_readme_command_and_the_images_ray(name):
    config = load_yaml(f"cluster-launcher/{name}")
    parts = [part.strip() for command in config["setup_commands"] for part in command.split("&&")]
    for install in readme_install_commands():
        assert install in parts
    assert f'pip install "ray[default]=={ray_pin()}"' in parts
    assert any("mount" in command and " /data" in command for command in config["setup_commands"])


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_cluster_launcher_starts_ray_then_the_service_on_the_head(name):
    config = load_yaml(f"cluster-launcher/{name}")
    head = config["head_start_ray_commands"]
    starts = [index for index, command in enumerate(head) if "ray start --head" in command]
    serves = [index for index, command in enumerate(head) if "mixfarm serve" in command]
    assert starts and serves and starts[0] < serves[0]
    assert "nohup" in head[serves[0]] and "--metrics-export-port=8080" in head[starts[0]]
    (argv,) = mixfarm_invocations(head[serves[0]], "serve")
    args = assert_cli_accepts(argv)
    assert (args.data, args.address, args.port) == ("/data", "auto", 8000)
    assert args.max_running
    (worker_start,) = [command for command in config["worker_start_ray_commands"] if "ray start" in command]
    assert "--address=$RAY_HEAD_IP:6379" in worker_start and "--metrics-export-port=8080" in worker_start


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_cluster_launcher_commands_are_valid_bash(name):
    config = load_yaml(f"cluster-launcher/{name}")
    keys = ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")
    for key in keys:
        for command in config.get(key, []):
            assert_bash_syntax(command)


# --- KubeRay -------------------------------------------------------------------------


def test_raycluster_carries_the_fields_its_crd_requires():
    manifest = load_yaml("kuberay/raycluster.yaml")
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayCluster")
    assert manifest["metadata"]["name"]
    missing = missing_fields(manifest, RAY_CLUSTER_SPEC_REQUIRED, "spec")
    for template in GROUP_TEMPLATES:
        missing += missing_fields(manifest, POD_TEMPLATE_REQUIRED, f"spec.{template}")
    assert missing == []


def test_rayjob_carries_the_fields_its_crd_requires_and_renders_one_session():
    manifest = load_yaml("kuberay/rayjob.yaml")
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    spec = manifest["spec"]
    missing = missing_fields(manifest, RAY_CLUSTER_SPEC_REQUIRED, "spec.rayClusterSpec")
    for template in GROUP_TEMPLATES:
        missing += missing_fields(manifest, POD_TEMPLATE_REQUIRED, f"spec.rayClusterSpec.{template}")
    assert missing == []
    assert spec["shutdownAfterJobFinishes"] is True
    words = shlex.split(spec["entrypoint"])
    assert words[:2] == ["mixfarm", "render"]
    args = assert_cli_accepts(words[1:])
    assert args.address == "auto" and args.session.startswith("/data/") and args.output.startswith("/data/")


def test_the_checks_above_notice_a_missing_required_field():
    manifest = load_yaml("kuberay/raycluster.yaml")
    del manifest["spec"]["workerGroupSpecs"][0]["groupName"]
    del manifest["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["name"]
    missing = missing_fields(manifest, RAY_CLUSTER_SPEC_REQUIRED, "spec") + missing_fields(manifest, POD_TEMPLATE_REQUIRED, "spec.headGroupSpec.template")
    assert missing == ["spec.workerGroupSpecs[]#0.groupName", "spec.headGroupSpec.template.spec.containers[]#0.name"]


@pytest.mark.parametrize("name, spec", ray_cluster_specs(), ids=lambda value: value if isinstance(value, str) else "")
def test_ray_cluster_autoscales_a_cpu_worker_group(name, spec):
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert spec["rayVersion"] == ray_pin()
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (group,) = spec["workerGroupSpecs"]
    # min >= 1: a render fails when the cluster has had no CPUs for farm.engine.executor.NO_CPU_GRACE_S
    assert 1 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    for container in objects_at(group, "template.spec.containers[]"):
        assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]


@pytest.mark.parametrize("name, spec", ray_cluster_specs(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_ray_pod_mounts_the_shared_claim_at_data_and_memory_at_dev_shm(name, spec):
    claim = load_yaml("kuberay/pvc.yaml")
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for template in pod_templates(spec):
        volumes = {volume["name"]: volume for volume in template["spec"]["volumes"]}
        (container,) = template["spec"]["containers"]
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert set(mounts.values()) <= set(volumes)
        assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True


def test_raycluster_head_runs_ray_and_the_service_with_tokens_from_a_secret():
    manifest = load_yaml("kuberay/raycluster.yaml")
    # the annotation KubeRay (>= 1.1) reads on the RayCluster, and then the commands it runs
    assert manifest["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"
    (head,) = objects_at(manifest, "spec.headGroupSpec.template.spec.containers[]")
    script = head["args"][0]
    assert head["command"] == ["/bin/bash", "-c", "--"]
    assert script.index("$KUBERAY_GEN_RAY_START_CMD") < script.index("mixfarm serve")
    assert_bash_syntax(script)
    (argv,) = mixfarm_invocations(script, "serve")
    args = assert_cli_accepts(argv)
    assert (args.host, args.data, args.address) == ("0.0.0.0", "/data", "auto")
    env = {variable["name"]: variable for variable in head["env"]}
    assert env["MIXFARM_API_TOKENS"]["valueFrom"]["secretKeyRef"]["name"]
    assert int(env["MIXFARM_MAX_RUNNING"]["value"]) > 0
    assert {"mixfarm": 8000, "metrics": 8080}.items() <= {port["name"]: port["containerPort"] for port in head["ports"]}.items()
    for worker in objects_at(manifest, "spec.workerGroupSpecs[].template.spec.containers[]"):
        assert "$KUBERAY_GEN_RAY_START_CMD" in worker["args"][0] and "mixfarm serve" not in worker["args"][0]
        assert_bash_syntax(worker["args"][0])


def test_podmonitor_scrapes_ray_and_mixfarm_on_the_clusters_pods():
    monitor = load_yaml("kuberay/podmonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    assert missing_fields(monitor, POD_MONITOR_REQUIRED) == []
    cluster = load_yaml("kuberay/raycluster.yaml")
    assert monitor["spec"]["selector"]["matchLabels"]["ray.io/cluster"] == cluster["metadata"]["name"]
    (head,) = objects_at(cluster, "spec.headGroupSpec.template.spec.containers[]")
    head_ports = {port["name"] for port in head["ports"]}
    endpoints = {endpoint["port"]: endpoint for endpoint in monitor["spec"]["podMetricsEndpoints"]}
    # "metrics" is the port KubeRay names on every Ray container (8080, --metrics-export-port)
    assert set(endpoints) == {"metrics", "mixfarm"} and set(endpoints) <= head_ports
    assert endpoints["mixfarm"]["path"] == "/metrics"


# --- Dockerfile ------------------------------------------------------------------------


def test_dockerfile_installs_mixfarm_with_the_readme_command():
    """The rule: the RUN line is the README's `pip install` verbatim; pip's options go
    in ENV (PIP_NO_CACHE_DIR), never into the command."""
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    installs = [args for args in runs if re.search(r"pip install (-e )?\.$", args)]
    assert installs == readme_install_commands() == ["pip install -e ."]
    assert any(word == "COPY" and args.split()[-1] in (".", "./") for word, args in dockerfile_instructions())


def test_dockerfile_pins_a_ray_version_inside_pyprojects_range():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (ray,) = [Requirement(text) for text in dependencies if Requirement(text).name == "ray"]
    assert ray.specifier.contains(ray_pin())
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    assert 'pip install "ray[default]==${RAY_VERSION}"' in runs


def test_dockerfile_runs_as_a_non_root_user_it_creates():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "RUN" and re.search(rf"useradd .*\b{users[-1]}\b", args) for word, args in instructions)
    assert any(word == "WORKDIR" for word, _ in instructions)


def test_dockerfile_exposes_the_service_and_ray_ports_and_explains_shm():
    instructions = dockerfile_instructions()
    exposed = {port for word, args in instructions if word == "EXPOSE" for port in args.split()}
    assert {"8000", "6379", "8265"} <= exposed
    text = (DEPLOY / "Dockerfile").read_text()
    assert "/dev/shm" in text and "--shm-size" in text and "medium: Memory" in text
    (apt,) = [args for word, args in instructions if word == "RUN" and "apt-get install" in args]
    assert "ca-certificates" in apt and "wget" in apt  # wget: KubeRay's default probes


# --- compose ---------------------------------------------------------------------------


def test_compose_runs_a_head_two_workers_prometheus_and_grafana():
    services = compose()["services"]
    assert {"head", "prometheus", "grafana"} <= set(services)
    workers = [name for name, service in ray_services(services).items() if "ray start --address=head:6379" in service_shell(service)]
    assert len(workers) == 2
    for name in workers:
        assert "--block" in service_shell(services[name])


def test_compose_ray_nodes_share_the_data_volume_and_have_shared_memory():
    document = compose()
    nodes = ray_services(document["services"])
    assert set(nodes) >= {"head"} and len(nodes) == 3
    for name, service in nodes.items():
        assert byte_size(service["shm_size"]) >= 512 * 1024**2, name
        assert "mixfarm-data:/data" in service["volumes"], name
        assert "--metrics-export-port=8080" in service_shell(service), name
        assert_bash_syntax(service_shell(service))
    assert "mixfarm-data" in document["volumes"]


def test_compose_head_serves_beyond_loopback_with_tokens_from_the_environment():
    head = compose()["services"]["head"]
    shell = service_shell(head)
    assert shell.index("ray start --head") < shell.index("mixfarm serve")
    assert "--port=6379" in shell
    (argv,) = mixfarm_invocations(shell, "serve")
    args = assert_cli_accepts(argv)
    assert (args.host, args.data, args.address, args.port) == ("0.0.0.0", "/data", "auto", 8000)
    # interpolated from the shell that runs compose, which refuses to start without it
    assert head["environment"]["MIXFARM_API_TOKENS"].startswith("${MIXFARM_API_TOKENS:?")
    assert "8000:8000" in head["ports"]


def test_compose_builds_the_image_and_mounts_files_that_exist():
    services = compose()["services"]
    build = services["head"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume


def test_grafana_provisioning_points_at_compose_mounts():
    services = compose()["services"]
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    (provider,) = load_yaml("grafana/provisioning/dashboards/mixfarm.yml")["providers"]
    assert str(Path(mounts["./grafana/mixfarm-dashboard.json"]).parent) == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (source,) = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090" and "prometheus" in services


# --- Prometheus --------------------------------------------------------------------------


def scrape_targets() -> dict[str, tuple[str, list[str]]]:
    jobs = load_yaml("prometheus.yml")["scrape_configs"]
    return {job["job_name"]: (job.get("metrics_path", "/metrics"), [target for group in job["static_configs"] for target in group["targets"]]) for job in jobs}


def test_prometheus_scrapes_mixfarm_on_port_8000_path_metrics():
    assert ("/metrics", ["head:8000"]) in scrape_targets().values()


def test_prometheus_scrapes_ray_metrics_on_every_compose_ray_node():
    targets = {target for _, listed in scrape_targets().values() for target in listed}
    for name in ray_services(compose()["services"]):
        assert f"{name}:8080" in targets


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_config_passes_promtool():
    result = subprocess.run(["promtool", "check", "config", str(DEPLOY / "prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana dashboard -------------------------------------------------------------------


@pytest.fixture
def exported_names(tmp_path) -> set[str]:
    """Every metric and sample name the service's /metrics can carry."""
    store = JobStore(tmp_path / "j.sqlite3")
    try:
        metrics = FarmMetrics(store, lambda: {"cpus": 2, "cpus_busy": 1})
        metrics.tasks_finished([{"kind": "mix_chunk", "seconds": 0.05}])
        text = metrics.exposition().decode()
    finally:
        store.close()
    names = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    assert "mixfarm_task_duration_seconds_bucket" in names and "mixfarm_jobs_total" in names
    return names


def test_dashboard_queries_only_metrics_the_service_exports(exported_names):
    exprs = dashboard_exprs(dashboard())
    assert exprs
    used = {name for expr in exprs for name in re.findall(r"mixfarm_[a-z_]+", expr)}
    assert used and used <= exported_names, used - exported_names


def test_dashboard_has_the_farms_panels():
    exprs = [" ".join(expr.split()) for expr in dashboard_exprs(dashboard())]

    def has(*fragments):
        return any(all(fragment in expr for fragment in fragments) for expr in exprs)

    assert has("mixfarm_queue_depth")
    assert has("mixfarm_jobs_running")
    assert has("rate(mixfarm_audio_rendered_seconds_total[5m])")
    assert has("histogram_quantile(0.5,", "mixfarm_task_duration_seconds_bucket", "kind")
    assert has("histogram_quantile(0.95,", "mixfarm_task_duration_seconds_bucket", "kind")
    assert has("histogram_quantile(0.95,", "mixfarm_job_duration_seconds_bucket")
    assert has('mixfarm_jobs_total{state="failed"}')
    assert has('mixfarm_tasks_total{status="failed"}')
    assert has('mixfarm_cluster_cpus{state="busy"}') and has('mixfarm_cluster_cpus{state="total"}')
    assert has("mixfarm_last_success_timestamp_seconds")


def test_dashboard_panels_have_unique_ids_and_use_the_datasource_variable():
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    (variable,) = board["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${" + variable["name"] + "}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_dashboard_queries_are_valid_promql(tmp_path):
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr_{index}", "expr": expr} for index, expr in enumerate(dashboard_exprs(dashboard()))]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
