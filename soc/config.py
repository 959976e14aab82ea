"""One settings object: soc.yaml (or $SOC_CONFIG) plus SOC_* environment variables.

Environment variables win over the file. Nested keys use a double underscore:
SOC_STACK__ES_HEAP=1g sets stack.es_heap. A bad value stops with a message naming the key.
"""

from __future__ import annotations

import ipaddress

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the key and the source."""


class StackSettings(BaseModel):
    """The local single-node Kafka and Elasticsearch that `soc stack` provisions."""

    model_config = ConfigDict(extra="forbid")

    home: Path | None = None  # default: /var/lib/soc-stack as root, else ~/.cache/soc-stack
    kafka_version: str = "4.1.1"
    log4j_version: str = "2.25.3"
    es_version: str = "8.19.21"
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    es_port: int = Field(9200, ge=1, le=65535)
    es_transport_port: int = Field(9300, ge=1, le=65535)
    kafka_heap: str = "512m"
    es_heap: str = "768m"
    java_home: Path | None = None  # default: the JDK behind `java` on PATH
    es_user: str = "socstack"  # the unprivileged user Elasticsearch runs as when we are root
    start_timeout_s: float = Field(180.0, gt=0)

    @field_validator("kafka_heap", "es_heap")
    @classmethod
    def _heap(cls, v: str) -> str:
        if not v[:-1].isdigit() or v[-1].lower() not in "mg":
            raise ValueError("a heap size like 512m or 1g")
        return v

    def resolved_home(self) -> Path:
        if self.home is not None:
            return self.home
        if os.geteuid() == 0:
            return Path("/var/lib/soc-stack")
        return Path.home() / ".cache" / "soc-stack"


class KafkaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bootstrap: str | None = None  # None: the local stack's broker
    partitions: int = Field(4, ge=1)
    replication: int = Field(1, ge=1)


class ElasticSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None  # None: the local stack's node
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: Path | None = None
    index_prefix: str = "soc"
    shards: int = Field(1, ge=1)
    replicas: int = Field(0, ge=0)
    request_timeout_s: float = Field(30.0, gt=0)


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = "soc-worker"
    web_port: int = Field(6066, ge=1, le=65535)
    data_dir: Path | None = None
    batch_size: int = Field(2000, ge=1)
    # faust's take() waits this long after each batch before it hands over the next (it does not
    # buffer while a batch is processed): at a steady rate it is added to every line's latency.
    # 0.05 s against 0.2 s on the realistic mix: ingest→alert p50 1,030 → 445 ms at the same
    # throughput (bench/RESULTS.md).
    batch_within_s: float = Field(0.05, gt=0)
    bulk_max_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    # Bulk writes of one soc.raw batch in flight while its next part is parsed: Elasticsearch
    # indexes one part while the worker parses the next (1: one after the other).
    index_in_flight: int = Field(2, ge=1)
    retry_max_backoff_s: float = Field(30.0, gt=0)
    rules_dirs: list[Path] = Field(default_factory=lambda: [PROJECT_ROOT / "rules"])
    correlation_lateness_s: float = Field(60.0, ge=0)
    # One alert per rule and group (source, destination, host, user) within this window, with a
    # count and the event ids; 0 raises one alert per matching event.
    alert_suppression_s: int = Field(300, ge=0)
    # Rules switched off by analysts (`disabled: [ids]`); it and the rule folders are re-read
    # every rules_reload_interval_s, and changed rules replace the running ones.
    # Written by the API's enable/disable (soc/api/routers/rules.py); on several machines, a shared path.
    rules_state_file: Path = Field(default_factory=lambda: (
        Path("/var/lib/soc/rules-state.yml") if os.geteuid() == 0 else Path.home() / ".local/state/soc/rules-state.yml"))
    rules_reload_interval_s: float = Field(10.0, gt=0)
    # Values of Sigma placeholders (`|expand`), e.g. {"Admins": ["ops*", "root"]}.
    sigma_placeholders: dict[str, list[str]] = Field(default_factory=dict)
    # How often idle correlation groups are looked for and forgotten (bounded memory).
    correlation_expiry_interval_s: float = Field(60.0, gt=0)
    # How soon Kafka gives a dead worker's partitions to the others (faust's default is 60 s).
    session_timeout_s: float = Field(15.0, ge=6)
    # A worker whose group has records waiting while it makes no progress for this long starts
    # itself afresh (soc/stream/watchdog.py: faust can hang after a rebalance); 0: never.
    stuck_s: float = Field(120.0, ge=0)


class AllowEntry(BaseModel):
    """An address or network never blocked, and why (the provincial platform, DNS, the SOC...)."""

    model_config = ConfigDict(extra="forbid")

    cidr: str
    reason: str = Field(min_length=1)

    @field_validator("cidr")
    @classmethod
    def _net(cls, v: str) -> str:
        ipaddress.ip_network(v.strip(), strict=False)
        return v.strip()


class ResponseSettings(BaseModel):
    """Response playbooks and their safety (docs/response.md)."""

    model_config = ConfigDict(extra="forbid")

    playbooks_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "playbooks")
    # Never blocked, whatever fires; adding an entry lifts the blocks it covers. The inventory's
    # critical assets (criticality: critical) are added to it.
    allowlist: list[AllowEntry] = Field(default_factory=list)
    # A CIDR block wider than this (IPv4 / IPv6 prefix length) waits for an analyst's approval.
    approval_wider_than_v4: int = Field(24, ge=0, le=32)
    approval_wider_than_v6: int = Field(64, ge=0, le=128)
    # Blocking an address of an asset of this criticality waits for an analyst's approval.
    approval_criticality: list[str] = Field(default_factory=lambda: ["high"])
    max_blocks_per_minute: int = Field(30, ge=1)  # per playbook
    max_ttl_s: int = Field(30 * 86400, ge=10)
    # Enforcement: the blocklist feed (always), nftables (a host or a network namespace),
    # generic REST firewalls; notification channels by name.
    nftables: dict[str, Any] | None = None
    rest_adapters: list[dict[str, Any]] = Field(default_factory=list)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    threat_intel_file: Path | None = None
    sweep_interval_s: float = Field(5.0, gt=0)  # TTL expiry, approvals, retries
    apply_attempts: int = Field(5, ge=1)
    feed_port: int = Field(9517, ge=1, le=65535)
    feed_token: str | None = None


class ApiSettings(BaseModel):
    """The analysts' API and web UI (soc/api): sign-in, sessions, lockout (MLPS 2.0 8.1.4.1 b)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    session_idle_s: int = Field(900, ge=1)  # signed out after this long without a request
    session_max_s: int = Field(8 * 3600, ge=1)  # and after this long in any case
    lockout_failures: int = Field(5, ge=1)  # failed sign-ins in a row that lock the account...
    lockout_s: int = Field(900, ge=1)  # ...for this long
    cookie_secure: bool = False  # true behind HTTPS (the production layout)


