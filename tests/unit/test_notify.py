"""Notices: real local servers (an HTTP robot, an SMTP server) receive what the channels send."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from pydantic import TypeAdapter, ValidationError

from soc.response.notify import ChannelConfig, ChannelsConfig, NotifyError, render, send

TEMPLATES = Path(__file__).resolve().parents[2] / "playbooks" / "templates"
SUBJECT = "【已自动封禁】203.0.113.9 · SSH 暴力破解"
BODY = "- 攻击来源：203.0.113.9（荷兰）\n- 受攻击资产：政务服务网（等保3级）"
channel = TypeAdapter(ChannelConfig).validate_python

# path -> (HTTP status, answer) of the local robot
ANSWERS = {
    "/wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "/dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "/hook": (200, {"accepted": True}),
    "/refuses": (200, {"errcode": 310000, "errmsg": "sign not match"}),
    "/broken": (500, "内部错误"),
}


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any


class _Robot(BaseHTTPRequestHandler):
    server: _RobotServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append(Seen(url.path, parse_qs(url.query), dict(self.headers), json.loads(data)))
        status, answer = ANSWERS[url.path]
        out = json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _RobotServer(ThreadingHTTPServer):
    seen: list[Seen]


TEST_PASSWORD = "local-aiosmtpd-test-only"  # the local test server's, no real account


@pytest.fixture
def robot() -> Iterator[tuple[str, list[Seen]]]:
    """A local robot on a random port: its base URL and the requests it received."""
    server = _RobotServer(("127.0.0.1", 0), _Robot)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", server.seen
    server.shutdown()
    server.server_close()
    thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[Envelope] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802
        self.mails.append(envelope)
        return "250 OK"


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"soc", TEST_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def mailbox() -> Iterator[tuple[int, _Mailbox]]:
    """aiosmtpd on 127.0.0.1 (AUTH offered, not required): its port and the mails it took."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port(), authenticator=_login,
                            auth_require_tls=False)
    controller.start()
    yield controller.port, box
    controller.stop()


def _mail(envelope: Envelope) -> EmailMessage:
    raw = envelope.original_content or b""
    return email.message_from_bytes(raw, _class=EmailMessage, policy=default_policy)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- robots and webhooks


async def test_wecom_robot_gets_a_markdown_message_in_chinese(robot: tuple[str, list[Seen]]) -> None:
    url, seen = robot
    await send(channel({"type": "wecom", "url": f"{url}/wecom?key=k-1"}), SUBJECT, BODY)
    [req] = seen
    assert req.query == {"key": ["k-1"]}
    assert req.headers["Content-Type"] == "application/json"
    assert req.json["msgtype"] == "markdown"
    content = req.json["markdown"]["content"]
    assert SUBJECT in content and BODY in content


