"""Notices of the `notify` playbook step: where they go (channels) and what they say (templates).

A channel is configured by name in settings (`response.channels`, a ChannelsConfig) and is one of
a plain JSON webhook, a WeCom (企业微信) group robot, a DingTalk (钉钉) group robot or an SMTP
mailbox. A notice is a markdown template of playbooks/templates/: its first `# ` line is the
subject, the rest the body. A field the alert lacks prints as "-": a notice never fails for a
missing field. `send` raises NotifyError, naming the channel and the reason, whenever the notice
did not arrive; it never retries (the engine decides that).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import smtplib
import ssl
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus, urlsplit

import httpx
from jinja2 import ChainableUndefined, FileSystemLoader, TemplateError, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, model_validator

from soc.model import get_path, parse_iso

WECOM_MAX_BYTES = 4096  # a WeCom robot's markdown content is at most 4096 bytes of UTF-8
_BEIJING = timezone(timedelta(hours=8))
_LEVEL_ZH = {"critical": "严重", "high": "高危", "medium": "中危", "low": "低危", "informational": "信息"}


class NotifyError(RuntimeError):
    """A notice did not arrive (or could not be written); the message says where and why."""


# --------------------------------------------------------------------------- channels


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(10.0, gt=0, le=120)  # seconds, for connecting and for the answer


class WebhookChannel(_Channel):
    """Any HTTP endpoint: POST {"subject": ..., "body": ...} as JSON; any 2xx is success."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Authorization


class WecomChannel(_Channel):
    """企业微信群机器人: url = https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."""

    type: Literal["wecom"]
    url: str = Field(pattern=r"^https?://")


