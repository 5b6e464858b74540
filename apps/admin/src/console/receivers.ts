// The webhook receivers, read only: they are named in the webhook-notifier's receivers file
// (WEBHOOK_RECEIVERS_FILE), never in the console. Names only: header and parameter values and
// secrets live in the environment and never reach the API.

import { api } from './api';
import { h, pageHead, table, type Column } from './dom';
import type { PageContext, Receivers } from './types';

type Receiver = Receivers['items'][number];
type Preset = Receivers['presets'][number];

const names = (list: readonly string[]) => (list.length ? list.map((name, i) => [i ? ', ' : '', h('code', {}, name)]) : h('span', { class: 'hint' }, 'none'));

export async function receiverList(ctx: PageContext) {
  ctx.title('Receivers');
  const { items, presets } = await api.get<Receivers>('/receivers');
  const columns: Column<Receiver>[] = [
    { label: 'Name', cell: (r) => h('code', {}, r.name) },
    { label: 'URL', cell: (r) => (r.url ? h('code', {}, r.url) : h('span', { class: 'hint' }, `from ${r.urlEnv}`)) },
    { label: 'Headers', cell: (r) => names(r.headers) },
    { label: 'Parameters', cell: (r) => names(r.params) },
    { label: 'Signed', cell: (r) => (r.signed ? ['HMAC-SHA256 in ', h('code', {}, r.signatureHeader)] : h('span', { class: 'hint' }, 'no')) },
    { label: 'Resolved to', cell: (r) => (r.resolvedPath ? h('code', {}, r.resolvedPath) : h('span', { class: 'hint' }, 'the URL')) },
    { label: 'Timeout', class: 'num', cell: (r) => `${r.timeoutMs} ms` },
    { label: 'Presets it can use', cell: (r) => r.presets.join(', ') },
  ];
  return [
    ...pageHead('Receivers', {
      lede: 'Where webhook rules post their bodies. Operators name receivers in the receivers file (WEBHOOK_RECEIVERS_FILE); header and parameter values come from environment variables and are never shown.',
    }),
    h(
      'section',
      { class: 'panel', 'aria-label': 'Receivers' },
      table({
        caption: 'Configured receivers',
        columns,
        rows: items,
        emptyTitle: 'No receivers configured',
        emptyText: 'Set WEBHOOK_RECEIVERS_FILE for the admin and the webhook-notifier (docs/routing.md, Outgoing webhooks).',
      }),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'presets-title' },
      h('h2', { id: 'presets-title' }, 'Body presets'),
      table<Preset>({
        caption: 'Presets a webhook rule can start from',
        columns: [
          { label: 'Preset', cell: (p) => [h('strong', {}, p.title), ' ', h('code', {}, p.id)] },
          { label: 'The receiver needs', cell: (p) => p.receiverHint },
          { label: 'Reference', cell: (p) => h('a', { href: p.docs, rel: 'noopener noreferrer', target: '_blank' }, 'documentation') },
        ],
        rows: presets,
      }),
    ),
  ];
}
