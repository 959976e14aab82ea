"""The `ecs` field-mapping pipeline (pipelines/*.yml) on real SigmaHQ rules and on our own rules.

SigmaHQ rules come from the shared corpus (../shared/corpus/sigma, by relative path): a test
fails when the corpus is missing rather than being skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetection, SigmaRule
from sigma.types import SigmaString

from detectors.pipelines import PIPELINES_DIR, apply, load_pipeline, pipeline_names

PROJECT = Path(__file__).resolve().parents[2]
SIGMA = PROJECT.parent / "shared" / "corpus" / "sigma"
OWN_RULES = PROJECT / "rules"


def sigma_rule(rel: str) -> SigmaRule:
    path = SIGMA / rel
    assert path.is_file(), f"SigmaHQ corpus file missing: {path}"
    rules = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules
    assert isinstance(rules[0], SigmaRule)
    return rules[0]


def items(rule: SigmaRule) -> list:
    """Every detection item of the rule (nested detections flattened)."""
    out = []

    def walk(detection: SigmaDetection) -> None:
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                walk(item)
            else:
                out.append(item)

    for detection in rule.detection.detections.values():
        walk(detection)
    return out


def fields(rule: SigmaRule) -> set[str]:
    return {item.field for item in items(rule) if item.field is not None}


@pytest.fixture(scope="module")
def ecs() -> ProcessingPipeline:
    return load_pipeline("ecs")


def mapped(ecs: ProcessingPipeline, rel: str) -> set[str]:
    return fields(apply(ecs, sigma_rule(rel)))


# ------------------------------------------------------------------ loading


def test_the_folder_defines_ecs_and_none() -> None:
    assert {"ecs", "none"} <= set(pipeline_names())


def test_ecs_merges_its_files_windows_first(ecs: ProcessingPipeline) -> None:
    assert ecs.name == "ecs"
    ids = [item.identifier for item in ecs.items]
    assert ids.index("windows_fields") < ids.index("linux_process_fields") < ids.index("web_fields")


def test_unknown_pipeline_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown pipeline 'elk'.*ecs, none"):
        load_pipeline("elk")


def test_a_broken_pipeline_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("name: bad\ntransformations:\n  - type: no_such_transformation\n")
    with pytest.raises(ValueError, match="bad.yml"):
        load_pipeline("bad", tmp_path)


def test_routes_file_is_not_a_pipeline() -> None:
    assert (PIPELINES_DIR / "logsources.yml").is_file()
    assert "logsources" not in pipeline_names()


# ------------------------------------------------------------------ SigmaHQ rules -> ECS

CASES = [
    # (rule, names it must have after the pipeline, SigmaHQ names it must no longer have)
    ("rules/windows/process_creation/proc_creation_win_7zip_exfil_dmp_files.yml",
     {"process.executable", "process.command_line", "winlog.event_data.Image",
      "winlog.event_data.OriginalFileName"}, {"Image", "CommandLine", "OriginalFileName"}),
    ("rules/windows/builtin/security/account_management/win_security_susp_failed_logon_source.yml",
     {"event.code", "source.ip"}, {"EventID", "IpAddress"}),
    ("rules/windows/builtin/security/account_management/win_security_susp_rottenpotato.yml",
     {"event.code", "winlog.logon.type", "user.name", "source.domain", "source.ip"},
     {"TargetUserName", "LogonType", "WorkstationName", "IpAddress"}),
    ("rules/windows/network_connection/net_connection_win_adws_unusual_connection.yml",
     {"destination.port", "process.executable", "winlog.event_data.Initiated"},
     {"DestinationPort", "Image", "Initiated"}),
    ("rules/windows/builtin/system/service_control_manager/win_system_hack_smbexec.yml",
     {"event.provider", "event.code", "winlog.event_data.ServiceName", "winlog.event_data.ImagePath"},
     {"Provider_Name", "ServiceName", "ImagePath"}),
    ("rules/web/webserver_generic/web_path_traversal_exploitation_attempt.yml", {"url.query"}, {"cs-uri-query"}),
    ("rules/web/webserver_generic/web_sql_injection_in_access_logs.yml",
     {"http.request.method", "http.response.status_code"}, {"cs-method", "sc-status"}),
    ("rules/web/proxy_generic/proxy_hello_world_user_agent.yml",
     {"user_agent.original", "http.request.method"}, {"c-useragent", "cs-method"}),
    ("rules/linux/process_creation/proc_creation_lnx_at_command.yml", {"process.executable"}, {"Image"}),
    ("rules/linux/auditd/lnx_auditd_audio_capture.yml",
     {"auditd.log.record_type", "auditd.log.a0", "process.executable", "auditd.log.SYSCALL"}, {"type", "a0", "exe"}),
    ("rules-emerging-threats/2019/Exploits/CVE-2019-14287/lnx_sudo_exploit_cve_2019_14287.yml",
     {"user.effective.name"}, {"USER"}),
    ("rules/network/firewall/net_firewall_cleartext_protocols.yml",
     {"destination.port", "event.action", "event.type"}, {"dst_port", "action", "blocked"}),
    ("rules/network/dns/net_dns_mal_cobaltstrike.yml", {"dns.question.name"}, {"query"}),
    ("rules/category/antivirus/av_exploitation_framework.yml", {"threat.software.name", "rule.name"}, {"Signature"}),
    ("rules/network/fortinet/fortigate/fortinet_fortigate_new_admin_account_created.yml",
     {"fortinet.firewall.action", "soc.device.cfgpath"}, {"action", "cfgpath"}),
]  # fmt: skip


@pytest.mark.parametrize(("rel", "present", "gone"), CASES, ids=[Path(c[0]).stem for c in CASES])
def test_sigmahq_names_become_ecs(ecs: ProcessingPipeline, rel: str, present: set[str], gone: set[str]) -> None:
    after = mapped(ecs, rel)
    assert present <= after, sorted(present - after)
    assert not gone & after, sorted(gone & after)


def test_logon_and_account_events_read_target_user_name_differently(ecs: ProcessingPipeline) -> None:
    # 4624 (a logon): user.name is the account that logged on.
    logon = mapped(ecs, "rules/windows/builtin/security/account_management/win_security_susp_rottenpotato.yml")
    assert "user.name" in logon and "user.target.name" not in logon
    # 4720 (an account created): user.name is the actor, user.target.name the new account.
    created = mapped(ecs, "rules/windows/builtin/security/win_security_hidden_user_creation.yml")
    assert {"user.target.name", "winlog.event_data.TargetUserName"} <= created and "user.name" not in created


def test_firewall_verdicts_match_event_type_too(ecs: ProcessingPipeline) -> None:
    rule = apply(ecs, sigma_rule("rules/network/firewall/net_firewall_cleartext_protocols.yml"))
    values = {
        item.field: {str(v) for v in item.value if isinstance(v, SigmaString)} for item in items(rule)
    }
    assert {"accept", "forward", "allowed"} <= values["event.action"]
    assert values["event.type"] >= {"allowed"}


def test_windows_dash_means_absent_on_ecs_fields(ecs: ProcessingPipeline) -> None:
    # `WorkstationName: '-'`: the parser leaves source.domain out for "-"; winlogbeat keeps it raw.
    rule = apply(ecs, sigma_rule("rules/windows/builtin/security/account_management/win_security_susp_rottenpotato.yml"))
    values = {item.field: item.value for item in items(rule)}
    assert [type(v).__name__ for v in values["source.domain"]] == ["SigmaNull"]
    assert [str(v) for v in values["winlog.event_data.WorkstationName"]] == ["-"]


def test_a_windows_correlation_groups_by_one_ecs_field_each(ecs: ProcessingPipeline) -> None:
    collection = SigmaCollection.from_yaml("""
