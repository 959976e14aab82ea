"""Linux run-parts, the runner of cron's /etc/cron.{hourly,daily,...} directories, to ECS.

`run-parts(/etc/cron.hourly)[1792]: starting 0anacron` (the program tag holds the directory, so
the RFC 3164 envelope leaves it in the message; some hosts drop the `]:`), or with the tag
`run-parts[1792]:` and the message `(/etc/cron.hourly) finished 0anacron`. A job starting or
finishing is a process event of the host: observer linux/host, host.os.type linux, the job's
script in file.*.
"""

from __future__ import annotations

import re

from soc.model import set_path

from . import register_message
from .base import Doc, ParseContext, ParseError
from .kv import set_host_os

_TAGGED = re.compile(
    r"run-parts\(([^)\s]{1,1024})\)(?:\[(\d{1,10})\]?:?)? ?(starting|finished) (\S{1,256})"
)
_UNTAGGED = re.compile(r"\(([^)\s]{1,1024})\) (starting|finished) (\S{1,256})")


def _sniff(body: str) -> bool:
    return body.startswith("run-parts(")


@register_message("linux_run_parts", sniff=_sniff, programs=("run-parts",), priority=20)
def parse_run_parts(body: str, doc: Doc, ctx: ParseContext) -> None:
    """A run-parts "starting <job>" / "finished <job>" line."""
    text = body.strip()
    m = _TAGGED.match(text)
    if m is not None:
        directory, pid, verb, job = m.groups()
    else:
        m = _UNTAGGED.match(text)
        if m is None:
            raise ParseError("run_parts_unknown", "no '(dir) starting|finished job'")
        directory, verb, job = m.groups()
        pid = None
    set_host_os(doc, "linux")
    set_path(doc, "event.module", "system")
    set_path(doc, "event.dataset", "system.syslog")
    set_path(doc, "process.name", "run-parts")
    if pid is not None:
        set_path(doc, "process.pid", int(pid))
    set_path(doc, "file.directory", directory)
    set_path(doc, "file.name", job)
    set_path(doc, "file.path", f"{directory.rstrip('/')}/{job}")
    started = verb == "starting"
    set_path(doc, "event.action", "cron-job-started" if started else "cron-job-finished")
    set_path(doc, "event.category", ["process"])
    set_path(doc, "event.type", ["start"] if started else ["end"])
