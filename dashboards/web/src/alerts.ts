// Alerts: reading the fields of an alert document, and the triage actions (assign, status),
// one alert at a time or in bulk, shared by the queue and the detail page.

import { post, type Doc } from './api';
import { get, str } from './dom';
import { t, tv } from './i18n';
import { current } from './session';
import { errorText, formDialog, notify } from './widgets';

export const alertId = (a: Doc): string => str(get(a, 'soc.alert.id') ?? get(a, 'event.id'));
export const alertStatus = (a: Doc): string => str(get(a, 'soc.alert.status')) || 'new';
export const alertSeverity = (a: Doc): string => str(get(a, 'soc.alert.severity'));
export const alertRule = (a: Doc): string => str(get(a, 'rule.name')) || str(get(a, 'rule.id'));
export const alertSource = (a: Doc): string => str(get(a, 'source.ip'));
export const alertAssignee = (a: Doc): string => str(get(a, 'soc.alert.assignee'));
export const alertTenant = (a: Doc): string => str(get(a, 'labels.tenant'));
export const alertLastSeen = (a: Doc): unknown => get(a, 'soc.alert.last_seen') ?? get(a, '@timestamp');

/** What was attacked: the destination, the host, or the asset. */
export function alertTarget(a: Doc): string {
  const asset = str(get(a, 'soc.asset.name'));
  const where = str(get(a, 'destination.ip')) || str(get(a, 'host.name')) || str(get(a, 'host.ip'));
  return asset && where ? `${where} · ${asset}` : asset || where;
}

export type Action = 'assign' | 'in_progress' | 'resolved' | 'false_positive';

/**
 * Apply an action to the alerts: the single-alert routes for one, POST /alerts/bulk for more.
 * Closing asks for a reason first. The alerts as revised (one), [] after a bulk action
 * (the caller reloads), or null when cancelled or refused.
 */
export async function act(action: Action, alerts: Doc[]): Promise<Doc[] | null> {
  if (!alerts.length) return null;
  const me = current();
  if (!me) return null;
  let reason = '';
  if (action === 'resolved' || action === 'false_positive') {
    const got = await formDialog(t(action === 'resolved' ? 'dlg.resolve' : 'dlg.falsePositive'),
      [{ name: 'reason', label: t('common.reason'), kind: 'textarea', required: true, placeholder: t('dlg.reasonPh') }],
      t('common.submit'), alerts.length > 1 ? t('dlg.count', { n: alerts.length }) : alertRule(alerts[0]));
    if (!got) return null;
    reason = got.reason;
  }
  const what = action === 'assign' ? t('act.assignMe') : tv('status', action);
  try {
    if (alerts.length === 1) {
      const id = encodeURIComponent(alertId(alerts[0]));
      const updated = action === 'assign'
        ? await post<Doc>(`/alerts/${id}/assign`, { assignee: me.name })
        : await post<Doc>(`/alerts/${id}/status`, { status: action, reason });
      notify(t('act.done', { what }));
      return [updated];
    }
    const body = action === 'assign'
      ? { ids: alerts.map(alertId), action: 'assign', assignee: me.name }
      : { ids: alerts.map(alertId), action: 'status', status: action, reason };
    const res = await post<{ updated: string[]; failed: { id: string; error: string }[] }>('/alerts/bulk', body);
    notify(t('act.bulkDone', { ok: res.updated?.length ?? 0, failed: res.failed?.length ?? 0 }), res.failed?.length ? 'error' : 'ok');
    return [];
  } catch (err) {
    notify(errorText(err), 'error');
    return null;
  }
}
