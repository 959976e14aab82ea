"""The generic REST firewall adapter against a real local HTTP server that records each request."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from string import Template
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from soc.response.adapters import AdapterError
from soc.response.adapters.rest import RestAdapter, RestAdapterConfig, validate

TOKEN = "tok-3f9a-SECRET"
PASSWORD = "P@ss-w0rd-SECRET"
API_KEY = "key-77c1-SECRET"

# (a) a JSON API with a bearer token
JSON_API = """
name: edge-fw
base_url: $url
auth: {type: bearer, token: "$token"}
block:
  method: POST
  path: /api/v1/blocklist
  body: '{"ip": "{{ ip }}", "mask": {{ prefix }}, "timeout": {{ ttl_s }}, "comment": {{ ("soc " ~ scope) | tojson }}}'
  headers: {X-Request-Source: soc}
unblock:
  method: DELETE
  path: /api/v1/blocklist/{{ ip }}
"""

# (b) a Chinese-vendor style: HTTP 200 always, the outcome in {"code": ..., "msg": ...}
CN_VENDOR = """
name: dc-ngfw
base_url: $url/rest
auth: {type: basic, username: soc-api, password: "$password"}
success_json: {path: code, equals: 0}
block:
  method: POST
  path: /v1/blacklist/add
  body: |
    {"name": "{{ name }}", "ipaddr": "{{ ip }}", "netmask": "{{ netmask }}",
     "age": {{ ttl_min }}, "desc": "soc {{ scope }}"}
unblock:
  method: POST
  path: /v1/blacklist/delete
  body: '{"name": "{{ name }}"}'
