// 登录: the sign-in form; a refusal (401 wrong, 423 locked) shows the server's own words.

import { ApiError, post, type Me } from '../api';
import { h } from '../dom';
import { getLang, setLang, t } from '../i18n';
import type { PageCtx } from '../router';
import { signedIn } from '../session';
import { errorText } from '../widgets';

export function renderLogin(ctx: PageCtx): void {
  const user = h('input', { type: 'text', id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { type: 'password', id: 'login-password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('div', { class: 'error', id: 'login-error', role: 'alert' });
  error.hidden = true;
  const submit = h('button', { type: 'submit', class: 'btn primary wide', id: 'login-submit' }, t('login.submit'));
  const form = h('form', {
    class: 'login-form',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        submit.textContent = t('login.busy');
        try {
          const me = await post<Me>('/auth/login', { username: user.value.trim(), password: pass.value });
          signedIn(me);
        } catch (err) {
          if (!ctx.alive()) return;
          error.textContent = err instanceof ApiError ? err.detail : errorText(err);
          error.hidden = false;
          pass.value = '';
          pass.focus();
        } finally {
          submit.disabled = false;
          submit.textContent = t('login.submit');
        }
      },
    },
  },
  h('div', { class: 'login-head' },
    h('span', { class: 'brand-mark' }, 'SOC'),
    h('div', null, h('h1', null, t('app.title')), h('div', { class: 'muted' }, t('app.subtitle')))),
  h('h2', null, t('login.title')),
  h('label', { class: 'field', for: 'login-username' }, h('span', { class: 'field-label' }, t('login.username')), user),
  h('label', { class: 'field', for: 'login-password' }, h('span', { class: 'field-label' }, t('login.password')), pass),
  error,
  submit,
  h('p', { class: 'muted small' }, t('login.note')),
  h('div', { class: 'login-lang' },
    h('button', { type: 'button', class: 'btn link', id: 'lang-switch', on: { click: () => { setLang(getLang() === 'en' ? 'zh-CN' : 'en'); window.dispatchEvent(new HashChangeEvent('hashchange')); } } }, t('nav.lang'))));
  ctx.root.appendChild(h('div', { class: 'login-wrap' }, form));
  user.focus();
}
