"""The deployment files (deploy/, docs/production.md) against the code they deploy.

What an operator relies on: every command the Compose services and the systemd units run is a
real `soc` command whose options parse; every SOC_* variable is a setting of soc/config.py and
its value loads; the units are hardened, take capabilities only where the command needs them and
may write exactly the folders the command writes; Compose keeps those folders on volumes; the
image carries the content the code reads next to itself; and the sizing table of
docs/production.md follows from figures that are in bench/RESULTS.md.

Nothing here starts a container (there is no container engine where this was written).
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import typing
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer
import yaml
from pydantic import BaseModel

from soc.cli import app
from soc.config import PROJECT_ROOT, KafkaSettings, Settings, StackSettings, load_settings

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "soc.env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
SYSTEMD = DEPLOY / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))
PRODUCTION = PROJECT_ROOT / "docs" / "production.md"
RESULTS = PROJECT_ROOT / "bench" / "RESULTS.md"
CONFIG_SOURCE = (PROJECT_ROOT / "soc" / "config.py").read_text(encoding="utf-8")

VENV_SOC = "/opt/soc/.venv/bin/soc"
SAMPLE_INSTANCE = {"soc-worker@.service": "6066", "soc-collector-pcap@.service": "eth1"}
# Read by soc/config.py itself, not fields of Settings.
SHORTCUTS = ("SOC_KAFKA_BOOTSTRAP", "SOC_ES_URL", "SOC_CONFIG")
SOC_VAR = re.compile(r"\bSOC_[A-Z][A-Z0-9_]*\b")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")


# ---------------------------------------------------------------------------- readers

def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an environment file (systemd EnvironmentFile / Compose env_file)."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f"{path.name}:{n}: not KEY=VALUE: {line!r}"
        key, value = line.split("=", 1)
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{n}: bad name {key!r}"
        assert key not in out, f"{path.name}:{n}: {key} set twice"
        out[key] = value
    return out


def unit_entries(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order, repeated keys kept (Environment=, EnvironmentFile=)."""
    text = path.read_text(encoding="utf-8")
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text, source=str(path))  # raises on what is not an INI-style unit
    instance = SAMPLE_INSTANCE.get(path.name)
    assert ("%i" in text) == (instance is not None), f"{path.name}: %i in a non-template unit, or a template without"
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        assert current is not None and "=" in line, f"{path.name}: {line!r}"
        key, value = line.split("=", 1)
        sections[current].append((key.strip(), value.strip().replace("%i", instance or "%i")))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= appears {len(found)} times"
    return found[0]


