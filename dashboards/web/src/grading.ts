// 分类定级: an incident's GB/T 20986-2023 category and grade (特别重大 I … 一般 IV) with their basis,
// computed by the server (POST /incidents/{id}/grade, no body) or overridden by an analyst with a
// reason (the server refuses an override without one: its answer is shown as it is).

import { post, type Doc } from './api';
import { fill, h, str, type Child } from './dom';
import { getLang, t, tv } from './i18n';
import { isAnalyst } from './session';
import { fmtTime } from './time';
import { errorText, notify, panel } from './widgets';

export const GRADES: [string, string][] = [['特别重大', 'I'], ['重大', 'II'], ['较大', 'III'], ['一般', 'IV']];
const STANDARD = 'GB/T 20986-2023';

/** `name（code）` in Chinese, `name (code)` in English. */
export function withCode(name: string, code: string): string {
  return getLang() === 'en' ? `${name} (${code})` : `${name}（${code}）`;
}

/** The grade and its code: 较大（III）. */
export function gradeText(grade: unknown, code: unknown): string {
  const g = str(grade);
  return withCode(tv('grade', g), str(code) || (GRADES.find(([name]) => name === g)?.[1] ?? ''));
}

/** 较大（III）, coloured by grade; 未定级 when there is none. */
export function gradeBadge(grade: unknown, code: unknown): HTMLElement {
  const g = str(grade);
  if (!g) return h('span', { class: 'badge grade grade-none' }, t('gr.noneBadge'));
  const c = str(code) || (GRADES.find(([name]) => name === g)?.[1] ?? '');
  return h('span', { class: `badge grade grade-${c.replace(/[^IV]/g, '') || 'none'}`, data: { grade: g } }, gradeText(g, c));
}

const named = (name: unknown, code: unknown): string => {
  const n = str(name);
  const c = str(code);
  return n ? (c ? withCode(n, c) : n) : '—';
};

const lines = (v: unknown): string[] => (Array.isArray(v) ? v.map(str).filter(Boolean) : v ? [str(v)] : []);

/** The grading panel of an incident: what is set, and (analysts) 定级 and 调整定级. */
export function gradingPanel(i: Doc, incidentId: string, changed: () => Promise<void>): HTMLElement {
  const graded = !!i.grade;
  const body: Child[] = [];
  if (graded) {
    const op = str(i.operator_type);
    body.push(h('dl', { class: 'summary', id: 'grading-summary' },
      h('dt', null, t('gr.standard')), h('dd', null, STANDARD),
      h('dt', null, t('gr.category')), h('dd', { id: 'grading-category' }, named(i.category, i.category_code)),
      h('dt', null, t('gr.subcategory')), h('dd', { id: 'grading-subcategory' }, named(i.subcategory, i.subcategory_code)),
      h('dt', null, t('gr.grade')), h('dd', { id: 'grading-grade' }, gradeBadge(i.grade, i.grade_code)),
      h('dt', null, t('gr.mode')), h('dd', null, i.grade_override ? h('span', { class: 'tag tl-grading_override' }, t('gr.manual')) : t('gr.auto')),
      i.grade_override ? [h('dt', null, t('gr.overrideReason')), h('dd', { id: 'grading-reason' }, str(i.grade_override_reason) || '—')] : null,
      h('dt', null, t('gr.by')), h('dd', { id: 'grading-by' }, str(i.graded_by) || '—'),
      h('dt', null, t('gr.at')), h('dd', { class: 'mono' }, fmtTime(i.graded_at) || '—'),
      h('dt', null, t('gr.operator')), h('dd', null, op ? withCode(tv('opType', op), op) : '—')));
    body.push(h('h3', { class: 'basis-head' }, t('gr.gradeBasis')),
      h('ol', { class: 'basis', id: 'grade-basis' }, lines(i.grade_basis).map((b) => h('li', null, b))));
    const cls = lines(i.classification_basis);
    if (cls.length) {
      body.push(h('details', { class: 'basis-more' }, h('summary', null, t('gr.classBasis')),
        h('ol', { class: 'basis', id: 'class-basis' }, cls.map((b) => h('li', null, b)))));
    }
  } else {
    body.push(h('p', { class: 'muted', id: 'grading-none' }, t('gr.none'), isAnalyst() ? ` ${t('gr.noneHint')}` : ''));
  }
  if (isAnalyst()) body.push(controls(i, incidentId, changed));
  return h('div', { id: 'incident-grading' }, panel(t('gr.title'), ...body));
}

