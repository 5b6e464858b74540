// Explain (what SentryHub would do for a set of labels) and API keys (admin role).

import { api, session } from './api';
import { badge, busy, confirmDialog, empty, field, h, href, localTime, pageHead, showErrors, table, toast, valueOf, when } from './dom';
import type { ApiKey, CreatedApiKey, Explain, Items, PageContext } from './types';

type ExplainSection = Explain['slack'] | Explain['email'];

// ---- explain ----
export async function explain(ctx: PageContext) {
  ctx.title('Explain');
  const fingerprint = ctx.query.get('fingerprint') ?? '';
  const labelsText = ctx.query.get('labels') ?? '';
  const form = h(
    'form',
    { class: 'panel', 'aria-label': 'What to explain', novalidate: true },
    h(
      'div',
      { class: 'row' },
      field({
        label: 'Labels',
        name: 'labels',
        kind: 'textarea',
        value: labelsText,
        id: 'explain-labels',
        hint: 'One name=value per line, e.g. alertname=DiskFull.',
        attrs: { class: 'code', rows: 4, spellcheck: 'false' },
      }),
      field({
        label: 'or a fingerprint',
        name: 'fingerprint',
        value: fingerprint,
        id: 'explain-fingerprint',
        hint: '16 hex digits of a known alert group.',
        attrs: { class: 'code', spellcheck: 'false', autocomplete: 'off' },
      }),
    ),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Explain')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const labels = valueOf(form, 'labels').trim();
    const print = valueOf(form, 'fingerprint').trim();
    ctx.go(href('/explain', print ? { fingerprint: print } : { labels }));
  });

  let result: HTMLElement | null = null;
  if (fingerprint || labelsText) {
    const labels: Record<string, string> = {};
    for (const line of labelsText.split(/\n/)) {
      const at = line.indexOf('=');
      if (at > 0) labels[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    try {
      result = explanation(await api.post<Explain>('/explain', fingerprint ? { fingerprint } : { labels }));
    } catch (error) {
      showErrors(form, error);
    }
  }
  return [
    ...pageHead('Explain', {
      lede: 'For a set of labels: the fingerprint, the silences that match now, each rule with why it matches or not, the winner and what it would send.',
    }),
    form,
    result,
  ];
}

/** Every rule that applies (fan-out with continue), what each does now, and where the search stopped. */
function appliedList<S extends ExplainSection>(kind: S, target: (applied: S['applied'][number]) => string) {
  if (kind.applied.length === 0) return null;
  return h(
    'div',
    {},
    h(
      'p',
      {},
      `${kind.applied.length} rule${kind.applied.length === 1 ? ' applies' : 's apply'}; ${kind.stoppedAt ? `the search stopped at ${kind.stoppedAt} (no continue).` : 'every rule was tried.'}`,
    ),
    h(
      'ul',
      {},
      kind.applied.map((a: S['applied'][number]) =>
        h('li', {}, h('strong', {}, a.rule), ` ${target(a)}: `, a.decision === 'send' ? 'sent' : [badge(a.decision), a.reason ? ` ${a.reason}` : '']),
      ),
    ),
  );
}

function explanation(x: Explain) {
  const ruleTable = (rules: ExplainSection['rules'], caption: string) =>
    table({
      caption,
      rows: rules,
      emptyTitle: 'No rules',
      columns: [
        { label: 'Priority', class: 'num', cell: (r) => String(r.priority) },
        { label: 'Rule', cell: (r) => r.name },
        { label: 'Active', cell: (r) => (r.isActive ? 'yes' : 'no') },
        { label: 'Continue', cell: (r) => (r.continue ? 'yes' : 'no') },
        {
          label: 'Search',
          cell: (r) =>
            r.outcome === 'applied' ? badge('applies', 'resolved') : r.outcome === 'not-reached' ? badge('not tried', 'pending') : badge('no match', 'expired'),
        },
        { label: 'Why not', cell: (r) => r.reason ?? '' },
      ],
    });
  return h(
    'div',
    { class: 'stack', id: 'explain-result' },
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'ex-what' },
      h('h2', { id: 'ex-what' }, 'The alert'),
      h(
        'dl',
        { class: 'meta' },
        h('dt', {}, 'Fingerprint'),
        h('dd', {}, h('code', {}, x.fingerprint)),
        h('dt', {}, 'Alert group'),
        h('dd', {}, x.groupId ? h('a', { href: `#/alerts/${x.groupId}` }, `#${x.groupId}`) : 'not seen yet'),
        h('dt', {}, 'Silenced'),
        h(
          'dd',
          {},
          x.silenced
            ? [
                badge('silenced'),
                ' by ',
                x.silences.map((s, i) => [i ? ', ' : '', h('a', { href: `#/silences/${s.id}` }, `silence ${s.id}`), ` until ${localTime(s.endsAt)}`]),
              ]
            : 'no',
        ),
        h('dt', {}, 'Inhibited'),
        h(
          'dd',
          {},
          x.inhibitedBy
            ? [
                badge('inhibited'),
                ' while ',
                h('a', { href: `#/alerts/${x.inhibitedBy.sourceGroupId}` }, x.inhibitedBy.sourceName ?? `group ${x.inhibitedBy.sourceGroupId}`),
                ' fires (',
                h('a', { href: `#/inhibit-rules/${x.inhibitedBy.ruleId}` }, x.inhibitedBy.ruleName ?? `inhibit rule ${x.inhibitedBy.ruleId}`),
                ')',
              ]
            : 'no',
        ),
      ),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'ex-slack' },
      h('h2', { id: 'ex-slack' }, 'Slack'),
      h('p', {}, x.slack.winner ? ['Winner: ', h('strong', {}, x.slack.winner), ` → ${x.slack.channel}`] : 'No Slack rule matches: no Slack message is sent.'),
      x.slack.text ? h('pre', { class: 'output slack' }, x.slack.text) : null,
      appliedList(x.slack, (a) => `→ ${a.channel}`),
      ruleTable(x.slack.rules, 'Slack rules'),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'ex-email' },
      h('h2', { id: 'ex-email' }, 'Email'),
      h(
        'p',
        {},
        x.email.winner ? ['Winner: ', h('strong', {}, x.email.winner), ` → ${x.email.recipients.join(', ')}`] : 'No email rule matches: no email is sent.',
      ),
      x.email.subject ? h('pre', { class: 'output' }, `Subject: ${x.email.subject}`) : null,
      appliedList(x.email, (a) => `→ ${a.recipients.join(', ')}`),
      ruleTable(x.email.rules, 'Email rules'),
    ),
  );
}