def unit_environment(unit: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for assignment in values(unit, "Service", "Environment"):
        for word in shlex.split(assignment):
            key, value = word.split("=", 1)
            env[key] = value
    return env


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def platform_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the platform's own image (built from deploy/Dockerfile)."""
    return {name: s for name, s in doc["services"].items() if "build" in s}


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """What the container sees: env_file first, `environment` over it (Compose's order)."""
    env: dict[str, str] = {}
    for name in service.get("env_file", []):
        source = DEPLOY / name
        env.update(read_env_file(ENV_EXAMPLE if name == "soc.env" else source))
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


# ---------------------------------------------------------------------------- the soc command

ROOT_COMMAND = typer.main.get_command(app)


def parse_soc(argv: list[str]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The command path of `soc ARGV…` and its parsed parameters, by the typer app's own parser."""
    command, path, rest = ROOT_COMMAND, [], list(argv)
    while hasattr(command, "commands"):  # a group: the next word names a subcommand
        assert rest, f"`soc {' '.join(argv)}` stops at a group"
        word = rest.pop(0)
        assert word in command.commands, (
            f"`soc {' '.join(argv)}`: `soc {' '.join(path)}` has no command {word!r} "
            f"(it has {', '.join(sorted(command.commands))})")
        command = command.commands[word]
        path.append(word)
    try:
        ctx = command.make_context(" ".join(["soc", *path]), rest)
    except Exception as exc:  # the vendored click's UsageError family
        raise AssertionError(f"`soc {' '.join(argv)}`: {type(exc).__name__}: {exc}") from None
    return tuple(path), dict(ctx.params)


def test_parse_soc_refuses_what_is_not_a_command() -> None:
    assert parse_soc(["collect", "syslog", "--udp-port", "514"])[0] == ("collect", "syslog")
    for argv in (["colect", "syslog"], ["collect", "syslgo"], ["collect", "syslog", "--udp-prot", "514"],
                 ["collect"], ["api", "--port", "http"]):
        with pytest.raises(AssertionError):
            parse_soc(argv)


# ---------------------------------------------------------------------------- settings

def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def setting_of(name: str) -> str:
    """The soc/config.py setting an environment variable sets (its dotted path).

    pydantic-settings ignores an unknown top-level SOC_FOO silently (extra="forbid" only
    catches unknown nested keys), so the names are walked through the models here.
    """
    assert name.startswith("SOC_"), name
    if name in SHORTCUTS:
        assert f'"{name}"' in CONFIG_SOURCE, f"{name} is no longer read by soc/config.py"
        return name
    parts = name[len("SOC_"):].lower().split("__")
    model: type[BaseModel] | None = Settings
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the top level"
        assert model is not None, f"{name}: {where} is a value, it has no settings under it"
        assert part in model.model_fields, f"{name}: no setting {part!r} at {where} of soc/config.py"
        model = _model_of(model.model_fields[part].annotation)
    return ".".join(parts)


def test_setting_of_refuses_unknown_names() -> None:
    assert setting_of("SOC_WORKER__WEB_PORT") == "worker.web_port"
    assert setting_of("SOC_KAFKA_BOOTSTRAP") == "SOC_KAFKA_BOOTSTRAP"
    for name in ("SOC_NOPE", "SOC_WORKER__NOPE", "SOC_WORKER__WEB_PORT__X", "SOC_KAFKA__SASL_MECHANISM"):
        with pytest.raises(AssertionError):
            setting_of(name)


def load_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], *, uid: int | None = None,
              home: str | None = None) -> Settings:
    """Settings as a process with exactly these SOC_* variables would read them."""
    for key in list(os.environ):
        if key.startswith("SOC_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("SOC_"):
            # Compose interpolations (${ES_SOC_API_PASSWORD:?…}) become some value.
            monkeypatch.setenv(key, INTERPOLATION.sub("interpolated", value))
    monkeypatch.setenv("SOC_CONFIG", str(tmp_path / "absent-soc.yaml"))  # never this machine's file
    monkeypatch.chdir(tmp_path)
    if uid is not None:
        monkeypatch.setattr(os, "geteuid", lambda: uid)
    if home is not None:
        monkeypatch.setenv("HOME", home)
    return load_settings()


def all_soc_variables() -> dict[str, set[str]]:
    """Every SOC_* name used, and where."""
    used: dict[str, set[str]] = {}
    for name in read_env_file(ENV_EXAMPLE):
        used.setdefault(name, set()).add(ENV_EXAMPLE.name)
    for name in SOC_VAR.findall(COMPOSE.read_text(encoding="utf-8")):
        used.setdefault(name, set()).add(COMPOSE.name)
    for path in [*UNITS, SYSTEMD / "README", PRODUCTION]:
        for name in SOC_VAR.findall(path.read_text(encoding="utf-8")):
            used.setdefault(name, set()).add(path.name)
    return used


def test_every_soc_variable_is_a_setting() -> None:
    used = all_soc_variables()
    assert len(used) > 15
    problems = []
    for name, where in sorted(used.items()):
        try:
            setting_of(name)
        except AssertionError as exc:
            problems.append(f"{exc} (in {', '.join(sorted(where))})")
    assert not problems, "\n".join(problems)


def test_the_env_example_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = read_env_file(ENV_EXAMPLE)
    assert set(env) >= {"SOC_KAFKA_BOOTSTRAP", "SOC_ES_URL", "SOC_KAFKA__PARTITIONS", "SOC_KAFKA__REPLICATION",
                        "SOC_ELASTIC__CA_CERTS", "SOC_ELASTIC__REPLICAS", "SOC_ELASTIC__SHARDS"}
    # Collector hosts in the DMZ read it too: no credential in it (they go in per-unit files).
    secrets = [k for k in env if re.search(r"PASSWORD|API_KEY|TOKEN|USERNAME", k)]
    assert not secrets, f"soc.env.example holds secrets {secrets}"
    s = load_with(monkeypatch, tmp_path, env)
    assert s.kafka.replication == 3 and s.elastic.replicas == 1
    assert len(s.kafka_bootstrap.split(",")) == 3
    assert s.es_url.startswith("https://") and "," not in s.es_url  # one URL (soc/store/client.py)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_environment_loads(unit: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entries = unit_entries(unit)
    # systemd: values from EnvironmentFile= win over Environment=.
    env = unit_environment(entries) | read_env_file(ENV_EXAMPLE)
    load_with(monkeypatch, tmp_path, env)


def test_unit_settings_are_not_shadowed_by_the_env_file() -> None:
    """A unit's Environment= loses to the EnvironmentFile: the example must not set the same."""
    shared = read_env_file(ENV_EXAMPLE)
    for unit in UNITS:
        clash = set(unit_environment(unit_entries(unit))) & set(shared)
        assert not clash, f"{unit.name}: {sorted(clash)} set in the unit would be overridden by soc.env"


@pytest.mark.parametrize("name", sorted(platform_services(compose())))
def test_each_compose_service_environment_loads(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    load_with(monkeypatch, tmp_path, compose_environment(platform_services(compose())[name]))


# ---------------------------------------------------------------------------- Compose

def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def test_compose_is_the_production_layout() -> None:
    doc = compose()
    services = doc["services"]
    stack = StackSettings()

    brokers = {n: s for n, s in services.items() if s.get("image", "").startswith("apache/kafka:")}
    assert len(brokers) == 3, sorted(brokers)
    voters = {s["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for s in brokers.values()}
    assert len(voters) == 1
    voter_ids = sorted(int(v.split("@")[0]) for v in voters.pop().split(","))
    assert sorted(int(s["environment"]["KAFKA_NODE_ID"]) for s in brokers.values()) == voter_ids == [1, 2, 3]
    assert len({s["environment"]["CLUSTER_ID"] for s in brokers.values()}) == 1
    for name, s in brokers.items():
        env = s["environment"]
        assert image_tag(s["image"]) == stack.kafka_version, f"{name}: not the Kafka the platform is tested with"
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, f"{name}: KRaft, combined"
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
        assert str(env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]).lower() == "false"
        assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in s["volumes"]), f"{name}: data not on a volume"
        assert "healthcheck" in s

    nodes = {n: s for n, s in services.items()
             if s.get("image", "").startswith("docker.elastic.co/elasticsearch/elasticsearch:") and n != "es-users"}
    assert len(nodes) == 3, sorted(nodes)
    assert len({s["environment"]["cluster.name"] for s in nodes.values()}) == 1
    for name, s in nodes.items():
        env = s["environment"]
        assert image_tag(s["image"]) == stack.es_version, f"{name}: not the Elasticsearch the platform is tested with"
        assert env["node.name"] == name
        assert set(env["discovery.seed_hosts"].split(",")) == set(nodes)
        for key in ("xpack.security.enabled", "xpack.security.http.ssl.enabled", "xpack.security.transport.ssl.enabled",
                    "action.destructive_requires_name"):
            assert str(env[key]).lower() == "true", f"{name}: {key}"
        assert any(v.endswith(":/usr/share/elasticsearch/data") for v in s["volumes"]), f"{name}: data not on a volume"
        assert "healthcheck" in s

    platform = platform_services(doc)
    paths = {parse_soc(s["command"][1:])[0] for s in platform.values()}
    assert paths >= {("setup",), ("worker",), ("collect", "syslog"), ("api",), ("block", "feed")}
    apis = [n for n, s in platform.items() if s["command"][1:2] == ["api"]]
    assert len(apis) >= 2, "two API instances for the reverse proxy"
    workers = next(s for s in platform.values() if s["command"][1:] == ["worker"])
    partitions = int(read_env_file(ENV_EXAMPLE)["SOC_KAFKA__PARTITIONS"])
    assert 1 <= workers["deploy"]["replicas"] <= partitions, "partitions >= workers"
    for name, s in platform.items():
        assert s["env_file"] == ["soc.env"], name
        assert s["build"]["dockerfile"] == "deploy/Dockerfile" and (DEPLOY / s["build"]["context"]).resolve() == PROJECT_ROOT
        if s["command"][1:] != ["setup"]:
            assert "healthcheck" in s, f"{name}: no healthcheck"
        for condition in (s.get("depends_on") or {}).values():
            assert condition["condition"] in ("service_healthy", "service_completed_successfully")


def test_compose_commands_are_soc_commands() -> None:
    for name, s in platform_services(compose()).items():
        command = s["command"]
        assert isinstance(command, list) and command[0] == "soc", f"{name}: {command!r} does not run soc"
        parse_soc(command[1:])


def test_compose_healthchecks_probe_the_port_the_service_listens_on(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    for name, s in platform_services(compose()).items():
        if "healthcheck" not in s:
            continue
        path, params = parse_soc(s["command"][1:])
        settings = load_with(monkeypatch, tmp_path, compose_environment(s))
        expected = {("worker",): settings.worker.web_port,
                    ("collect", "syslog"): settings.syslog.metrics_port,
                    ("api",): params.get("port"),
                    ("block", "feed"): params.get("port")}[path]
        probe = re.search(r"127\.0\.0\.1:(\d+)/", " ".join(s["healthcheck"]["test"]))
        assert probe and int(probe.group(1)) == expected, f"{name}: probes {probe and probe.group(1)}, listens {expected}"


# ---------------------------------------------------------------------------- what each command writes

def writes(path: tuple[str, ...], s: Settings) -> list[tuple[str, Path, bool]]:
    """(what, folder, must outlive the process) for the folders a `soc` command writes into."""
    spool = s.spool.folder("probe").parent  # one sub-folder per collector below it
    return {
        ("worker",): [("worker.data_dir (faust)", Path(s.worker.data_dir or f"/tmp/{s.worker.app_id}-data"), False)],
        ("collect", "syslog"): [("spool.dir", spool, True)],
        ("collect", "http"): [("spool.dir", spool, True)],
        ("collect", "pcap"): [("spool.dir", spool, True)],
        ("collect", "file"): [("spool.dir", spool, True), ("file.state_dir", s.file.state_dir, True)],
        # The rule-state file, its .lock and its temporary sibling (soc/api/routers/rules.py).
        ("api",): [("worker.rules_state_file's folder", s.worker.rules_state_file.parent, True)],
        ("block", "feed"): [],
        ("setup",): [],
    }[path]


def under(path: Path | PurePosixPath, roots: list[str]) -> bool:
    return any(PurePosixPath(path).is_relative_to(PurePosixPath(root)) for root in roots)


def root_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    """The state paths soc/config.py names for a process running as root."""
    s = load_with(monkeypatch, tmp_path, {}, uid=0)
    return {"spool.dir": s.spool.folder("probe").parent, "file.state_dir": s.file.state_dir,
            "worker.rules_state_file's folder": s.worker.rules_state_file.parent}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_may_write_what_its_command_writes(unit: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entries = unit_entries(unit)
    defaults = root_defaults(monkeypatch, tmp_path)
    argv = shlex.split(one(entries, "Service", "ExecStart"))
    path, _ = parse_soc(argv[1:])
    # As the unit's user (not root: the defaults would point into ~/.local/state, hidden by ProtectHome).
    assert one(entries, "Service", "User") == "soc"
    s = load_with(monkeypatch, tmp_path, unit_environment(entries) | read_env_file(ENV_EXAMPLE), uid=990,
                  home="/var/lib/soc")
    writable = [p.lstrip("-+") for v in values(entries, "Service", "ReadWritePaths") for p in v.split()]
    writable += [f"/var/lib/{d}" for v in values(entries, "Service", "StateDirectory") for d in v.split()]
    if one(entries, "Service", "PrivateTmp") == "yes":
        writable.append("/tmp")
    for what, folder, _ in writes(path, s):
        assert under(folder, writable), f"{unit.name}: `soc {' '.join(path)}` writes {what} {folder}, " \
                                        f"not writable under ProtectSystem=strict (writable: {writable})"
        if what in defaults:
            assert folder == defaults[what], f"{unit.name}: {what} is {folder}, soc/config.py names {defaults[what]}"
    for root in values(entries, "Service", "ReadWritePaths"):
        for p in root.split():
            assert p.lstrip("-+").startswith("/var/lib/soc"), f"{unit.name}: writes outside /var/lib/soc: {p}"


def dockerfile_user() -> tuple[int, str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    m = re.search(r"useradd .*--uid (\d+) .*--home-dir (\S+) .* soc\b", text)
    assert m, "the Dockerfile creates the user soc with a fixed uid and home"
    assert re.search(r"^USER soc$", text, re.M), "the image runs as soc"
    return int(m.group(1)), m.group(2)


@pytest.mark.parametrize("name", sorted(platform_services(compose())))
def test_compose_service_keeps_what_it_writes_on_volumes(name: str, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    doc = compose()
    service = platform_services(doc)[name]
    uid, home = dockerfile_user()
    path, _ = parse_soc(service["command"][1:])
    s = load_with(monkeypatch, tmp_path, compose_environment(service), uid=uid, home=home)
    named = set(doc.get("volumes") or {})
    volume_targets = [v.split(":")[1] for v in service.get("volumes", []) if v.split(":")[0] in named]
    for what, folder, persistent in writes(path, s):
        if persistent:
            assert under(folder, volume_targets), f"{name}: writes {what} {folder}, not on a named volume"
        else:
            assert under(folder, volume_targets + ["/tmp"]), f"{name}: writes {what} {folder}"


def test_the_workers_and_the_api_share_the_rule_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    doc = compose()
    seen = {}
    for name, service in platform_services(doc).items():
        path, _ = parse_soc(service["command"][1:])
        if path in (("worker",), ("api",)):
            s = load_with(monkeypatch, tmp_path, compose_environment(service))
            volume = next(v.split(":")[0] for v in service["volumes"]
                          if PurePosixPath(s.worker.rules_state_file).is_relative_to(v.split(":")[1]))
            seen[name] = (s.worker.rules_state_file, volume)
    assert len(set(seen.values())) == 1, seen
    units = {u.name: unit_environment(unit_entries(u)).get("SOC_WORKER__RULES_STATE_FILE") for u in UNITS
             if parse_soc(shlex.split(one(unit_entries(u), "Service", "ExecStart"))[1:])[0] in (("worker",), ("api",))}
    assert len(set(units.values())) == 1 and None not in units.values(), units


# ---------------------------------------------------------------------------- systemd units

def test_every_unit_expected_is_there() -> None:
    paths = {parse_soc(shlex.split(one(unit_entries(u), "Service", "ExecStart"))[1:])[0]: u.name for u in UNITS}
    assert set(paths) >= {("worker",), ("collect", "syslog"), ("collect", "file"), ("collect", "http"),
                          ("collect", "pcap"), ("api",), ("block", "feed")}, paths
    assert "soc-worker@.service" in {u.name for u in UNITS}, "workers are a template: N instances"


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_runs_a_soc_command_as_soc_hardened(unit: Path) -> None:
    entries = unit_entries(unit)
    assert set(entries) == {"Unit", "Service", "Install"}
    argv = shlex.split(one(entries, "Service", "ExecStart"))
    assert argv[0] == VENV_SOC, f"{unit.name}: runs {argv[0]}"
    parse_soc(argv[1:])
    assert "network-online.target" in one(entries, "Unit", "After").split()
    assert "network-online.target" in one(entries, "Unit", "Wants").split()
    assert one(entries, "Install", "WantedBy") == "multi-user.target"
    service = {
        "User": "soc", "Group": "soc", "Restart": "on-failure", "NoNewPrivileges": "yes",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes", "SystemCallArchitectures": "native",
    }
    for key, expected in service.items():
        assert one(entries, "Service", key) == expected, f"{unit.name}: {key}"
    files = values(entries, "Service", "EnvironmentFile")
    assert files[0] == "/etc/soc/soc.env", f"{unit.name}: the shared env file first, and required"
    assert all(f.startswith("-/etc/soc/") for f in files[1:]), f"{unit.name}: per-unit files are optional"
    assert int(one(entries, "Service", "LimitNOFILE")) >= 65536


def needed_capabilities(path: tuple[str, ...], params: dict[str, Any]) -> set[str]:
    """What the command needs from the kernel beyond an ordinary user."""
    needed = set()
    if path == ("collect", "pcap") and params.get("iface"):
        needed.add("CAP_NET_RAW")  # live capture (docs/operations.md)
    ports = [params.get(k) for k in ("udp_port", "tcp_port", "tls_port", "port")]
    if any(p is not None and 0 < p < 1024 for p in ports):
        needed.add("CAP_NET_BIND_SERVICE")
    return needed


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_capabilities_only_where_needed(unit: Path) -> None:
    entries = unit_entries(unit)
    path, params = parse_soc(shlex.split(one(entries, "Service", "ExecStart"))[1:])
    needed = needed_capabilities(path, params)
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        granted = set(one(entries, "Service", key).split())
        assert granted == needed, f"{unit.name}: {key}={sorted(granted)}, `soc {' '.join(path)}` needs {sorted(needed)}"
    families = set(one(entries, "Service", "RestrictAddressFamilies").split())
    assert ("AF_PACKET" in families) == (path == ("collect", "pcap")), f"{unit.name}: AF_PACKET only for capture"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    soc = PROJECT_ROOT / ".venv" / "bin" / "soc"
    if not soc.exists():
        pytest.skip("no .venv/bin/soc to point ExecStart at")
    names = []
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text(encoding="utf-8").replace(VENV_SOC, str(soc)), encoding="utf-8")
        instance = SAMPLE_INSTANCE.get(unit.name)
        names.append(unit.name.replace("@.", f"@{instance}.") if instance else unit.name)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *names], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    ours = [line for line in (done.stdout + done.stderr).splitlines()
            if str(tmp_path) in line or any(n in line for n in names)]
    assert done.returncode == 0 and not ours, done.stdout + done.stderr


# ---------------------------------------------------------------------------- the image

def test_the_image_carries_the_content_the_code_reads() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^FROM node:\S+ AS web$", text, re.M), "the web UI is built in a stage of its own"
    final_stage = text[text.rindex("\nFROM "):]
    assert re.search(r"^WORKDIR /opt/soc$", final_stage, re.M)
    copied = []  # what the final stage puts under /opt/soc, relative to it
    for line in final_stage.splitlines():
        if line.startswith("COPY "):
            *sources, dest = [w for w in line.split()[1:] if not w.startswith("--")]
            if dest in (".", "./") or (dest.endswith("/") and len(sources) > 1):
                copied += [str(PurePosixPath(dest) / PurePosixPath(src).name) for src in sources]
            else:
                copied.append(dest.rstrip("/"))
    # What the code reads next to itself (PROJECT_ROOT / "…"; detectors/pipelines.py: parent.parent / "…").
    referenced = set()
    for folder in ("soc", "collectors", "detectors"):
        for source in (PROJECT_ROOT / folder).rglob("*.py"):
            code = source.read_text(encoding="utf-8")
            for chain in re.findall(r'(?:PROJECT_ROOT|resolve\(\)\.parent\.parent)((?:\s*/\s*"[^"]+")+)', code):
                referenced.add("/".join(re.findall(r'"([^"]+)"', chain)))
    assert {"rules", "playbooks", "pipelines", "dashboards/web/dist", "docs/notice.schema.json"} <= referenced
    missing = [r for r in sorted(referenced) if not any(r == c or r.startswith(c + "/") for c in copied)]
    assert not missing, f"deploy/Dockerfile does not copy {missing} (copies {copied})"
    install = re.search(r"(\S+)/bin/pip install [^\n]*-e (\S+)", text)
    assert install, "installed editable: PROJECT_ROOT must be the tree with the content"
    assert install.group(2) == "/opt/soc" and VENV_SOC == install.group(1) + "/bin/soc"


# ---------------------------------------------------------------------------- Elasticsearch users

def es_roles_and_users(doc: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, str]]]:
    script = doc["services"]["es-users"]["command"][0]
    roles = {m.group(1): json.loads(m.group(2)) for m in re.finditer(r"^role (\S+) '(.+)'$", script, re.M)}
    users = {m.group(1): (m.group(2), m.group(3))
             for m in re.finditer(r'^user (\S+) "\$\$\{(\w+)\}" (\S+)$', script, re.M)}
    return roles, users


def test_every_elasticsearch_user_has_its_role() -> None:
    doc = compose()
    roles, users = es_roles_and_users(doc)
    assert set(roles) == {"soc_writer", "soc_api", "soc_feed"} and set(users) == set(roles)
    text = PRODUCTION.read_text(encoding="utf-8")
    for user, (password_var, role) in users.items():
        assert role in roles, user
        assert f"`{user}`" in text, f"docs/production.md does not describe {user}"
    for name, service in platform_services(doc).items():
        env = compose_environment(service)
        if parse_soc(service["command"][1:])[0][0] == "collect":  # collectors never talk to Elasticsearch
            credentials = {"SOC_ELASTIC__USERNAME", "SOC_ELASTIC__PASSWORD", "SOC_ELASTIC__API_KEY"} & set(env)
            assert not credentials, f"{name}: holds Elasticsearch credentials {sorted(credentials)}"
            continue
        user = env.get("SOC_ELASTIC__USERNAME")
        assert user in users, f"{name}: Elasticsearch user {user!r} is not created by es-users"
        assert f"${{{users[user][0]}:" in env["SOC_ELASTIC__PASSWORD"], f"{name}: another password than {user}'s"


def test_the_audit_trail_is_append_only_for_the_platform() -> None:
    roles, _ = es_roles_and_users(compose())
    for role in ("soc_writer", "soc_api"):
        entries = [e for e in roles[role]["indices"] if any(fnmatch.fnmatchcase("soc-audit", n) for n in e["names"])]
        assert len(entries) == 1 and entries[0]["names"] == ["soc-audit"], f"{role}: soc-audit only by its name"
        privileges = set(entries[0]["privileges"])
        assert "create_doc" in privileges and not privileges & {"index", "write", "delete", "all", "manage"}, role
    assert roles["soc_feed"]["cluster"] == [] and [e["names"] for e in roles["soc_feed"]["indices"]] == [["soc-blocks"]]


def test_kafka_clients_still_have_no_security_settings() -> None:
    """docs/production.md says the Kafka clients cannot use TLS or SASL: true while this holds."""
    assert set(KafkaSettings.model_fields) == {"bootstrap", "partitions", "replication"}, (
        "kafka.* changed: update docs/production.md ('Kafka: what the clients cannot do yet'), "
        "the Compose listeners and soc.env.example")


# ---------------------------------------------------------------------------- the sizing

def md_table(text: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first table under the heading `heading` (any level)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("#") and line.lstrip("#").strip() == heading]
    assert len(starts) == 1, f"{len(starts)} headings {heading!r}"
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for line in lines[starts[0] + 1:]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells, strict=True)))
    assert rows, f"no table under {heading!r}"
    return rows