function controls(i: Doc, incidentId: string, changed: () => Promise<void>): HTMLElement {
  const url = `/incidents/${encodeURIComponent(incidentId)}/grade`;
  const gradeBtn = h('button', { type: 'button', class: 'btn primary', id: 'grade-btn' }, i.grade ? t('gr.regradeBtn') : t('gr.gradeBtn'));
  const adjustBtn = h('button', { type: 'button', class: 'btn', id: 'override-btn', aria: { expanded: 'false' } }, t('gr.adjust'));
  const form = overrideForm(i, url, changed);
  form.hidden = true;
  gradeBtn.addEventListener('click', async () => {
    gradeBtn.disabled = true;
    try {
      const out = await post<Doc>(url); // no body: computed from the alerts and the inventory
      notify(t('gr.graded', { grade: tv('grade', out.grade), code: str(out.grade_code) }));
      await changed();
    } catch (err) {
      notify(errorText(err), 'error');
      gradeBtn.disabled = false;
    }
  });
  adjustBtn.addEventListener('click', () => {
    form.hidden = !form.hidden;
    adjustBtn.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) form.querySelector<HTMLElement>('select')?.focus();
  });
  return h('div', { class: 'grading-controls' }, h('div', { class: 'grading-actions' }, gradeBtn, adjustBtn), form);
}

function overrideForm(i: Doc, url: string, changed: () => Promise<void>): HTMLFormElement {
  const grade = h('select', { id: 'override-grade', name: 'grade' },
    h('option', { value: '' }, t('gr.f.keep')),
    GRADES.map(([g, c]) => h('option', { value: g, selected: g === str(i.grade) }, gradeText(g, c))));
  const category = h('input', { type: 'text', id: 'override-category', name: 'category_code', placeholder: 'NA', autocomplete: 'off', spellcheck: false });
  const sub = h('input', { type: 'text', id: 'override-subcategory', name: 'subcategory_code', placeholder: 'NASCAN', autocomplete: 'off', spellcheck: false });
  const reason = h('textarea', { id: 'override-reason', name: 'reason', rows: 2, placeholder: t('gr.f.reasonPh') });
  const reasonField = h('label', { class: 'field span-all' }, h('span', { class: 'field-label' }, t('gr.f.reason')), reason);
  const error = h('div', { class: 'error small span-all', id: 'override-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, t('gr.f.submit'));
  const code = (el: HTMLInputElement) => el.value.trim().toUpperCase();
  // The reason is not checked here: the server decides what an override needs, and says so.
  return h('form', {
    class: 'override-form', id: 'override-form', aria: { label: t('gr.f.title') },
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        const body: Record<string, string> = { reason: reason.value.trim() };
        if (grade.value) body.grade = grade.value;
        if (code(category)) body.category_code = code(category);
        if (code(sub)) body.subcategory_code = code(sub);
        submit.disabled = true;
        fill(error);
        reasonField.classList.remove('invalid');
        try {
          const out = await post<Doc>(url, body);
          notify(t('gr.overridden', { grade: tv('grade', out.grade), code: str(out.grade_code) }));
          await changed();
        } catch (err) {
          fill(error, errorText(err));
          if (!body.reason) {
            reasonField.classList.add('invalid');
            reason.focus();
          }
        } finally {
          submit.disabled = false;
        }
      },
    },
  },
  h('h3', { class: 'span-all' }, t('gr.f.title')),
  h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('gr.f.grade')), grade),
  h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('gr.f.category')), category),
  h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('gr.f.subcategory')), sub),
  reasonField,
  h('p', { class: 'muted small span-all' }, t('gr.f.note')),
  error,
  h('div', { class: 'form-buttons span-all' }, submit));
}
