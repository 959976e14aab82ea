"""nginx and Apache httpd access logs (common/combined and usual extras) and error logs to ECS."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo

from soc.model import get_path, iso, set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import set_url, relate_ips, set_observer, valid_ip

TAG_TIMESTAMP_INVALID = "_timestamp_invalid"
TAG_PARTIAL = "_parse_partial"

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
)}  # fmt: skip

# ---------------------------------------------------------------- access log
# "[10/Oct/2000:13:55:36 -0700]" of %t / $time_local.
_CLF_TIME = r"\[(?P<day>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))? (?P<tz>[+-]\d{4})\]"
_QUOTED = r'"(?P<{name}>(?:[^"\\]|\\.){{0,16384}})"'
# ... ident user [time] "request" status bytes  (the part before ident is read separately)
_ACCESS = re.compile(
    r"(?P<head>.{0,2048}?) (?P<ident>\S{1,256}) (?P<user>\S{1,256}) " + _CLF_TIME + " "
    + _QUOTED.format(name="request") + r" (?P<status>\d{3}|-) (?P<bytes>\d{1,20}|-)(?P<rest>.*)",
    re.DOTALL,
)
# mod_ssl's ssl_request_log: [time] client protocol cipher "request" bytes
_SSL_REQUEST = re.compile(
    _CLF_TIME + r" (?P<client>\S{1,256}) (?P<tlsproto>[A-Za-z]{2,8}v[\d.]{1,4}) (?P<cipher>\S{1,128}) "
    + _QUOTED.format(name="request") + r" (?P<bytes>\d{1,20}|-)"
)
_ACCESS_SNIFF = re.compile(r"\S \S{1,256} \S{1,256} \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,6})? [+-]\d{4}\] \"")
_SSL_SNIFF = re.compile(r"\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] \S{1,256} [A-Za-z]{2,8}v[\d.]{1,4} ")
_REQUEST = re.compile(r"(?P<method>[A-Za-z][A-Za-z_\-]{0,31}) (?P<target>\S{1,16384})(?: (?P<proto>[A-Z]{2,8})/(?P<version>[\d.]{1,5}))?")
_REST_QUOTED = re.compile(r'(?:(?P<key>[\w\-]{1,64})=)?"(?P<value>(?:[^"\\]|\\.){0,16384})"|(?P<bare>\S{1,256})')
# A virtual host ($host, %v) before the client: a DNS name or an address, maybe with a port.
_HOSTLIKE = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9\-]{0,62}(?:\.[A-Za-z0-9\-]{1,63}){0,16}\.?|\[[0-9A-Fa-f:.]{2,64}\]|[0-9A-Fa-f:.]{2,64})(?::\d{1,5})?"
)
_COMMA = re.compile(r"\s*,\s*")
_HEAD_TOKEN = re.compile(r'"[^"]{0,4096}"|\S{1,1024}')
_CLIENT_SPLIT = re.compile(r"[,\s]+")
_HOST_PORT = re.compile(r"(?P<host>[^\s:\[\]]{1,255}|\[[0-9A-Fa-f:.]{2,64}\]):(?P<port>\d{1,5})")

# ---------------------------------------------------------------- error logs
_NGINX_ERROR = re.compile(
    r"(?P<ts>(?P<year>\d{4})/(?P<mon>\d{2})/(?P<day>\d{2}) (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})) "
    r"\[(?P<level>debug|info|notice|warn|error|crit|alert|emerg)\] (?P<pid>\d{1,10})#(?P<tid>\d{1,20}): "
    r"(?:\*(?P<cid>\d{1,20}) )?(?P<msg>.*)",
    re.DOTALL,
)
_NGINX_TAIL = re.compile(
    r", (?P<key>client|server|request|upstream|host|referrer|subrequest): "
    r"(?:\"(?P<q>(?:[^\"\\]|\\.){0,16384})\"|(?P<v>[^,]{0,1024}))"
)
_APACHE_ERROR = re.compile(
    r"\[(?P<ts>[^\]]{10,48})\] \[(?:(?P<module>[\w\-.]{0,64}):)?(?P<level>[a-z]{3,6}\d?)\]"
    r"(?: \[pid (?P<pid>\d{1,10})(?::tid (?P<tid>\d{1,24}))?\])?"
    r"(?: (?P<srcfile>[\w\-.]{1,64}\(\d{1,6}\)):)?"
    r"(?: \[client (?P<client>[^\]]{1,128})\])?"
    r"(?: (?P<code>AH\d{5}):)? ?(?P<msg>.*)",
    re.DOTALL,
)
_APACHE_CTIME = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))? (?P<year>\d{4})"
)
_APACHE_ISO = re.compile(
    r"(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2}) (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,6}))?(?: (?P<tz>[+-]\d{4}))?"
)
_NGINX_ERROR_SNIFF = re.compile(
    r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(?:debug|info|notice|warn|error|crit|alert|emerg)\] \d{1,10}#\d{1,20}: "
)
_APACHE_ERROR_SNIFF = re.compile(
    r"\[(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})? \d{4}"
    r"|\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?: [+-]\d{4})?)\] \[[\w\-.]{0,64}:?[a-z]{3,6}\d?\]"
)
_ERROR_LEVELS = frozenset({"emerg", "alert", "crit", "error", "warn"})

_PRODUCTS = {
    "nginx": ("nginx", "nginx", "nginx"),
    "apache": ("apache", "httpd", "apache"),
}
_APP_SERVER = {"nginx": "nginx", "httpd": "apache", "apache2": "apache", "apache": "apache"}


# ---------------------------------------------------------------- helpers
def _offset(text: str) -> timezone:
    """A "+0200" offset as a tzinfo."""
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5])))


def _set_time(doc: Doc, make: Callable[[], datetime]) -> None:
    """@timestamp from a builder; an impossible date tags the document instead of raising."""
    try:
        set_path(doc, "@timestamp", iso(make()))
    except (ValueError, OverflowError, KeyError):
        doc.setdefault("tags", []).append(TAG_TIMESTAMP_INVALID)


def _public(ip: str) -> bool:
    """Whether an address is globally routable (not private, loopback, link-local...)."""
    return ipaddress.ip_address(ip).is_global


def _set_address(doc: Doc, side: str, text: str) -> None:
    """source/destination from "ip", "ip:port", "[v6]:port" or a host name."""
    text = text.strip().strip('"')
    if not text or text == "-":
        return
    ip = valid_ip(text)
    port: str | None = None
    if ip is None:
        m = _HOST_PORT.fullmatch(text)
        if m is not None:
            host, port = m.group("host"), m.group("port")
            ip = valid_ip(host)
            text = host.strip("[]")
    set_path(doc, f"{side}.address", ip or text)
    if ip is not None:
        set_path(doc, f"{side}.ip", ip)
    elif text != "unix:":
        set_path(doc, f"{side}.domain", text)
    if port is not None and int(port) <= 65535:
        set_path(doc, f"{side}.port", int(port))


def _set_clients(doc: Doc, text: str) -> None:
    """The client address, or a list (X-Forwarded-For style): the first public one is the client."""
    items = [t.strip().strip('"') for t in _CLIENT_SPLIT.split(text) if t.strip().strip('"')]
    if not items:
        return
    if len(items) == 1:
        _set_address(doc, "source", items[0])
        return
    ips = [ip for ip in (valid_ip(t) for t in items) if ip is not None]
    set_path(doc, "soc.device.remote_ip_list", items)
    chosen = next((ip for ip in ips if _public(ip)), ips[0] if ips else items[0])
    _set_address(doc, "source", chosen)


def _set_url(doc: Doc, target: str) -> None:
    set_url(doc, target)


def _set_request(doc: Doc, request: str) -> bool:
    """http.request.method, url.* and http.version from a request line; False if it is not one."""
    if request in ("", "-"):
        return True
    m = _REQUEST.fullmatch(request)
    if m is None or m.group("method") == "-":
        set_path(doc, "soc.device.request", request)
        return False
    set_path(doc, "http.request.method", m.group("method"))
    _set_url(doc, m.group("target"))
    if m.group("version"):
        set_path(doc, "http.version", m.group("version"))
    return True


def _set_status(doc: Doc, status: str) -> None:
    """http.response.status_code and event.outcome (4xx/5xx: failure)."""
    if status.isdigit():
        code = int(status)
        set_path(doc, "http.response.status_code", code)
        set_path(doc, "event.outcome", "success" if code < 400 else "failure")


def _server(doc: Doc, default: str) -> str:
    """Which server wrote the line: the configured format, else the syslog app name."""
    if default:
        return default
    app = get_path(doc, "process.name")
    return _APP_SERVER.get(app.lower(), "") if isinstance(app, str) else ""


def _common(doc: Doc, server: str, stream: str) -> None:
    """event.module/dataset and observer for a server ("" when the server is not known)."""
    if server:
        vendor, product, module = _PRODUCTS[server]
        set_observer(doc, vendor, product, "web_server")
        set_path(doc, "event.module", module)
        set_path(doc, "event.dataset", f"{module}.{stream}")
    else:
        set_path(doc, "event.module", "web")
        set_path(doc, "event.dataset", f"web.{stream}")
    set_path(doc, "event.kind", "event")
    set_path(doc, "event.category", ["web"])


# ---------------------------------------------------------------- access
def _access(body: str, doc: Doc, ctx: ParseContext, server: str) -> None:
    """Read a common/combined access line (with a virtual host or extras) into `doc`."""
    server = _server(doc, server)
    m = _ACCESS.match(body)
    ssl = None if m is not None else _SSL_REQUEST.match(body)
    if m is None and ssl is None:
        raise ParseError("web_access_unmatched", "not a common/combined access log line")
    _common(doc, server, "access")
    set_path(doc, "event.type", ["access"])
    t = m or ssl
    assert t is not None
    _set_time(doc, lambda: datetime(
        int(t.group("year")), MONTHS[t.group("mon")], int(t.group("day")),
        int(t.group("h")), int(t.group("m")), int(t.group("s")),
        int((t.group("frac") or "0").ljust(6, "0")), tzinfo=_offset(t.group("tz")),
    ))
    if ssl is not None:
        _set_address(doc, "source", ssl.group("client"))
        proto = ssl.group("tlsproto")
        set_path(doc, "tls.version_protocol", proto[: proto.index("v")].lower())
        set_path(doc, "tls.version", proto[proto.index("v") + 1:])
        set_path(doc, "tls.cipher", ssl.group("cipher"))
        if not _set_request(doc, ssl.group("request").replace('\\"', '"')):
            doc.setdefault("tags", []).append(TAG_PARTIAL)
        if ssl.group("bytes").isdigit():
            set_path(doc, "http.response.body.bytes", int(ssl.group("bytes")))
        relate_ips(doc, body)
        return
    assert m is not None
    head = m.group("head").strip()
    # "vhost[:port] client..." or "client, proxy, ..." or "client"
    if '"' in head:
        head_tokens = _HEAD_TOKEN.findall(head)
    else:
        head_tokens = _COMMA.sub(",", head).split()
    if len(head_tokens) >= 2 and _HOSTLIKE.fullmatch(head_tokens[0]) is None:
        # Not a host name: a syslog tag written without its colon ("111_nginx_access 1.2.3.4 - -").
        label = head_tokens.pop(0)
        set_path(doc, "soc.device.log_tag", label)
        if not server:
            low = label.lower()
            server = next((v for k, v in _APP_SERVER.items() if k in low), "")
            if server:
                _common(doc, server, "access")
    if len(head_tokens) >= 2:
        _set_address(doc, "destination", head_tokens[0])
        if "domain" in doc.get("destination", {}):
            set_path(doc, "url.domain", doc["destination"]["domain"])
        _set_clients(doc, " ".join(head_tokens[1:]))
    elif head_tokens:
        _set_clients(doc, head_tokens[0])
    user = m.group("user")
    if user != "-":
        set_path(doc, "user.name", user)
    if m.group("ident") != "-":
        set_path(doc, "soc.device.ident", m.group("ident"))
    if not _set_request(doc, m.group("request").replace('\\"', '"')):
        doc.setdefault("tags", []).append(TAG_PARTIAL)
    _set_status(doc, m.group("status"))
    if m.group("bytes").isdigit():
        set_path(doc, "http.response.body.bytes", int(m.group("bytes")))
    quoted = 0
    for part in _REST_QUOTED.finditer(m.group("rest")):
        key, value, bare = part.group("key"), part.group("value"), part.group("bare")
        if bare is not None:
            if bare.isdigit() and quoted == 0:
                set_path(doc, "soc.device.access_extra", bare)
            continue
        if key:
            if value not in ("", "-"):
                set_path(doc, f"soc.device.{key.lower().replace('-', '_')}", value)
            continue
        quoted += 1
        if value in ("", "-"):
            continue
        if quoted == 1:
            set_path(doc, "http.request.referrer", value)
        elif quoted == 2:
            set_path(doc, "user_agent.original", value)
        elif quoted == 3:
            set_path(doc, "soc.device.x_forwarded_for", value)
    relate_ips(doc, body)


def _access_sniff(body: str) -> bool:
    """A common/combined access line: "... ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request"."""
    head = body[:400]
    return _ACCESS_SNIFF.search(head) is not None or _SSL_SNIFF.match(head) is not None


# ---------------------------------------------------------------- errors
def _error_level(doc: Doc, server: str, level: str) -> None:
    """module, dataset and observer of a server's error log line, its log.level and event.type."""
    _common(doc, server, "error")
    set_path(doc, "log.level", level)
    set_path(doc, "event.type", ["error"] if level in _ERROR_LEVELS else ["info"])