class ComplianceSettings(BaseModel):
    """MLPS 2.0 checks (soc/compliance/, definitions in compliance/checks/)."""

    model_config = ConfigDict(extra="forbid")

    checks_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "compliance" / "checks")
    # How often a worker (the leader) runs every check; `soc compliance run` runs them on demand.
    interval_s: float = Field(3600.0, ge=1)


class UpstreamEndpoint(BaseModel):
    """One receiver of incident notices (docs/upstream.md, "Notices"): the provincial platform,
    or an authority (属地网信部门, 公安机关, 保护工作部门) that takes notices of graver incidents."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # e.g. province, cac-city
    recipient: str = Field("province", pattern=r"^(province|authority)$")
    # Tried in order on a network error or a 5xx (a primary and its standby); every URL of one
    # endpoint is the same receiver, so the idempotency key keeps a notice single across them.
    urls: list[str] = Field(min_length=1)
    adapter: str = "http_sm2"  # soc/reporting/upstream.py ADAPTERS: a province's own interface gets its own
    min_grade: str = Field("一般", pattern=r"^(一般|较大|重大|特别重大)$")  # notices of incidents graded this or graver
    timeout_s: float = Field(10.0, gt=0)
    ca_certs: Path | None = None  # PEM bundle to verify the receiver's HTTPS certificate with
    options: dict[str, Any] = Field(default_factory=dict)  # the adapter's own settings

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"an http(s):// URL, not {url!r}")
        return v


class ReportingSettings(BaseModel):
    """Incident notices upstream (《国家网络安全事件报告管理办法》, in force 2025-11-01): who reports,
    to whom, signed with which SM2 key, how retries back off, how often deadlines are checked
    (soc/reporting/notices.py, outbox.py, upstream.py; docs/upstream.md)."""

    model_config = ConfigDict(extra="forbid")

    unit: str = ""  # 报告单位: the reporting unit's name
    unit_code: str = ""  # its unified social credit code (统一社会信用代码), when known
    contact_name: str = ""  # 联系人
    contact_phone: str = ""
    contact_email: str = ""
    # The operator's kind, for the deadlines (soc/reporting/deadlines.py): e.g. general, cii.
    operator_type: str = "general"
    endpoints: list[UpstreamEndpoint] = Field(default_factory=list)
    sender_id: str = ""  # who we are to the receivers (the envelope's sender)
    key_id: str = ""  # which of our keys the receiver verifies with
    private_key_file: Path | None = None  # SM2 key files (soc province keygen / soc.reporting.sm)
    public_key_file: Path | None = None
    # Retries: base * 2**(attempt-1), capped at max, with ±jitter (a fraction) so senders spread.
    retry_base_s: float = Field(30.0, gt=0)
    retry_max_s: float = Field(3600.0, gt=0)
    retry_jitter: float = Field(0.2, ge=0, le=1)
    # How long a worker holds a notice it is sending before another may take it over.
    claim_s: float = Field(120.0, gt=0)
    interval_s: float = Field(30.0, ge=1)  # the worker's drain and deadline check

    @model_validator(mode="after")
    def _claim_outlasts_an_attempt(self) -> ReportingSettings:
        for ep in self.endpoints:
            attempt = ep.timeout_s * len(ep.urls)
            if self.claim_s < 2 * attempt:
                raise ValueError(f"claim_s ({self.claim_s:g} s) must be at least twice the longest attempt "
                                 f"(endpoint {ep.name}: {len(ep.urls)} URL(s) × timeout_s {ep.timeout_s:g} s), or "
                                 "a second worker could take a notice over while it is still being sent")
        return self


# Log retention (docs/retention.md). The Cybersecurity Law (网络安全法, Art. 21; Art. 23 since the
# amendment in force 2026-01-01) and MLPS 2.0 8.1.5.4 d: network logs are kept at least six months.
RETENTION_FLOOR_DAYS = 180
RETENTION_LAW = ("网络安全法 第二十三条 (Cybersecurity Law Art. 23, Art. 21 before the 2026 amendment): "
                 "network logs kept at least six months; MLPS 2.0 8.1.5.4 d")
# Families holding logs or records of security events: never kept less than the floor.
RETENTION_IN_SCOPE = ("events", "deadletter", "audit", "alerts", "actions", "incidents")
RETENTION_DEFAULTS = {"events": 180, "deadletter": 180, "audit": 365, "alerts": 365, "actions": 365,
                      "incidents": 365, "compliance": 365}


class RetentionSettings(BaseModel):
    """How long each index family is kept (soc/store/retention.py, docs/retention.md).

    Dated indices (`<prefix>-<family>-YYYY.MM.DD`, today the daily events) older than their
    family's days are deleted, by ILM where the cluster has it, else by the worker's retention
    timer; single indices are never deleted. In-scope families cannot be set below the floor.
    """

    model_config = ConfigDict(extra="forbid")

    # Family -> days; families not named keep their default (RETENTION_DEFAULTS).
    policies: dict[str, int] = Field(default_factory=lambda: dict(RETENTION_DEFAULTS),
                                     description="index family -> days kept")
    # event.dataset glob (* and ?) -> days. A daily events index mixes every dataset of its day
    # and is deleted whole, so a dataset's days lengthen the whole events family (never shorten).
    datasets: dict[str, int] = Field(default_factory=dict, description="event.dataset glob -> days kept")
    interval_s: float = Field(3600.0, ge=60, description="how often the worker's leader applies retention")

    @field_validator("policies")
    @classmethod
    def _floor(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(v) - set(RETENTION_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown index family {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(RETENTION_DEFAULTS)})")
        merged = {**RETENTION_DEFAULTS, **v}
        for family, days in merged.items():
            if family in RETENTION_IN_SCOPE and days < RETENTION_FLOOR_DAYS:
                raise ValueError(
                    f"retention.policies.{family} = {days} days is below the {RETENTION_FLOOR_DAYS}-day floor for "
                    f"in-scope logs, refused ({RETENTION_LAW})")
            if days < 1:
                raise ValueError(f"retention.policies.{family} = {days}: at least 1 day")
        return merged

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, v: dict[str, int], info: Any) -> dict[str, int]:
        events = (info.data.get("policies") or RETENTION_DEFAULTS)["events"]
        for glob, days in v.items():
            if not glob.strip() or any(c in glob for c in "[]"):
                raise ValueError(f"retention.datasets key {glob!r}: an event.dataset name or a glob with * and ?")
            if days < RETENTION_FLOOR_DAYS:
                raise ValueError(
                    f"retention.datasets.{glob} = {days} days is below the {RETENTION_FLOOR_DAYS}-day floor for "
                    f"in-scope logs, refused ({RETENTION_LAW})")
            if days < events:
                raise ValueError(
                    f"retention.datasets.{glob} = {days} days is shorter than the events family ({events} days): "
                    "a daily events index holds every dataset and is deleted whole, so a dataset cannot be "
                    "kept shorter than its index (docs/retention.md)")
        return v


class SyslogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    udp_port: int | None = Field(5514, ge=1, le=65535)
    tcp_port: int | None = Field(5514, ge=1, le=65535)
    metrics_port: int | None = Field(9514, ge=1, le=65535)
    tls_port: int | None = Field(None, ge=1, le=65535)  # RFC 5425 syslog over TLS (6514 by convention)
    tls_cert: Path | None = None  # PEM certificate chain of this collector
    tls_key: Path | None = None  # its PEM private key
    tls_client_ca: Path | None = None  # when set, senders must present a certificate signed by it
    max_line_bytes: int = Field(1024 * 1024 + 1024, ge=1024)
    charset: str = "utf-8"
    timezone: str = "Asia/Shanghai"
    tenant: str = ""


class HttpSettings(BaseModel):
    """`soc collect http`: NDJSON batches authenticated by a per-source token."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8088, ge=1, le=65535)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_line_bytes: int = Field(1024 * 1024 + 1024, ge=1024)