"""

OK_CN = (200, '{"code": 0, "msg": "success"}')


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


@dataclass
class Device:
    url: str
    seen: list[Seen] = field(default_factory=list)
    reply: Callable[[Seen], tuple[int, str]] = lambda seen: OK_CN
    stall: bool = False  # hold every request until the test ends
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def device() -> Iterator[Device]:
    dev = Device(url="")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None)
            dev.seen.append(seen)
            if dev.stall:
                dev.release.wait(10)
                return
            status, body = dev.reply(seen)
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    dev.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield dev
    dev.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def config(text: str, url: str, **changes: Any) -> RestAdapterConfig:
    data = yaml.safe_load(Template(text).substitute(url=url, token=TOKEN, password=PASSWORD))
    return RestAdapterConfig.model_validate(data | changes)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_json_api_block_sends_the_request_the_device_expects(device: Device) -> None:
    device.reply = lambda seen: (201, '{"id": 17}')
    await RestAdapter(config(JSON_API, device.url)).block("203.0.113.5", 3600, "tenant-a")
    [seen] = device.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/blocklist")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-request-source"] == "soc"
    assert seen.body == {"ip": "203.0.113.5", "mask": 32, "timeout": 3600, "comment": "soc tenant-a"}


async def test_json_api_unblock_and_404_counts_as_already_absent(device: Device) -> None:
    adapter = RestAdapter(config(JSON_API, device.url))
    for status in (204, 404):
        device.reply = lambda seen, status=status: (status, "")
        await adapter.unblock("203.0.113.5", "all")
    assert [(s.method, s.path, s.body) for s in device.seen] == [
        ("DELETE", "/api/v1/blocklist/203.0.113.5", None)] * 2
    device.reply = lambda seen: (404, '{"error": "no such route"}')
    with pytest.raises(AdapterError, match="HTTP 404"):  # 404 is no success for block
        await adapter.block("203.0.113.5", 60, "all")


async def test_cn_vendor_block_of_a_cidr_block_with_named_object(device: Device) -> None:
    adapter = RestAdapter(config(CN_VENDOR, device.url))
    await adapter.block("198.51.100.0/24", 3601, "全市")
    await adapter.unblock("198.51.100.0/24", "全市")
    block, unblock = device.seen
    assert (block.method, block.path) == ("POST", "/rest/v1/blacklist/add")
    assert block.headers["authorization"].startswith("Basic ")
    assert block.body == {"name": "soc-198-51-100-0-24", "ipaddr": "198.51.100.0",
                          "netmask": "255.255.255.0", "age": 61, "desc": "soc 全市"}
    assert (unblock.path, unblock.body) == ("/rest/v1/blacklist/delete", {"name": "soc-198-51-100-0-24"})


async def test_cn_vendor_error_code_in_a_200_answer_fails(device: Device) -> None:
    device.reply = lambda seen: (200, '{"code": 1001, "msg": "对象已存在"}')
    with pytest.raises(AdapterError) as err:
        await RestAdapter(config(CN_VENDOR, device.url)).block("203.0.113.5", 600, "all")
    message = str(err.value)
    assert message.startswith(f"dc-ngfw: POST {device.url}/rest/v1/blacklist/add: ")
    assert "code is 1001, expected 0" in message and "对象已存在" in message


@pytest.mark.parametrize("status, body, reason", [
    (200, "<html>login</html>", "the answer is not JSON"),
    (200, '{"msg": "ok"}', "code is missing"),
    (200, '[0]', "code is missing"),
])
async def test_cn_vendor_answer_without_the_code_fails(device: Device, status: int, body: str,
                                                       reason: str) -> None:
    device.reply = lambda seen: (status, body)
    with pytest.raises(AdapterError, match=reason):
        await RestAdapter(config(CN_VENDOR, device.url)).unblock("203.0.113.5", "all")


async def test_server_error_fails_with_at_most_200_characters_of_the_body(device: Device) -> None:
    device.reply = lambda seen: (500, "x" * 1000)
    with pytest.raises(AdapterError) as err:
        await RestAdapter(config(JSON_API, device.url)).block("203.0.113.5", 3600, "all")
    message = str(err.value)
    assert message.startswith(f"edge-fw: POST {device.url}/api/v1/blocklist: HTTP 500: ")
    assert "x" * 200 in message and "x" * 201 not in message


async def test_connection_refused_fails() -> None:
    url = closed_port_url()
    with pytest.raises(AdapterError, match=r"edge-fw: DELETE .*/api/v1/blocklist/203\.0\.113\.5: ConnectError"):
        await RestAdapter(config(JSON_API, url)).unblock("203.0.113.5", "all")


async def test_timeout_fails(device: Device) -> None:
    device.stall = True
    with pytest.raises(AdapterError, match="timed out after 0.2s"):
        await RestAdapter(config(JSON_API, device.url, timeout_s=0.2)).block("203.0.113.5", 60, "all")


async def test_tls_to_a_plain_http_server_fails(device: Device) -> None:
    url = device.url.replace("http://", "https://")
    with pytest.raises(AdapterError, match=r"edge-fw: POST https://127\.0\.0\.1:\d+/api/v1/blocklist: "):
        await RestAdapter(config(JSON_API, url)).block("203.0.113.5", 60, "all")


def _echo_credentials(seen: Seen) -> tuple[int, str]:
    return 500, json.dumps({k: v for k, v in seen.headers.items() if k in ("authorization", "x-api-key")})


@pytest.mark.parametrize("auth, secret", [
    ({"type": "bearer", "token": TOKEN}, TOKEN),
    ({"type": "basic", "username": "soc-api", "password": PASSWORD}, PASSWORD),
    ({"type": "basic", "username": "soc-api", "password": PASSWORD},
     base64.b64encode(f"soc-api:{PASSWORD}".encode()).decode()),
    ({"type": "header", "name": "X-API-Key", "value": API_KEY}, API_KEY),
])
async def test_credentials_never_appear_in_error_messages(device: Device, auth: dict[str, str],
                                                          secret: str) -> None:
    device.reply = _echo_credentials  # a device that echoes them in its error page
    messages = []
    for url in (device.url, closed_port_url()):
        adapter = RestAdapter(config(JSON_API, url, auth=auth))
        with pytest.raises(AdapterError) as err:
            await adapter.block("203.0.113.5", 3600, "all")
        messages.append(str(err.value))
        assert secret not in repr(adapter.config)
    assert "HTTP 500" in messages[0] and "***" in messages[0]
    assert all(secret not in m for m in messages)
    assert {"authorization", "x-api-key"} & device.seen[0].headers.keys()  # the device got them


@pytest.mark.parametrize("change, problem", [
    ({"path": "/api/v1/blocklist/{{ addr }}"}, "'addr' is undefined"),
    ({"body": '{"ip": {{ ip }}}'}, "block.body is not JSON"),
    ({"body": '{"ip": "{{ ip }"}'}, "TemplateSyntaxError"),
    ({"headers": {"X-Obj": "{{ ''.__class__.__mro__ }}"}}, "block.headers.X-Obj template"),
])
def test_validate_rejects_bad_block_templates(device: Device, change: dict[str, Any],
                                              problem: str) -> None:
    base = config(JSON_API, device.url)
    bad = base.model_copy(update={"block": base.block.model_copy(update=change)})
    with pytest.raises(AdapterError, match=problem):
        validate(bad)
    with pytest.raises(AdapterError, match=problem):
        RestAdapter(bad)


def test_validate_rejects_a_ttl_in_the_unblock_request(device: Device) -> None:
    base = config(CN_VENDOR, device.url)
    bad = base.model_copy(update={"unblock": base.unblock.model_copy(
        update={"body": '{"name": "{{ name }}", "age": {{ ttl_min }}}'})})
    with pytest.raises(AdapterError, match="unblock.body template: .*'ttl_min' is undefined"):
        validate(bad)
    validate(base)


async def test_render_errors_at_use_fail_without_a_request(device: Device) -> None:
    base = config(JSON_API, device.url)
    tricky = base.model_copy(update={"block": base.block.model_copy(
        update={"path": "/api/v1/blocklist{% if scope == 'tenant-x' %}/{{ tenant }}{% endif %}"})})
    adapter = RestAdapter(tricky)  # the samples do not reach the branch
    with pytest.raises(AdapterError, match="edge-fw: block: block.path template: .*'tenant' is undefined"):
        await adapter.block("203.0.113.5", 60, "tenant-x")
    with pytest.raises(AdapterError, match="edge-fw: block: not an address or CIDR block"):
        await adapter.block("evil.example", 60, "all")
    assert device.seen == []


@pytest.mark.parametrize("change, problem", [
    ({"base_url": "https://admin:pw@fw.example"}, "no credentials in the URL"),
    ({"base_url": "ftp://fw.example"}, "http:// or https://"),
    ({"ca_file": "/etc/ca.pem", "verify_tls": False}, "verify_tls is false"),
    ({"retries": 3}, "Extra inputs are not permitted"),
    ({"success_status": [700]}, "less than or equal to 599"),
])
def test_config_model_rejects(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        config(JSON_API, "https://fw.example", **change)


def test_missing_ca_file_is_rejected_at_load(tmp_path: Any) -> None:
    cfg = config(JSON_API, "https://fw.example", ca_file=str(tmp_path / "none.pem"))
    with pytest.raises(AdapterError, match="ca_file .* is not a readable file"):
        RestAdapter(cfg)