// ---- API keys ----
export async function apiKeys(ctx: PageContext) {
  ctx.title('API keys');
  if (!session.isAdmin) return [...pageHead('API keys'), empty('Admins only', 'Managing API keys needs an admin key.')];
  const { items } = await api.get<Items<ApiKey>>('/api-keys');
  const reveal = h('div', {});
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key');
  const form = h(
    'form',
    { class: 'panel', 'aria-labelledby': 'new-key', novalidate: true },
    h('h2', { id: 'new-key' }, 'New key'),
    h(
      'div',
      { class: 'row' },
      field({
        label: 'Name',
        name: 'name',
        id: 'key-name',
        hint: 'Who or what uses it; shown in the audit log as key:<name>.',
        attrs: { autocomplete: 'off' },
      }),
      field({
        label: 'Role',
        name: 'role',
        kind: 'select',
        id: 'key-role',
        value: 'viewer',
        options: [
          ['viewer', 'viewer: read only'],
          ['editor', 'editor: rules, silences, ack, comment, resolve'],
          ['admin', 'admin: everything, keys too'],
        ],
      }),
    ),
    h('div', { class: 'form-actions' }, submit),
    reveal,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(
      submit,
      async () => {
        const created = await api.post<CreatedApiKey>('/api-keys', { name: valueOf(form, 'name').trim(), role: valueOf(form, 'role') });
        const input = h('input', {
          type: 'text',
          readonly: true,
          value: created.key,
          id: 'created-key',
          'aria-label': `The new key for ${created.name}`,
          spellcheck: 'false',
        });
        const copy = h('button', { type: 'button', class: 'btn' }, 'Copy');
        copy.addEventListener('click', () => {
          input.select();
          // navigator.clipboard is missing outside secure contexts: that too ends in the hint.
          Promise.resolve()
            .then(() => navigator.clipboard.writeText(created.key))
            .then(
              () => toast('Copied.'),
              () => toast('Press Ctrl+C to copy the selected key.'),
            );
        });
        reveal.replaceChildren(
          h(
            'div',
            { class: 'notice notice-warn', role: 'status' },
            h('p', {}, h('strong', {}, `Key for ${created.name} (${created.role}). `), 'Copy it now: it is shown only once.'),
            h('div', { class: 'key-reveal' }, input, copy),
          ),
        );
        const nameInput = form.elements.namedItem('name');
        if (nameInput instanceof HTMLInputElement) nameInput.value = '';
        input.focus();
        input.select();
        const list = await api.get<Items<ApiKey>>('/api-keys');
        keyTable.replaceChildren(keysTable(list.items, ctx));
      },
      form,
    );
  });
  const keyTable = h('div', {}, keysTable(items, ctx));
  return [
    ...pageHead('API keys', { lede: 'Keys are stored hashed: a key is shown once, when it is created. Revoking one stops it at once.' }),
    form,
    h('section', { class: 'panel', 'aria-label': 'Keys' }, keyTable),
  ];
}

function keysTable(items: ApiKey[], ctx: PageContext) {
  return table({
    caption: 'API keys',
    rows: items,
    columns: [
      { label: 'Name', cell: (k) => k.name },
      { label: 'Role', cell: (k) => k.role },
      { label: 'Created', class: 'nowrap', cell: (k) => when(k.createdAt) },
      { label: 'Last used', class: 'nowrap', cell: (k) => when(k.lastUsedAt) },
      { label: 'State', cell: (k) => (k.revokedAt ? [badge('revoked', 'expired'), h('span', { class: 'sub' }, localTime(k.revokedAt))] : badge('active')) },
      {
        label: 'Actions',
        class: 'actions-cell',
        cell: (k) =>
          k.revokedAt
            ? null
            : h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-small btn-danger',
                  'aria-label': `Revoke ${k.name}`,
                  onclick: (event: Event) => void revoke(k, event.currentTarget as HTMLButtonElement),
                },
                'Revoke',
              ),
      },
    ],
  });

  async function revoke(k: ApiKey, button: HTMLButtonElement) {
    if (
      !(await confirmDialog({
        title: `Revoke the key “${k.name}”?`,
        text: 'Anything using it gets 401 from now on. If it is the key you are logged in with, you will be logged out.',
        confirmLabel: 'Revoke key',
      }))
    )
      return;
    await busy(button, async () => {
      await api.del(`/api-keys/${k.id}`);
      toast(`Key ${k.name} revoked.`);
      await ctx.reload();
    });
  }
}