def number(cell: str) -> tuple[str, float]:
    m = re.search(r"\d[\d,]*(?:\.\d+)?", cell)
    assert m, f"no number in {cell!r}"
    return m.group(), float(m.group().replace(",", ""))


def results_section(title: str) -> str:
    lines = RESULTS.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("#") and line.lstrip("#").strip() == title]
    assert len(starts) == 1, f"bench/RESULTS.md has {len(starts)} sections titled {title!r}"
    level = len(lines[starts[0]]) - len(lines[starts[0]].lstrip("#"))
    end = next((j for j in range(starts[0] + 1, len(lines))
                if lines[j].startswith("#") and len(lines[j]) - len(lines[j].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[starts[0]:end])


def measured_inputs() -> dict[str, float]:
    out = {}
    for row in md_table(PRODUCTION.read_text(encoding="utf-8"), "Measured inputs"):
        out[row["id"]] = number(row["figure"])[1]
    return out


def test_measured_inputs_are_quoted_from_results() -> None:
    rows = md_table(PRODUCTION.read_text(encoding="utf-8"), "Measured inputs")
    assert len(rows) >= 10
    for row in rows:
        token, _ = number(row["figure"])
        section = results_section(row["RESULTS.md section"])
        assert re.search(r"(?<![\d,.])" + re.escape(token) + r"(?![\d,]|\.\d)", section), (
            f"{row['id']} = {token} is not in bench/RESULTS.md, section {row['RESULTS.md section']!r}")


def assumptions() -> dict[str, str]:
    return {row["id"]: row["value"] for row in md_table(PRODUCTION.read_text(encoding="utf-8"), "Assumptions")}


def test_the_sizing_table_follows_from_the_inputs() -> None:
    m, a = measured_inputs(), assumptions()
    w, es_ceil, c_tcp, c_udp, b_es, b_es_low = (m[k] for k in ("W", "ES_CEIL", "C_TCP", "C_UDP", "B_ES", "B_ES_LOW"))
    h, days, copies, shard_gb, node_tb, kafka_days, b_kafka = (
        number(a[k])[1] for k in ("H", "DAYS", "COPIES", "SHARD_GB", "NODE_TB", "KAFKA_DAYS", "B_KAFKA"))
    parts = [int(number(p)[1]) for p in a["PARTS"].split(",")]
    assert days == 181 and copies == 2  # docs/retention.md's 180 days + today; replicas 1
    rows = md_table(PRODUCTION.read_text(encoding="utf-8"), "The table")
    assert [number(r["target events/s"])[1] for r in rows] == [5_000, 20_000, 50_000, 100_000]
    for row in rows:
        rate = number(row["target events/s"])[1]
        got = {k: number(v)[1] for k, v in row.items()}
        workers = math.ceil(h * rate / w)
        disk = rate * 86_400 * days * b_es * copies / 1e12
        want = {
            "worker cores": workers,
            "Kafka partitions": min(p for p in parts if p >= 2 * workers),
            "collector processes": max(math.ceil(h * rate / c_udp), math.ceil(h * rate / c_tcp)),
            "ES indexing cores": round(h * rate * copies / (es_ceil / 2), 1),
            "ES disk, TB": round(disk, 1),
            "ES disk at B_ES_LOW, TB": round(rate * 86_400 * days * b_es_low * copies / 1e12, 1),
            "ES data nodes": max(3, math.ceil(disk / node_tb)),
            "shards per day": math.ceil(rate * 86_400 * b_es / (shard_gb * 1e9)),
            "Kafka disk per broker, TB": round(rate * 86_400 * kafka_days * b_kafka / 1e12, 1),
        }
        for column, value in want.items():
            assert got[column] == pytest.approx(value, abs=0.05), f"{int(rate):,} events/s, {column}: {got[column]} ≠ {value}"


def test_the_deploy_files_are_sized_for_the_first_row() -> None:
    first = md_table(PRODUCTION.read_text(encoding="utf-8"), "The table")[0]
    env = read_env_file(ENV_EXAMPLE)
    assert int(env["SOC_KAFKA__PARTITIONS"]) == number(first["Kafka partitions"])[1]
    assert int(env["SOC_ELASTIC__SHARDS"]) == number(first["shards per day"])[1]
    workers = next(s for s in platform_services(compose()).values() if s["command"][1:] == ["worker"])
    assert workers["deploy"]["replicas"] == number(first["worker cores"])[1]
