"""Failed-login handling at work: every brute force against an account of a system is followed by
the account being locked (8.1.4.1 b 限制非法登录次数; 7.1.4.1 b at level 2).

A failed login: an event of the system (soc.asset.name) with `event.category` authentication and
`event.outcome` failure, as the sshd, PAM, Windows, bastion-host and device parsers write them;
but not the lockout records themselves (pam_faillock's lock is authentication/failure, a bastion's
"用户已锁定" is a failed login), nor the actions in params.exclude_actions (by default
ssh_invalid_user: an account that does not exist cannot be locked; sshd logs the attempt again as
"Failed password for invalid user", also left out by params.exclude_phrases).

A brute force: params.failures (default 5) failed logins against one user (user.name, compared
case-insensitively) on one host (host.name, else host.hostname, observer.name, observer.ip)
within params.within (default 5m). One attempt is often written twice (pam_unix's
"authentication failure" and sshd's "Failed password"; "Invalid user" then "Failed password"), so
failures are counted per kind of record (event.action) and the most of any one kind decides:
three attempts logged by sshd and by PAM are three, not six. Failures of a (host, user) no more
than `within` apart form one episode; an episode is a brute force once the count is reached, and
stays one however long the attacker goes on (a locked account keeps failing; it is locked once).

A lockout: an event of the system whose `event.action` is one of params.lockout_actions
(account_locked: pam_faillock / pam_tally2; locked-out-user-account: Windows 4740;
locked-account: auditd ACCT_LOCK), or whose original text holds one of params.lockout_phrases
(the bastion hosts and devices that write a lock as a failed login: 用户已锁定, account locked...),
configuration events excepted (a policy being edited). It covers a brute force when it names the
same user (user.name or user.target.name: 4740 names the locked account there) and comes between
the first failure of the episode and `lockout_within` (default 10m) after the count was reached:
a policy of fewer failures than ours locks before our count is reached. A lockout anywhere on the
system counts (a domain controller locks a Windows account for every member server).

Pass when every brute force in the window was followed by a lockout; fail naming the accounts,
hosts and times of the others. Not applicable, with the reason, when the system sent no
authentication record, when none failed, or when failures never added up to a brute force: no
evidence either way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soc.compliance.engine import Context, asset_filter, evaluator
from soc.compliance.evaluators.common import LOCAL, duration, human, number
from soc.compliance.model import CheckDef, Subject, Verdict
from soc.model import Doc, get_path, iso, parse_iso

LOCKOUT_ACTIONS = ["account_locked", "locked-out-user-account", "locked-account"]
LOCKOUT_PHRASES = ["账号已锁定", "帐号已锁定", "账户已锁定", "帐户已锁定", "用户已锁定", "账号被锁定", "帐号被锁定",
                   "账户被锁定", "帐户被锁定", "用户被锁定", "已被锁定", "当前被锁定", "已禁止登录", "已禁止登陆", "account locked",
                   "account is locked", "account temporarily locked", "user locked", "locked out"]
EXCLUDE_ACTIONS = ["ssh_invalid_user"]
EXCLUDE_PHRASES = ["for invalid user"]
FIELDS = ["@timestamp", "event.id", "event.action", "user.name", "user.target.name", "host.name", "host.hostname",
          "observer.name", "observer.ip", "source.ip"]
PAGE = 5000
SHOWN = 10


@dataclass
class Failure:
    at: datetime
    action: str
    doc_id: str


@dataclass
class Burst:
    host: str
    user: str
    failures: list[Failure]
    reached: datetime  # when the count was reached
    locked_at: datetime | None = None
    lock_id: str = ""
    late_lock: datetime | None = None
    attempts: int = 0  # the most failures of one kind
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return self.failures[0].at

    @property
    def end(self) -> datetime:
        return self.failures[-1].at


def _local(ts: datetime) -> str:
    return f"{ts.astimezone(LOCAL):%Y-%m-%d %H:%M:%S}"


def _phrases(phrases: list[str]) -> list[dict[str, Any]]:
    """The events whose lowercased original text (the `.ci` sub-field) holds any of the phrases: one
    Lucene regular expression, so the field's terms are walked once."""
    if not phrases:
        return []
    alternatives = "|".join(re.sub(r'([.?+*|{}\[\]()"\\])', r"\\\1", p.lower()) for p in phrases)
    return [{"regexp": {"event.original.ci": {"value": f".*({alternatives}).*", "flags": "NONE",
                                              "max_determinized_states": 100000}}}]


