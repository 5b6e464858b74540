// The SentryHub console: login by API key, a hash router, the navigation, and the pages.

import { ApiError, probeKey, session, whenUnauthorized } from './api';
import { alertDetail, alertList, dashboard } from './alerts';
import { errorBox, field, h, loading, nodes, showErrors, type Child } from './dom';
import { inhibitRuleForm, inhibitRuleList } from './inhibit-rules';
import { auditLog, emailQueue, notificationLog, slackSink } from './logs';
import { deadLetters, queueList } from './queues';
import { receiverList } from './receivers';
import { ruleForm, ruleList } from './rules';
import { silenceForm, silenceList } from './silences';
import { apiKeys, explain } from './tools';
import type { PageContext } from './types';

/** A page: what it shows for the route (a node, or a list of them). */
type Page = (ctx: PageContext) => Promise<Child | Child[]> | Child | Child[];
type NavItem = { group: string } | { href: string; label: string; match: RegExp; admin?: boolean };

const NAV: NavItem[] = [
  { group: 'Alerts' },
  { href: '#/', label: 'Dashboard', match: /^\/$/ },
  { href: '#/alerts', label: 'Alerts', match: /^\/alerts/ },
  { href: '#/silences', label: 'Silences', match: /^\/silences/ },
  { group: 'Routing' },
  { href: '#/slack-rules', label: 'Slack rules', match: /^\/slack-rules/ },
  { href: '#/email-rules', label: 'Email rules', match: /^\/email-rules/ },
  { href: '#/webhook-rules', label: 'Webhook rules', match: /^\/webhook-rules/ },
  { href: '#/receivers', label: 'Receivers', match: /^\/receivers/ },
  { href: '#/inhibit-rules', label: 'Inhibition rules', match: /^\/inhibit-rules/ },
  { href: '#/explain', label: 'Explain', match: /^\/explain/ },
  { group: 'Delivery' },
  { href: '#/notifications', label: 'Notifications', match: /^\/notifications/ },
  { href: '#/slack-sink', label: 'Slack sink', match: /^\/slack-sink/ },
  { href: '#/email-queue', label: 'Email queue', match: /^\/email-queue/ },
  { href: '#/queues', label: 'Queues', match: /^\/(queues|dead-letters)/, admin: true },
  { group: 'Administration' },
  { href: '#/audit-log', label: 'Audit log', match: /^\/audit-log/ },
  { href: '#/api-keys', label: 'API keys', match: /^\/api-keys/, admin: true },
];

const ROUTES: [RegExp, Page][] = [
  [/^\/$/, dashboard],
  [/^\/alerts$/, alertList],
  [/^\/alerts\/(\d+)$/, alertDetail],
  [/^\/silences$/, silenceList],
  [/^\/silences\/new$/, silenceForm],
  [/^\/silences\/(\d+)$/, silenceForm],
  [/^\/slack-rules$/, ruleList('slack')],
  [/^\/slack-rules\/new$/, ruleForm('slack')],
  [/^\/slack-rules\/(\d+)$/, ruleForm('slack')],
  [/^\/email-rules$/, ruleList('email')],
  [/^\/email-rules\/new$/, ruleForm('email')],
  [/^\/email-rules\/(\d+)$/, ruleForm('email')],
  [/^\/webhook-rules$/, ruleList('webhook')],
  [/^\/webhook-rules\/new$/, ruleForm('webhook')],
  [/^\/webhook-rules\/(\d+)$/, ruleForm('webhook')],
  [/^\/receivers$/, receiverList],
  [/^\/inhibit-rules$/, inhibitRuleList],
  [/^\/inhibit-rules\/new$/, inhibitRuleForm],
  [/^\/inhibit-rules\/(\d+)$/, inhibitRuleForm],
  [/^\/explain$/, explain],
  [/^\/notifications$/, notificationLog],
  [/^\/slack-sink$/, slackSink],
  [/^\/email-queue$/, emailQueue],
  [/^\/queues$/, queueList],
  [/^\/dead-letters\/([^/?]+)$/, deadLetters],
  [/^\/audit-log$/, auditLog],
  [/^\/api-keys$/, apiKeys],
];

/** An element of index.html. */
function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}
const main = byId('main');
const nav = byId('nav');
const topbar = byId('topbar');

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const at = raw.indexOf('?');
  const path = at === -1 ? raw : raw.slice(0, at);
  return { path: path.startsWith('/') ? path : `/${path}`, query: new URLSearchParams(at === -1 ? '' : raw.slice(at + 1)) };
}