title: failed logon
name: failed_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: many workstations per account
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [TargetUserName, IpAddress]
  timespan: 5m
  condition: {gte: 10, field: WorkstationName}
""")
    for rule in collection:
        apply(ecs, rule)
    correlation = collection.rules[1]
    assert correlation.group_by == ["user.name", "source.ip"]
    assert correlation.condition.fieldref == "source.domain"


def test_windows_names_go_to_event_data_not_to_linux_ecs(ecs: ProcessingPipeline) -> None:
    # CurrentDirectory is process.working_directory for Linux; a Windows rule keeps the raw name
    # (the Windows part of the pipeline comes first).
    rule = sigma_rule("rules/windows/process_creation/proc_creation_win_7zip_exfil_dmp_files.yml")
    assert "process.working_directory" not in fields(apply(ecs, rule))


# ------------------------------------------------------------------ what must not change


def test_rules_of_other_logsources_are_left_alone(ecs: ProcessingPipeline) -> None:
    # `type`, `query` or `action` mean something else outside auditd / dns / firewall rules.
    assert mapped(ecs, "rules/cloud/aws/cloudtrail/aws_ec2_disable_encryption.yml") == {"eventSource", "eventName"}
    github = sigma_rule("rules/application/github/audit/github_delete_action_invoked.yml")
    assert fields(apply(ecs, github)) == {"action"}
    zeek = sigma_rule("rules/network/zeek/zeek_dns_torproxy.yml")
    assert fields(apply(ecs, zeek)) == fields(sigma_rule("rules/network/zeek/zeek_dns_torproxy.yml"))


def test_none_pipeline_changes_nothing() -> None:
    none = load_pipeline("none")
    rel = "rules/windows/process_creation/proc_creation_win_7zip_exfil_dmp_files.yml"
    assert fields(apply(none, sigma_rule(rel))) == fields(sigma_rule(rel))


def test_our_own_rules_are_already_ecs(ecs: ProcessingPipeline) -> None:
    collection = SigmaCollection.load_ruleset(
        [OWN_RULES], collect_errors=True, on_beforeload=lambda p: None if p.name.endswith(".examples.yml") else p
    )
    rules = [r for r in collection if isinstance(r, SigmaRule) and not r.errors]
    assert rules, "no rule of ours loaded"
    for rule in rules:
        before = fields(rule)
        assert fields(apply(ecs, rule)) == before, rule.source


def test_every_sigmahq_windows_web_and_network_rule_maps_to_dotted_names(ecs: ProcessingPipeline) -> None:
    """The whole corpus goes through the pipeline; for the sources we route, nothing stays a
    bare SigmaHQ name (a bare name would match no event of ours)."""
    collection = SigmaCollection.load_ruleset([SIGMA / "rules"], collect_errors=True)
    assert len(collection.rules) > 3000
    bare: dict[str, set[str]] = {}
    for rule in collection:
        if not isinstance(rule, SigmaRule) or rule.errors:
            continue
        apply(ecs, rule)
        ls = rule.logsource
        routed = ls.product == "windows" or ls.category in ("webserver", "firewall", "dns", "antivirus") or (
            ls.product == "linux" and ls.service == "auditd")
        if routed:
            left = {f for f in fields(rule) if "." not in f}
            if left:
                bare[str(rule.source.path if rule.source else rule.title)] = left
    assert not bare, bare