def lockout_clause(check: CheckDef) -> dict[str, Any]:
    actions = list(check.params.get("lockout_actions", LOCKOUT_ACTIONS))
    phrases = list(check.params.get("lockout_phrases", LOCKOUT_PHRASES))
    should: list[dict[str, Any]] = [{"terms": {"event.action": actions}}]
    if phrases:
        should.append({"bool": {"filter": _phrases(phrases),
                                "must_not": [{"term": {"event.category": "configuration"}}]}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


async def _all_hits(ctx: Context, query: dict[str, Any], cap: int) -> tuple[list[Doc], int]:
    """Every matching event (up to cap), oldest first, and how many matched."""
    out: list[Doc] = []
    after: list[Any] | None = None
    total = 0
    while len(out) < cap:
        kw: dict[str, Any] = {"search_after": after} if after else {}
        res = await ctx.es.options(ignore_status=404).search(
            index=ctx.events, query=query, size=min(PAGE, cap - len(out)), source_includes=FIELDS,
            sort=[{"@timestamp": "asc"}, {"event.id": {"order": "asc", "missing": "_last"}}],
            track_total_hits=after is None, **kw)
        if res.meta.status != 200:
            break
        if after is None:
            total = res["hits"]["total"]["value"]
        hits = res["hits"]["hits"]
        out += [{"_id": h["_id"], **h["_source"]} for h in hits]
        if len(hits) < PAGE:
            break
        after = hits[-1]["sort"]
    return out, total


def _host(doc: Doc) -> str:
    for f in ("host.name", "host.hostname", "observer.name", "observer.ip"):
        v = get_path(doc, f)
        if v:
            return str(v)
    return "?"


def find_bursts(failures: list[Doc], threshold: int, within: timedelta) -> list[Burst]:
    """The brute forces among failed logins (see the module's docstring)."""
    groups: dict[tuple[str, str], list[Failure]] = defaultdict(list)
    names: dict[tuple[str, str], str] = {}
    for d in failures:
        user = get_path(d, "user.name")
        if not isinstance(user, str) or not user.strip():
            continue  # a failure with no account named cannot be tied to a lockout
        key = (_host(d), user.strip().casefold())
        names.setdefault(key, user.strip())
        groups[key].append(Failure(parse_iso(str(d["@timestamp"])), str(get_path(d, "event.action") or ""), d["_id"]))
    bursts: list[Burst] = []
    for (host, key_user), fails in groups.items():
        fails.sort(key=lambda f: f.at)
        episode: list[Failure] = []
        for f in [*fails, None]:
            if f is not None and (not episode or f.at - episode[-1].at <= within):
                episode.append(f)
                continue
            burst = _burst(host, names[(host, key_user)], episode, threshold, within)
            if burst is not None:
                bursts.append(burst)
            episode = [f] if f is not None else []
    return sorted(bursts, key=lambda b: b.start)


def _burst(host: str, user: str, episode: list[Failure], threshold: int, within: timedelta) -> Burst | None:
    by_kind: dict[str, list[datetime]] = defaultdict(list)
    for f in episode:
        by_kind[f.action].append(f.at)
    reached: datetime | None = None
    for times in by_kind.values():
        for i in range(threshold - 1, len(times)):
            if times[i] - times[i - threshold + 1] <= within:
                reached = times[i] if reached is None else min(reached, times[i])
                break
    if reached is None:
        return None
    kinds = {k: len(v) for k, v in by_kind.items()}
    return Burst(host, user, episode, reached, attempts=max(kinds.values()), kinds=kinds)


@evaluator("login_failure_lockout")
async def login_failure_lockout(ctx: Context, check: CheckDef, subject: Subject) -> Verdict:
    """Pass when every brute force (`failures` failed logins against one account within `within`)
    was followed by a lockout of that account within `lockout_within`."""
    threshold = int(number(check, "failures", 5))
    within = duration(check, "within", "5m")
    lockout_within = duration(check, "lockout_within", "10m")
    cap = int(number(check, "max_events", 50_000))
    exclude_actions = list(check.params.get("exclude_actions", EXCLUDE_ACTIONS))
    exclude_phrases = list(check.params.get("exclude_phrases", EXCLUDE_PHRASES))
    scope = [asset_filter(subject), ctx.time_range(check)]
    auth = {"term": {"event.category": "authentication"}}
    lockout = lockout_clause(check)
    fail_query = {"bool": {"filter": [*scope, auth, {"term": {"event.outcome": "failure"}}],
                           "must_not": [lockout, {"terms": {"event.action": exclude_actions}},
                                        *_phrases(exclude_phrases)]}}
    count = await ctx.es.options(ignore_status=404).count(index=ctx.events, query={"bool": {"filter": [*scope, auth]}})
    n_auth = int(count["count"]) if count.meta.status == 200 else 0
    failures, n_failures = await _all_hits(ctx, fail_query, cap)
    lock_query = {"bool": {"filter": [*scope, lockout]}}
    locks, n_locks = await _all_hits(ctx, lock_query, cap)
    counts: dict[str, float] = {"authentication_events": n_auth, "failures": n_failures, "lockout_events": n_locks}
    notes = [f"brute force: ≥ {threshold} failures (event.category authentication, event.outcome failure) of one "
             f"user on one host within {check.params.get('within', '5m')}, counted per event.action; lockout: "
             f"event.action in {list(check.params.get('lockout_actions', LOCKOUT_ACTIONS))} or the original text "
             f"naming a lock, for the same user, from the first failure to {check.params.get('lockout_within', '10m')}"
             " after the count was reached"]
    if len(failures) < n_failures:
        notes.append(f"only the first {len(failures)} of {n_failures} failures were read (params.max_events)")
    if n_auth == 0:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, fail_query, counts=counts),
                       reason=f"{check.window} 内该系统无认证日志，登录失败处理无从验证 "
                              f"(no authentication events within {check.window}: no evidence either way)")
    if n_failures == 0:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, fail_query, counts=counts),
                       reason=f"{check.window} 内 {n_auth} 条认证日志中无登录失败，未发生暴力破解，登录失败处理无从验证 "
                              f"(no failed login among {n_auth} authentication events within {check.window}: "
                              f"no brute force, no evidence either way)")
    bursts = find_bursts(failures, threshold, within)
    counts["brute_forces"] = len(bursts)
    if not bursts:
        return Verdict(status="not_applicable", evidence=ctx.evidence(check, ctx.events, fail_query, counts=counts),
                       reason=f"{check.window} 内有 {n_failures} 次登录失败，但同一主机同一账户 {human(within)} 内均未达 "
                              f"{threshold} 次，未构成暴力破解，登录失败处理无从验证 ({n_failures} failed logins "
                              f"within {check.window}, never {threshold} against one account on one host within "
                              f"{human(within)}: no brute force, no evidence either way)")
    lock_times: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for d in locks:
        at = parse_iso(str(d["@timestamp"]))
        for f in ("user.name", "user.target.name"):
            u = get_path(d, f)
            if isinstance(u, str) and u.strip():
                lock_times[u.strip().casefold()].append((at, d["_id"]))
    for b in bursts:
        deadline = b.reached + lockout_within
        for at, doc_id in sorted(lock_times.get(b.user.casefold(), [])):
            if b.start <= at <= deadline:
                b.locked_at, b.lock_id = at, doc_id
                break
            if at > deadline and b.late_lock is None:
                b.late_lock = at
    locked = [b for b in bursts if b.locked_at is not None]
    unlocked = [b for b in bursts if b.locked_at is None]
    counts |= {"locked": len(locked), "unlocked": len(unlocked), "accounts": len({b.user.casefold() for b in bursts})}
    for b in bursts:
        kinds = ", ".join(f"{k or '(no action)'} {n}" for k, n in sorted(b.kinds.items()))
        state = (f"locked at {iso(b.locked_at)} ({b.lock_id})" if b.locked_at else
                 f"not locked within {human(lockout_within)}" + (f" (a lock at {iso(b.late_lock)})" if b.late_lock else ""))
        notes.append(f"{b.user}@{b.host}: {len(b.failures)} failures {iso(b.start)}..{iso(b.end)} ({kinds}), "
                     f"count reached {iso(b.reached)}; {state}")
    if unlocked:
        samples = [f.doc_id for b in unlocked for f in b.failures[:threshold]][:SHOWN * threshold]
    else:
        samples = [b.lock_id for b in locked] + [f.doc_id for b in locked for f in b.failures[:1]]
    evidence = ctx.evidence(check, ctx.events, fail_query, counts=counts, samples=samples, notes=notes)
    if unlocked:
        shown = "；".join(f"{b.user}（{b.host}，{_local(b.start)} 起 {b.attempts} 次失败"
                         + (f"，{_local(b.late_lock)} 才锁定" if b.late_lock else "") + "）" for b in unlocked[:SHOWN])
        shown_en = "; ".join(f"{b.user} on {b.host}, {b.attempts} failures from {iso(b.start)}" for b in unlocked[:SHOWN])
        more = f" 等 {len(unlocked)} 起" if len(unlocked) > SHOWN else ""
        return Verdict(status="fail", evidence=evidence,
                       reason=f"{len(bursts)} 起暴力破解中 {len(unlocked)} 起在 {human(lockout_within)} 内未见账户锁定："
                              f"{shown}{more} ({len(unlocked)} of {len(bursts)} brute forces were not followed by a "
                              f"lockout within {human(lockout_within)}: {shown_en})")
    users = sorted({b.user for b in locked})
    return Verdict(status="pass", evidence=evidence,
                   reason=f"{len(bursts)} 起暴力破解（账户 {'、'.join(users)}）均在 {human(lockout_within)} 内锁定了账户 "
                          f"(all {len(bursts)} brute forces, against {', '.join(users)}, were followed by a lockout within "
                          f"{human(lockout_within)})")