function renderNav(path: string) {
  const items: HTMLElement[] = [];
  let list: HTMLElement | null = null;
  for (const item of NAV) {
    if ('admin' in item && item.admin && !session.isAdmin) continue;
    if ('group' in item) {
      items.push(h('p', { class: 'nav-group', 'aria-hidden': 'true' }, item.group));
      list = h('ul', {});
      items.push(list);
      continue;
    }
    list?.append(h('li', {}, h('a', { href: item.href, 'aria-current': item.match.test(path) ? 'page' : undefined }, item.label)));
  }
  nav.replaceChildren(...items);
}

let renderCount = 0;

/** Renders the route of the current hash. `keepFocus`: a reload after an action, not a navigation. */
async function render({ keepFocus = false } = {}): Promise<void> {
  if (!session.key) return renderLogin();
  topbar.hidden = false;
  nav.hidden = false;
  byId('who').textContent = `${session.role} key`;
  const { path, query } = parseHash();
  renderNav(path);
  const focusedId = keepFocus && document.activeElement instanceof HTMLElement ? document.activeElement.id : '';
  const scroll = keepFocus ? window.scrollY : 0;
  const token = ++renderCount;
  const view = h('div', { class: 'view' }, loading());
  main.replaceChildren(view);
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  const ctx: PageContext = {
    query,
    params: route ? (path.match(route[0]) ?? []).slice(1) : [],
    title: (text) => {
      document.title = `${text} · SentryHub`;
    },
    reload: () => render({ keepFocus: true }),
    go: (hash) => {
      if (location.hash === hash) void render();
      else location.hash = hash;
    },
    alive: () => token === renderCount,
  };
  try {
    const content = route ? await route[1](ctx) : notFound(path);
    if (token !== renderCount) return;
    view.replaceChildren(...nodes(content));
  } catch (error) {
    if (token !== renderCount) return;
    if (error instanceof ApiError && error.status === 401) return;
    view.replaceChildren(h('h1', { tabindex: '-1' }, 'Something went wrong'), errorBox(error), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard')));
  }
  const again = focusedId ? document.getElementById(focusedId) : null;
  if (again) {
    again.focus({ preventScroll: true });
    window.scrollTo(0, scroll);
  } else if (keepFocus) {
    window.scrollTo(0, scroll);
  } else {
    window.scrollTo(0, 0);
    (view.querySelector('h1') ?? main).focus({ preventScroll: true });
  }
}

function notFound(path: string) {
  document.title = 'Not found · SentryHub';
  return [h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, `There is no page at ${path}. `, h('a', { href: '#/' }, 'Go to the dashboard'), '.')];
}

function renderLogin(message?: string) {
  topbar.hidden = true;
  nav.hidden = true;
  document.title = 'Log in · SentryHub';
  const keyField = field({
    label: 'API key',
    name: 'key',
    type: 'password',
    required: true,
    hint: 'Kept for this browser tab only, and sent only in the Authorization header.',
    attrs: { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' },
  });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'login', 'aria-labelledby': 'login-title', novalidate: true },
    h('p', { class: 'brand-mark' }, 'SentryHub'),
    h('h1', { id: 'login-title', tabindex: '-1' }, 'Log in to the console'),
    message ? h('div', { class: 'notice notice-warn', role: 'alert' }, h('p', {}, message)) : null,
    keyField,
    button,
  );
  form.addEventListener('submit', (event) => void logIn(event));
  async function logIn(event: SubmitEvent) {
    event.preventDefault();
    const input = keyField.querySelector('input');
    const key = input?.value.trim() ?? '';
    if (!key) {
      showErrors(form, new ApiError(400, { error: 'enter an API key', issues: [{ path: 'key', message: 'Enter your API key.' }] }));
      return;
    }
    button.disabled = true;
    button.textContent = 'Checking…';
    try {
      const role = await probeKey(key);
      session.start(key, role);
      if (input) input.value = '';
      if (!location.hash || location.hash === '#') location.hash = '#/';
      await render();
    } catch (error) {
      const text =
        error instanceof ApiError && error.status === 401
          ? 'This API key was not accepted. Check it and try again.'
          : error instanceof Error
            ? error.message
            : String(error);
      showErrors(form, new ApiError(400, { error: text, issues: [{ path: 'key', message: text }] }));
    } finally {
      button.disabled = false;
      button.textContent = 'Log in';
    }
  }
  main.replaceChildren(form);
  keyField.querySelector('input')?.focus();
}

function logout(message: string) {
  session.end();
  renderLogin(message);
}

whenUnauthorized(() => logout('Your API key is no longer accepted (revoked?). Log in again.'));
byId('logout').addEventListener('click', () => {
  // The next person to log in starts on the dashboard, not on the last page seen.
  history.replaceState(null, '', '#/');
  logout('You are logged out.');
});
document.querySelector('.skip-link')?.addEventListener('click', (event) => {
  event.preventDefault();
  (main.querySelector('h1') ?? main).focus();
});
window.addEventListener('hashchange', () => void render());
void render();
