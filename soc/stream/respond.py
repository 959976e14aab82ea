"""Stage respond: every new alert is recorded as an Action (playbooks arrive with issue 5)."""

from __future__ import annotations

from soc.model import Action, ActionKind, ActionState, Doc, get_path

PLAYBOOK = "builtin.record-alert"


def respond(alert: Doc) -> Doc | None:
    """The action for an alert's first revision; later revisions of the same alert add none."""
    if int(get_path(alert, "soc.alert.revision", 1)) != 1:
        return None
    action = Action(
        playbook=PLAYBOOK,
        alert_id=str(get_path(alert, "soc.alert.id")),
        kind=ActionKind.RECORD,
        target=str(get_path(alert, "source.ip") or get_path(alert, "soc.alert.group_key") or ""),
        state=ActionState.APPLIED,
        decided_by="respond-agent",
        reason=f"告警已记录: {get_path(alert, 'rule.name')} (alert recorded; no playbook matched)",
    )
    return action.to_doc()