class DingtalkChannel(_Channel):
    """钉钉群机器人: url = https://oapi.dingtalk.com/robot/send?access_token=...;
    secret (SEC...) when the robot's security setting is 加签."""

    type: Literal["dingtalk"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None


class SmtpChannel(_Channel):
    """A mailbox: a UTF-8 text/plain mail from sender to every recipient."""

    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = Field(min_length=3)
    recipients: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together, or neither")
        return self


ChannelConfig = Annotated[WebhookChannel | WecomChannel | DingtalkChannel | SmtpChannel,
                          Field(discriminator="type")]
ChannelsConfig = dict[str, ChannelConfig]  # channel name (as playbooks name it) -> its config


# --------------------------------------------------------------------------- sending


async def send(channel: ChannelConfig, subject: str, body: str, *, name: str = "") -> None:
    """Deliver one notice; NotifyError when it did not arrive. `name`, the channel's name in
    the settings, only makes the error clearer. Errors never show a webhook's key or token."""
    where = _describe(channel, name)
    try:
        if isinstance(channel, SmtpChannel):
            await asyncio.to_thread(_send_mail, channel, subject, body)
        elif isinstance(channel, WecomChannel):
            content = _clip(f"## {subject}\n{body}", WECOM_MAX_BYTES)
            await _post(channel, channel.url, {"msgtype": "markdown", "markdown": {"content": content}})
        elif isinstance(channel, DingtalkChannel):
            text = {"title": subject, "text": f"### {subject}\n\n{body}"}
            await _post(channel, _signed(channel.url, channel.secret), {"msgtype": "markdown", "markdown": text})
        else:
            await _post(channel, channel.url, {"subject": subject, "body": body}, channel.headers)
    except NotifyError as exc:
        raise NotifyError(f"{where}: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:  # SMTPException is an OSError
        reason = str(exc) or type(exc).__name__
        if not isinstance(channel, SmtpChannel):
            reason = reason.replace(channel.url, _host(channel.url))
        raise NotifyError(f"{where}: {reason}") from None


def _host(url: str) -> str:
    """host[:port] of a URL: never its path or query, where robots keep their key."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _describe(channel: ChannelConfig, name: str) -> str:
    host = f"{channel.host}:{channel.port}" if isinstance(channel, SmtpChannel) else _host(channel.url)
    label = f"channel {name!r} " if name else "channel "
    return f"notify via {label}({channel.type}, {host})"


async def _post(channel: _Channel, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """POST the JSON payload; a robot (WeCom, DingTalk) must also answer errcode 0."""
    async with httpx.AsyncClient(timeout=channel.timeout) as client:
        resp = await client.post(url, json=payload, headers=headers)
    if not resp.is_success:
        raise NotifyError(f"HTTP {resp.status_code}: {resp.text[:200].strip() or resp.reason_phrase}")
    if isinstance(channel, WebhookChannel):
        return
    try:
        answer = resp.json()
        code, message = answer.get("errcode"), answer.get("errmsg", "")
    except (ValueError, AttributeError):
        raise NotifyError(f"the robot answered something other than JSON: {resp.text[:200]!r}") from None
    if code != 0:
        raise NotifyError(f"errcode {code}: {message}")


def _signed(url: str, secret: str | None) -> str:
    """DingTalk's 加签 mode: &timestamp=<ms>&sign=urlencode(base64(HMAC-SHA256(secret, "ts\\nsecret")))."""
    if not secret:
        return url
    timestamp = str(int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp}&sign={quote_plus(base64.b64encode(digest))}"


def _clip(text: str, limit: int) -> str:
    """text cut to at most limit bytes of UTF-8 (on a character boundary), marked as cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    mark = "\n…（内容过长，已截断）"
    return data[: limit - len(mark.encode())].decode(errors="ignore") + mark


def _send_mail(channel: SmtpChannel, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.recipients)
    msg.set_content(body, charset="utf-8", cte="base64")  # 7-bit safe for any relay
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if channel.username is not None and channel.password is not None:
            smtp.login(channel.username, channel.password)
        refused = smtp.send_message(msg)  # envelope from the From and To headers
    if refused:
        raise NotifyError(f"the server refused {', '.join(sorted(refused))} (the other recipients got it)")


# --------------------------------------------------------------------------- templates


class _Dash(ChainableUndefined):
    """A missing value: prints "-", and so does anything read from it."""

    __slots__ = ()

    def __str__(self) -> str:
        return "-"


def _finalize(value: Any) -> Any:
    return "-" if value is None or value == "" else value


def _local_time(value: Any) -> Any:
    """An ISO-8601 time as Beijing time (UTC+8), `2025-11-25 10:00:00`; anything else unchanged."""
    if isinstance(value, str):
        try:
            value = parse_iso(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    return value


def render(template_dir: Path, name: str, alert: dict[str, Any], extra: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of template_dir/<name>.md for this alert.

    The template sees `alert`, `get("dotted.path")` (a field of the alert) and the keys of
    `extra`; filters `local_time` (ISO → Beijing time) and `level_zh` (high → 高危). The first
    line starting with "# " is the subject (the template's name when there is none).
    """
    env = SandboxedEnvironment(loader=FileSystemLoader(template_dir), undefined=_Dash, autoescape=False,
                               finalize=_finalize, trim_blocks=True, lstrip_blocks=True)
    env.filters["local_time"] = _local_time
    env.filters["level_zh"] = lambda v: _LEVEL_ZH.get(str(v), v)

    def get(path: str) -> Any:
        value = get_path(alert, path)
        return _Dash(name=path) if value is None else value

    file = template_dir / f"{name}.md"
    try:
        text = env.get_template(f"{name}.md").render({**extra, "alert": alert, "get": get})
    except TemplateNotFound:
        raise NotifyError(f"notice template {file} does not exist") from None
    except TemplateSyntaxError as exc:
        raise NotifyError(f"notice template {file}:{exc.lineno}: {exc.message}") from None
    except (TemplateError, TypeError, ValueError) as exc:
        raise NotifyError(f"notice template {file} cannot be rendered: {exc}") from None
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if at is None:
        return name, text.strip()
    return lines[at][2:].strip(), "\n".join(lines[:at] + lines[at + 1:]).strip()