class FileSettings(BaseModel):
    """`soc collect file`: where read offsets are kept and how often files are polled."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = Field(default_factory=lambda: (
        Path("/var/lib/soc/file-offsets") if os.geteuid() == 0 else Path.home() / ".local/state/soc/file-offsets"))
    poll_interval_s: float = Field(0.5, gt=0)
    flush_idle_s: float = Field(2.0, gt=0)  # a last line without newline is sent after this
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(9515, ge=1, le=65535)


class PcapSettings(BaseModel):
    """`soc collect pcap`: how packets are grouped into flows."""

    model_config = ConfigDict(extra="forbid")

    idle_s: float = Field(30.0, gt=0)  # a flow with no packet for this long (packet time) ends
    active_s: float = Field(300.0, gt=0)  # a longer flow is reported in pieces of this length
    max_flows: int = Field(200_000, ge=100)  # beyond this, the oldest flows are reported early
    bpf_filter: str = ""  # live capture only, e.g. "not port 9092"
    metrics_port: int | None = Field(9516, ge=1, le=65535)  # live capture: /metrics on 127.0.0.1


class SpoolSettings(BaseModel):
    """Where collectors keep what Kafka cannot take yet (one sub-folder per collector)."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = None  # default: /var/lib/soc/spool as root, else ~/.local/state/soc/spool
    max_bytes: int = Field(1024**3, ge=1024 * 1024)

    def folder(self, collector: str) -> Path:
        base = self.dir
        if base is None:
            base = Path("/var/lib/soc/spool") if os.geteuid() == 0 else Path.home() / ".local/state/soc/spool"
        return base / collector