async def test_wecom_content_is_cut_to_its_byte_limit_on_a_character(robot: tuple[str, list[Seen]]) -> None:
    url, seen = robot
    await send(channel({"type": "wecom", "url": f"{url}/wecom"}), SUBJECT, "封禁" * 3000)
    content = seen[0].json["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("已截断）")


async def test_signed_dingtalk_message_verifies_with_the_secret(robot: tuple[str, list[Seen]]) -> None:
    url, seen = robot
    secret = "SEC0123456789abcdef封"
    await send(channel({"type": "dingtalk", "url": f"{url}/dingtalk?access_token=t-1", "secret": secret}),
               SUBJECT, BODY)
    [req] = seen
    assert req.query["access_token"] == ["t-1"]
    [timestamp], [sign] = req.query["timestamp"], req.query["sign"]
    expected = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert base64.b64decode(sign, validate=True) == expected  # a '+' not URL-encoded would arrive as ' '
    assert req.json["msgtype"] == "markdown"
    assert req.json["markdown"]["title"] == SUBJECT
    assert SUBJECT in req.json["markdown"]["text"] and BODY in req.json["markdown"]["text"]


async def test_unsigned_dingtalk_url_is_left_alone(robot: tuple[str, list[Seen]]) -> None:
    url, seen = robot
    await send(channel({"type": "dingtalk", "url": f"{url}/dingtalk?access_token=t-1"}), SUBJECT, BODY)
    assert seen[0].query == {"access_token": ["t-1"]}


async def test_webhook_gets_subject_body_and_its_headers(robot: tuple[str, list[Seen]]) -> None:
    url, seen = robot
    await send(channel({"type": "webhook", "url": f"{url}/hook", "headers": {"Authorization": "Bearer x"}}),
               SUBJECT, BODY)
    [req] = seen
    assert req.json == {"subject": SUBJECT, "body": BODY}
    assert req.headers["Authorization"] == "Bearer x"


@pytest.mark.parametrize(("kind", "path", "reason"), [
    ("wecom", "/refuses", "errcode 310000: sign not match"),
    ("dingtalk", "/refuses", "errcode 310000: sign not match"),
    ("dingtalk", "/broken", "HTTP 500: \"内部错误\""),
    ("webhook", "/broken", "HTTP 500"),
])
async def test_a_refusal_names_the_channel_and_the_reason_but_not_the_key(
        robot: tuple[str, list[Seen]], kind: str, path: str, reason: str) -> None:
    url, _ = robot
    with pytest.raises(NotifyError) as err:
        await send(channel({"type": kind, "url": f"{url}{path}?key=SECRETKEY"}), SUBJECT, BODY, name="duty")
    message = str(err.value)
    assert "'duty'" in message and kind in message and reason in message
    assert "SECRETKEY" not in message


@pytest.mark.parametrize("config", [
    {"type": "wecom", "url": "http://127.0.0.1:{port}/wecom?key=SECRETKEY"},
    {"type": "dingtalk", "url": "http://127.0.0.1:{port}/x?access_token=SECRETKEY", "secret": "s"},
    {"type": "webhook", "url": "http://127.0.0.1:{port}/hook?token=SECRETKEY"},
    {"type": "smtp", "host": "127.0.0.1", "port": "{port}", "sender": "soc@example.gov.cn",
     "recipients": ["duty@example.gov.cn"]},
])
async def test_nothing_listening_is_a_notify_error(config: dict[str, Any]) -> None:
    port = _free_port()
    filled = {k: v.format(port=port) if isinstance(v, str) else v for k, v in config.items()}
    with pytest.raises(NotifyError) as err:
        await send(channel(filled), SUBJECT, BODY, name="duty")
    assert f"'duty' ({config['type']}, 127.0.0.1:{port})" in str(err.value)
    assert "SECRETKEY" not in str(err.value)


# --------------------------------------------------------------------------- mail


def _smtp(port: int, **more: Any) -> ChannelConfig:
    return channel({"type": "smtp", "host": "127.0.0.1", "port": port, "sender": "安全运营中心 <soc@example.gov.cn>",
                    "recipients": ["duty@example.gov.cn"], **more})


async def test_mail_arrives_with_chinese_subject_and_body(mailbox: tuple[int, _Mailbox]) -> None:
    port, box = mailbox
    await send(_smtp(port, recipients=["duty@example.gov.cn", "值班长 <lead@example.gov.cn>"]), SUBJECT, BODY)
    [envelope] = box.mails
    assert envelope.mail_from == "soc@example.gov.cn"
    assert envelope.rcpt_tos == ["duty@example.gov.cn", "lead@example.gov.cn"]
    mail = _mail(envelope)
    assert mail["Subject"] == SUBJECT
    assert mail["From"] == "安全运营中心 <soc@example.gov.cn>"
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert mail.get_content().strip() == BODY


async def test_mail_logs_in_and_a_wrong_password_is_a_notify_error(mailbox: tuple[int, _Mailbox]) -> None:
    port, box = mailbox
    await send(_smtp(port, username="soc", password=TEST_PASSWORD), SUBJECT, BODY)
    assert len(box.mails) == 1
    with pytest.raises(NotifyError) as err:
        await send(_smtp(port, username="soc", password="wrong"), SUBJECT, BODY, name="mail")
    assert "'mail' (smtp, 127.0.0.1:" in str(err.value) and "535" in str(err.value)
    assert len(box.mails) == 1


async def test_a_refused_recipient_is_named(mailbox: tuple[int, _Mailbox]) -> None:
    port, box = mailbox
    with pytest.raises(NotifyError, match="nobody@example.gov.cn"):
        await send(_smtp(port, recipients=["duty@example.gov.cn", "nobody@example.gov.cn"]), SUBJECT, BODY)
    assert box.mails[0].rcpt_tos == ["duty@example.gov.cn"]  # the others still got it
    with pytest.raises(NotifyError, match="nobody@example.gov.cn"):
        await send(_smtp(port, recipients=["nobody@example.gov.cn"]), SUBJECT, BODY)


# --------------------------------------------------------------------------- configuration


def test_channels_are_read_from_settings_and_mistakes_refused() -> None:
    channels = TypeAdapter(ChannelsConfig).validate_python(yaml.safe_load("""
duty: {type: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
leaders: {type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=t", secret: SECx}
mail: {type: smtp, host: mail.example.gov.cn, port: 587, starttls: true, sender: soc@example.gov.cn,
       recipients: [duty@example.gov.cn]}
"""))
    assert [c.type for c in channels.values()] == ["wecom", "dingtalk", "smtp"]
    for bad in ({"type": "feishu", "url": "https://x"},
                {"type": "wecom", "url": "https://x", "secret": "typo: wecom has none"},
                {"type": "wecom", "url": "qyapi.weixin.qq.com"},
                {"type": "smtp", "host": "h", "sender": "a@b", "recipients": ["c@d"], "username": "u"}):
        with pytest.raises(ValidationError):
            channel(bad)


# --------------------------------------------------------------------------- templates


ALERT = {
    "rule": {"name": "SSH 暴力破解"},
    "source": {"ip": "203.0.113.9", "geo": {"country_name": "荷兰"}},
    "destination": {"ip": "10.10.0.8"},
    "soc": {
        "asset": {"name": "政务服务网", "mlps_level": 3},
        "alert": {"id": "a1", "severity": "high", "count": 42,
                  "first_seen": "2025-11-25T02:00:00.000Z", "last_seen": "2025-11-25T02:05:00.000Z"},
    },
}
BLOCK = {"target": "203.0.113.9", "ttl_human": "1小时", "expires_at": "2025-11-25T03:05:00.000Z",
         "devices": ["feed", "nftables"]}


def test_block_notice_says_what_was_blocked_and_how_to_undo_it() -> None:
    subject, body = render(TEMPLATES, "block_notice", ALERT, {"block": BLOCK, "playbook": "封禁暴力破解来源"})
    assert subject == SUBJECT
    for line in ("攻击来源：203.0.113.9（荷兰）", "受攻击资产：政务服务网（等保3级），10.10.0.8", "**高危**",
                 "次数：42，2025-11-25 10:00:00 至 2025-11-25 10:05:00",  # Beijing time
                 "到期 2025-11-25 11:05:00", "执行设备：feed、nftables", "soc block remove 203.0.113.9"):
        assert line in body
    assert "{#" not in body and "extra:" not in body  # the template's own notes stay out


@pytest.mark.parametrize("name", ["block_notice", "alert_notice", "approval_request", "block_failed"])
def test_every_template_renders_an_empty_alert_with_dashes(name: str) -> None:
    subject, body = render(TEMPLATES, name, {}, {})
    assert subject.strip() and "-" in subject
    assert "攻击来源：-" in body
    assert "None" not in body and "Undefined" not in body


def test_approval_request_says_how_to_approve_or_reject() -> None:
    extra = {"block": BLOCK, "approval": {"id": "ap-7", "timeout_human": "1小时", "on_timeout": "reject"}}
    subject, body = render(TEMPLATES, "approval_request", ALERT, extra)
    assert subject.startswith("【封禁待审批】203.0.113.9")
    assert "soc block approve ap-7" in body and "soc block reject ap-7" in body and "自动拒绝" in body


def test_missing_fields_print_a_dash_and_values_keep_their_text(tmp_path: Path) -> None:
    (tmp_path / "t.md").write_text(
        "前言\n# 告警 {{ get('rule.name') }}\n"
        "{{ alert.nope.deeper }}|{{ get('a.b.c') }}|{{ who }}|{{ alert.soc.alert.assignee }}|{{ get('x') | level_zh }}"
        "|{{ alert.rule.name }}|{{ get('soc.alert.count') + 1 }}\n", encoding="utf-8")
    alert = {"rule": {"name": "Web 攻击 <script>"}, "soc": {"alert": {"assignee": None, "count": 2}}}
    subject, body = render(tmp_path, "t", alert, {})
    assert subject == "告警 Web 攻击 <script>"  # no HTML escaping
    assert body == "前言\n-|-|-|-|-|Web 攻击 <script>|3"


def test_a_template_without_a_heading_is_named_after_itself(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text("只有正文\n", encoding="utf-8")
    assert render(tmp_path, "plain", {}, {}) == ("plain", "只有正文")


def test_missing_or_broken_templates_are_notify_errors(tmp_path: Path) -> None:
    with pytest.raises(NotifyError, match=r"nonexistent\.md does not exist"):
        render(tmp_path, "nonexistent", ALERT, {})
    with pytest.raises(NotifyError, match="does not exist"):
        render(tmp_path, "../etc/passwd", ALERT, {})
    (tmp_path / "bad.md").write_text("# x\n{% if %}\n", encoding="utf-8")
    with pytest.raises(NotifyError, match=r"bad\.md:2"):
        render(tmp_path, "bad", ALERT, {})


def test_a_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    (tmp_path / "evil.md").write_text("# x\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8")
    with pytest.raises(NotifyError, match="cannot be rendered"):
        render(tmp_path, "evil", ALERT, {})
