"""The local single-node Elasticsearch on 127.0.0.1, run as an unprivileged user.

Security stays on (basic auth over HTTP on loopback), so the code path is the production one:
the `elastic` user's password is generated once, put in the keystore as bootstrap.password and
kept in <home>/elasticsearch/credentials (mode 0600) for the platform's own clients.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from soc.config import StackSettings
from soc.stack.artifacts import ensure_elasticsearch
from soc.stack.process import ServiceProcess, StackError, java_home, port_free, wait_until

ES_YML = """# written by `soc stack up`; edits are overwritten
cluster.name: soc-local
node.name: soc-local-1
discovery.type: single-node
network.host: 127.0.0.1
http.port: {port}
transport.port: {tport}
path.data: {data}
path.logs: {logs}
xpack.security.enabled: true
xpack.security.http.ssl.enabled: false
xpack.security.transport.ssl.enabled: false
# A development node on a shared disk: do not turn indices read-only when the disk fills up.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: true
"""


def credentials_file(cfg: StackSettings) -> Path:
    return cfg.resolved_home() / "elasticsearch" / "credentials"


def local_credentials(cfg: StackSettings) -> tuple[str, str] | None:
    """(user, password) of the local node, if `soc stack up` has provisioned one."""
    try:
        user, _, password = credentials_file(cfg).read_text().strip().partition(":")
    except (FileNotFoundError, PermissionError):
        return None
    return (user, password) if password else None


class ElasticNode:
    """Provision, start, probe and stop the local Elasticsearch node."""

    def __init__(self, cfg: StackSettings) -> None:
        self.cfg = cfg
        self.base = cfg.resolved_home() / "elasticsearch"
        self.es_home = self.base / f"elasticsearch-{cfg.es_version}"
        self.process = ServiceProcess("elasticsearch", self.base)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.es_port}"

    def _run_user(self) -> str | None:
        """The user to run as: a dedicated unprivileged one when we are root (ES refuses root)."""
        if os.geteuid() != 0:
            return None
        name = self.cfg.es_user
        try:
            pwd.getpwnam(name)
        except KeyError:
            proc = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise StackError(f"cannot create the unprivileged user {name!r} for Elasticsearch: {proc.stderr}")
        return name

    def _unpack(self) -> None:
        if (self.es_home / "bin" / "elasticsearch").exists():
            return
        zip_path = ensure_elasticsearch(self.cfg)
        self.base.mkdir(parents=True, exist_ok=True)
        staging = self.base / "unpack.partial"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                zf.extract(info, staging)
                mode = info.external_attr >> 16
                if mode:
                    os.chmod(staging / info.filename, mode & 0o777)
        (next(staging.iterdir())).rename(self.es_home)
        staging.rmdir()

    def _configure(self, user: str | None, env: dict[str, str]) -> None:
        data, logs = self.base / "data", self.base / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        conf = self.es_home / "config"
        (conf / "elasticsearch.yml").write_text(
            ES_YML.format(port=self.cfg.es_port, tport=self.cfg.es_transport_port, data=data, logs=logs)
        )
        if user:
            for root, dirs, files in os.walk(self.base):
                for name in dirs + files:
                    shutil.chown(os.path.join(root, name), user, user)
            shutil.chown(self.base, user, user)
            os.chmod(self.cfg.resolved_home(), 0o755)
            os.chmod(self.base, 0o755)
        creds = credentials_file(self.cfg)
        if local_credentials(self.cfg) is None or not (conf / "elasticsearch.keystore").exists():
            password = secrets.token_urlsafe(18)
            ks = str(self.es_home / "bin" / "elasticsearch-keystore")
            for argv, stdin in (([ks, "create"], None), ([ks, "add", "-x", "-f", "bootstrap.password"], password)):
                proc = subprocess.run(
                    argv, input=stdin, env=env, user=user, group=user, capture_output=True, text=True, check=False
                )
                if proc.returncode != 0:
                    raise StackError(f"elasticsearch-keystore failed: {(proc.stdout + proc.stderr).strip()[-800:]}")
            creds.write_text(f"elastic:{password}\n")
            os.chmod(creds, 0o600)
            if user:
                shutil.chown(creds, "root", "root")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JAVA_", "ES_", "_JAVA"))}
        env["ES_JAVA_HOME"] = str(java_home(self.cfg.java_home))
        env["ES_JAVA_OPTS"] = f"-Xms{self.cfg.es_heap} -Xmx{self.cfg.es_heap}"
        env["HOME"] = str(self.base)
        return env

    def up(self) -> str:
        if self.process.running():
            wait_until(self.healthy, self.cfg.start_timeout_s, "starting", self.process)
            return f"Elasticsearch already running at {self.url}"
        for port in (self.cfg.es_port, self.cfg.es_transport_port):
            if not port_free(port):
                raise StackError(
                    f"port {port} on 127.0.0.1 is taken by another process; stop it or set "
                    f"stack.es_port / stack.es_transport_port"
                )
        env = self._env()
        self._unpack()
        user = self._run_user()
        self._configure(user, env)
        self.process.start([str(self.es_home / "bin" / "elasticsearch")], env=env, cwd=self.es_home, user=user)
        wait_until(self.healthy, self.cfg.start_timeout_s, "starting", self.process)
        return f"Elasticsearch started at {self.url} (pid {self.process.pid()}, runs as {user or 'this user'})"

    def healthy(self) -> bool:
        """The cluster answers and is at least yellow."""
        creds = local_credentials(self.cfg)
        if creds is None:
            return False
        req = urllib.request.Request(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=2s")
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                status = json.loads(resp.read()).get("status")
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return status in ("yellow", "green")

    def down(self) -> str:
        return "Elasticsearch stopped" if self.process.stop() else "Elasticsearch was not running"

    def status(self) -> str:
        pid = self.process.pid()
        if pid is None:
            return "stopped"
        return f"running (pid {pid}, {self.url}, {'healthy' if self.healthy() else 'not answering'})"