class Settings(BaseSettings):
    """Everything configurable, in one place."""

    model_config = SettingsConfigDict(env_prefix="SOC_", env_nested_delimiter="__", extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    elastic: ElasticSettings = Field(default_factory=ElasticSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    syslog: SyslogSettings = Field(default_factory=SyslogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    file: FileSettings = Field(default_factory=FileSettings)
    pcap: PcapSettings = Field(default_factory=PcapSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    response: ResponseSettings = Field(default_factory=ResponseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
    reporting: ReportingSettings = Field(default_factory=ReportingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    topic_prefix: str = "soc"
    sources_file: Path | None = None  # the YAML list of log sources (sources.example.yaml)
    assets_file: Path | None = None  # the asset inventory (assets.example.yaml)
    # Local MaxMind-format GeoIP files (.mmdb: a City and an ASN file, say); empty: no GeoIP.
    # Never downloaded. SOC_GEOIP_DATABASES takes a JSON list or comma-separated paths.
    geoip_databases: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    # Shortcuts named in the README: SOC_KAFKA_BOOTSTRAP and SOC_ES_URL.
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("geoip_databases", mode="before")
    @classmethod
    def _path_list(cls, v: Any) -> Any:
        if isinstance(v, str):  # from the environment, or a single path in soc.yaml
            text = v.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"not a valid JSON list: {exc}") from None
            return [p.strip() for p in text.split(",") if p.strip()]
        return v

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka.bootstrap is None

    @property
    def uses_local_elastic(self) -> bool:
        return self.elastic.url is None

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap or f"127.0.0.1:{self.stack.kafka_port}"

    @property
    def es_url(self) -> str:
        return self.elastic.url or f"http://127.0.0.1:{self.stack.es_port}"


class _YamlSource(PydanticBaseSettingsSource):
    """soc.yaml from $SOC_CONFIG or the current directory, plus the two shortcut variables."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        path = Path(os.environ.get("SOC_CONFIG", "soc.yaml"))
        if path.exists():
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: the top level must be a mapping of settings")
            data.update(loaded)
        if os.environ.get("SOC_KAFKA_BOOTSTRAP"):
            data.setdefault("kafka", {})["bootstrap"] = os.environ["SOC_KAFKA_BOOTSTRAP"]
        if os.environ.get("SOC_ES_URL"):
            data.setdefault("elastic", {})["url"] = os.environ["SOC_ES_URL"]
        return data


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env = "SOC_" + "__".join(str(p).upper() for p in err["loc"])
        value = err.get("input")
        lines.append(f"setting '{key}' (soc.yaml key {key} or ${env}) = {value!r}: {err['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise ConfigError naming each bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