def _nginx_error(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read an nginx error log line into `doc`."""
    m = _NGINX_ERROR.match(body)
    if m is None:
        raise ParseError("nginx_error_unmatched", "not an nginx error log line")
    _error_level(doc, "nginx", m.group("level"))
    _set_time(doc, lambda: datetime(
        int(m.group("year")), int(m.group("mon")), int(m.group("day")),
        int(m.group("h")), int(m.group("m")), int(m.group("s")), tzinfo=ctx.timezone,
    ))
    set_path(doc, "process.pid", int(m.group("pid")))
    set_path(doc, "process.thread.id", int(m.group("tid")))
    if m.group("cid"):
        set_path(doc, "nginx.error.connection_id", int(m.group("cid")))
    msg = m.group("msg")
    tail = _NGINX_TAIL.search(msg)
    text = msg[: tail.start()] if tail is not None else msg
    if "message" not in doc:
        set_path(doc, "message", text)
    for part in _NGINX_TAIL.finditer(msg, tail.start() if tail is not None else len(msg)):
        key = part.group("key")
        value = part.group("q") if part.group("q") is not None else (part.group("v") or "").strip()
        if not value:
            continue
        if key == "client":
            _set_address(doc, "source", value)
        elif key == "server":
            set_path(doc, "soc.device.server_name", value)
        elif key == "request":
            _set_request(doc, value)
        elif key == "host":
            set_path(doc, "url.domain", value.split(":", 1)[0] if value.count(":") == 1 else value)
        elif key == "referrer":
            set_path(doc, "http.request.referrer", value)
        else:
            set_path(doc, f"soc.device.{key}", value)
    relate_ips(doc, body)


def _apache_time(text: str, ctx: ParseContext) -> datetime:
    """Apache's "%t" error-log time ("Mon Dec 26 16:15:55.103786 2016" or ISO with offset)."""
    m = _APACHE_CTIME.fullmatch(text)
    if m is not None:
        month = MONTHS[m.group("mon")]
        tz: tzinfo = ctx.timezone
    else:
        m = _APACHE_ISO.fullmatch(text)
        if m is None:
            raise ValueError(f"unknown time {text!r}")
        month = int(m.group("mon"))
        tz = _offset(m.group("tz")) if m.group("tz") else ctx.timezone
    return datetime(
        int(m.group("year")), month, int(m.group("day")), int(m.group("h")), int(m.group("m")),
        int(m.group("s")), int((m.group("frac") or "0").ljust(6, "0")), tzinfo=tz,
    )


def _apache_error(body: str, doc: Doc, ctx: ParseContext) -> None:
    """Read an Apache httpd error log line into `doc`."""
    m = _APACHE_ERROR.match(body)
    if m is None:
        raise ParseError("apache_error_unmatched", "not an Apache error log line")
    _error_level(doc, "apache", m.group("level"))
    _set_time(doc, lambda: _apache_time(m.group("ts"), ctx))
    if m.group("module"):
        set_path(doc, "soc.device.module", m.group("module"))
    if m.group("pid"):
        set_path(doc, "process.pid", int(m.group("pid")))
    if m.group("tid"):
        set_path(doc, "process.thread.id", int(m.group("tid")))
    if m.group("srcfile"):
        set_path(doc, "log.origin.file.name", m.group("srcfile").split("(", 1)[0])
        set_path(doc, "log.origin.file.line", int(m.group("srcfile")[:-1].split("(", 1)[1]))
    client = m.group("client")
    if client:
        _set_apache_client(doc, client)
    if m.group("code"):
        set_path(doc, "error.code", m.group("code"))
    if "message" not in doc:
        set_path(doc, "message", m.group("msg"))
    relate_ips(doc, body)


def _set_apache_client(doc: Doc, client: str) -> None:
    """"[client 1.2.3.4:5678]" (2.4) or "[client 1.2.3.4]" (2.2); IPv6 as written by %pI."""
    head, sep, port = client.rpartition(":")
    ip = valid_ip(head) if sep and port.isdigit() else None
    if ip is not None and int(port) <= 65535:
        set_path(doc, "source.ip", ip)
        set_path(doc, "source.address", ip)
        set_path(doc, "source.port", int(port))
    else:
        _set_address(doc, "source", client)


def _auto(body: str, doc: Doc, ctx: ParseContext, server: str) -> None:
    """A line of a server whose log kind is not configured: its error or its access log."""
    if server == "nginx" and _NGINX_ERROR_SNIFF.match(body) is not None:
        _nginx_error(body, doc, ctx)
    elif server == "apache" and _APACHE_ERROR_SNIFF.match(body) is not None:
        _apache_error(body, doc, ctx)
    else:
        _access(body, doc, ctx, server)


# ---------------------------------------------------------------- registrations
@register_message("web_access", sniff=_access_sniff, priority=60)
def enrich_web_access(body: str, doc: Doc, ctx: ParseContext) -> None:
    """An access line of nginx or Apache (which one: from the syslog app name, else "web")."""
    _access(body, doc, ctx, "")


@register_message("nginx_access")
def enrich_nginx_access(body: str, doc: Doc, ctx: ParseContext) -> None:
    """An nginx access log line (configured format)."""
    _access(body, doc, ctx, "nginx")


@register_message("apache_access")
def enrich_apache_access(body: str, doc: Doc, ctx: ParseContext) -> None:
    """An Apache httpd access log line (configured format)."""
    _access(body, doc, ctx, "apache")


@register_message("nginx_error", sniff=lambda b: _NGINX_ERROR_SNIFF.match(b) is not None, priority=40)
def enrich_nginx_error(body: str, doc: Doc, ctx: ParseContext) -> None:
    """An nginx error log line."""
    _nginx_error(body, doc, ctx)


@register_message("apache_error", sniff=lambda b: _APACHE_ERROR_SNIFF.match(b) is not None, priority=40)
def enrich_apache_error(body: str, doc: Doc, ctx: ParseContext) -> None:
    """An Apache httpd error log line."""
    _apache_error(body, doc, ctx)


@register_message("nginx", programs=("nginx",))
def enrich_nginx(body: str, doc: Doc, ctx: ParseContext) -> None:
    """A line nginx sent over syslog: its error log or its access log."""
    _auto(body, doc, ctx, "nginx")


@register_message("apache", programs=("httpd", "apache2", "apache"))
def enrich_apache(body: str, doc: Doc, ctx: ParseContext) -> None:
    """A line Apache httpd sent over syslog (or piped to logger): its error or access log."""
    _auto(body, doc, ctx, "apache")
