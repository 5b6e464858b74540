// What was sent and what was done: the notifications log, the Slack sink, the email queue
// (with requeue) and the audit log.

import { ApiError, api } from './api';
import {
  actionButton,
  badge,
  busy,
  buttonOf,
  field,
  formValues,
  h,
  href,
  pageHead,
  pager,
  readOnlyHint,
  showErrors,
  table,
  toast,
  when,
  type Child,
  type Column,
} from './dom';
import type { AuditEntry, EmailQueueEntry, Notification, Page, PageContext } from './types';

const pageOf = (query: URLSearchParams) => Number(query.get('page') ?? 1) || 1;

function filterForm(ctx: PageContext, path: string, fields: Child, label: string) {
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': label },
    fields,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
      h('a', { class: 'btn btn-quiet', href: `#${path}` }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ctx.go(href(path, formValues(form)));
  });
  return form;
}

function notificationColumns(items: Notification[]): Column<Notification>[] {
  const via = items.some((n) => 'deliveredVia' in n);
  const columns: (Column<Notification> | null)[] = [
    { label: 'When', class: 'nowrap', cell: (n) => when(n.createdAt) },
    { label: 'Channel', cell: (n) => n.channel },
    { label: 'Alert group', cell: (n) => h('a', { href: `#/alerts/${n.groupId}` }, `#${n.groupId}`) },
    { label: 'Rule', cell: (n) => (n.ruleId ? h('a', { href: `#/slack-rules/${n.ruleId}` }, `#${n.ruleId}`) : h('span', { class: 'hint' }, 'default')) },
    { label: 'Kind', cell: (n) => n.kind },
    { label: 'Status', cell: (n) => [badge(n.status), n.lastError ? h('span', { class: 'sub' }, n.lastError) : null] },
    via ? { label: 'Via', cell: (n) => n.deliveredVia ?? '—' } : null,
    { label: 'Tries', class: 'num', cell: (n) => String(n.attempts) },
    { label: 'Text', class: 'text-cell', cell: (n) => h('div', { class: 'clip', title: n.text }, n.text) },
  ];
  return columns.filter((column) => column !== null);
}

// ---- notifications ----
export async function notificationLog(ctx: PageContext) {
  ctx.title('Notifications');
  const q = ctx.query;
  const filters = { status: q.get('status') ?? '', channel: q.get('channel') ?? '', groupId: q.get('groupId') ?? '' };
  const form = filterForm(
    ctx,
    '/notifications',
    [
      field({
        label: 'Status',
        name: 'status',
        kind: 'select',
        value: filters.status,
        options: [
          ['', 'Any'],
          ['pending', 'Pending'],
          ['sent', 'Sent'],
          ['failed', 'Failed'],
          ['suppressed', 'Suppressed'],
          ['inhibited', 'Inhibited'],
        ],
      }),
      field({ label: 'Channel', name: 'channel', value: filters.channel, attrs: { placeholder: '#general', class: 'code' } }),
      field({ label: 'Alert group id', name: 'groupId', type: 'number', value: filters.groupId, attrs: { min: '1' } }),
    ],
    'Filter notifications',
  );
  let results: HTMLElement | null = null;
  try {
    const page = await api.get<Page<Notification>>('/notifications', { ...filters, page: pageOf(q), pageSize: 50 });
    results = h(
      'section',
      { class: 'panel', 'aria-label': 'Notifications' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Slack notifications'), h('span', { class: 'count' }, `${page.total} in all, newest first`)),
      table({ caption: 'Notifications', columns: notificationColumns(page.items), rows: page.items, emptyTitle: 'No notifications match' }),
      pager(page, (n) => href('/notifications', { ...filters, page: n })),
    );
  } catch (error) {
    showErrors(form, error);
  }
  return [...pageHead('Notifications', { lede: 'Every Slack delivery attempt: one row per alert instance, rule and kind.' }), form, results];
}

// ---- Slack sink ----
export async function slackSink(ctx: PageContext) {
  ctx.title('Slack sink');
  const head = pageHead('Slack sink', {
    lede: 'Messages that went only to the log because no Slack endpoint (SLACK_INTERNAL_ENDPOINT) is configured: what Slack would have received.',
  });
  let page: Page<Notification> | null = null;
  let supported = true;
  try {
    page = await api.get<Page<Notification>>('/notifications', { deliveredVia: 'sink', page: pageOf(ctx.query), pageSize: 50 });
    // An API that ignores the filter answers every notification, without a deliveredVia field.
    supported = page.items.every((n) => 'deliveredVia' in n);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 400)) throw error;
    supported = false;
  }
  if (!supported || !page) {
    return [
      ...head,
      h(
        'div',
        { class: 'notice notice-info', id: 'sink-unsupported' },
        h('p', {}, h('strong', {}, 'This server cannot tell yet which messages went to the sink.')),
        h(
          'p',
          {},
          'The admin API does not support the deliveredVia filter of the notifications log. Once it does, this page lists them. Meanwhile, sink messages are in the slack-notifier log (lines “slack message (sink)”) and in the ',
          h('a', { href: '#/notifications' }, 'notifications log'),
          '.',
        ),
      ),
    ];
  }
  const items = page.items.filter((n) => n.deliveredVia === 'sink');
  return [
    ...head,
    h(
      'section',
      { class: 'panel', 'aria-label': 'Messages in the Slack sink' },
      table({
        caption: 'Messages in the Slack sink',
        rows: items,
        emptyTitle: 'No message went to the sink',
        emptyText: 'Messages appear here when the slack-notifier runs without a Slack endpoint.',
        columns: [
          { label: 'When', class: 'nowrap', cell: (n) => when(n.sentAt ?? n.createdAt) },
          { label: 'Channel', cell: (n) => h('code', {}, n.channel) },
          { label: 'Alert group', cell: (n) => h('a', { href: `#/alerts/${n.groupId}` }, `#${n.groupId}`) },
          { label: 'Kind', cell: (n) => n.kind },
          { label: 'Message', class: 'text-cell', cell: (n) => h('pre', { class: 'output slack' }, n.text) },
        ],
      }),
      pager(page, (n) => href('/slack-sink', { page: n })),
    ),
  ];
}

// ---- email queue ----
export async function emailQueue(ctx: PageContext) {
  ctx.title('Email queue');
  const status = ctx.query.get('status') ?? '';
  const page = await api.get<Page<EmailQueueEntry>>('/email-queue', { status, page: pageOf(ctx.query), pageSize: 50 });
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Email status' },
    [
      ['', 'All'],
      ['pending', 'Pending'],
      ['processing', 'Processing'],
      ['completed', 'Completed'],
      ['failed', 'Failed'],
      ['inhibited', 'Inhibited'],
    ].map(([value, label]) => h('a', { href: href('/email-queue', { status: value }), 'aria-current': status === value ? 'page' : undefined }, label)),
  );
  const requeue = (row: EmailQueueEntry, button: HTMLButtonElement) =>
    void busy(button, async () => {
      await api.post(`/email-queue/${row.id}/requeue`);
      toast(`Email ${row.id} is queued again.`);
      await ctx.reload();
    });
  return [
    ...pageHead('Email queue', { lede: 'Emails go pending → processing → completed, or failed after their retries. Failed ones can be queued again.' }),
    tabs,
    h(
      'section',
      { class: 'panel', 'aria-label': 'Emails' },
      table({
        caption: 'Emails, newest first',
        rows: page.items,
        emptyTitle: status ? `No ${status} emails` : 'The email queue is empty',
        columns: [
          { label: 'Id', class: 'num', cell: (e) => String(e.id) },
          { label: 'Created', class: 'nowrap', cell: (e) => when(e.createdAt) },
          { label: 'Subject', class: 'text-cell', cell: (e) => [e.subject, h('span', { class: 'sub' }, e.recipients.join(', '))] },
          { label: 'Alert group', cell: (e) => (e.groupId ? h('a', { href: `#/alerts/${e.groupId}` }, `#${e.groupId}`) : '—') },
          { label: 'Status', cell: (e) => [badge(e.status), e.lastError ? h('span', { class: 'sub' }, e.lastError) : null] },
          { label: 'Tries', class: 'num', cell: (e) => String(e.attempts) },
          { label: 'Sent', class: 'nowrap', cell: (e) => when(e.sentAt) },
          {
            label: 'Actions',
            class: 'actions-cell',
            cell: (e) =>
              e.status === 'failed'
                ? actionButton('Requeue', {
                    class: 'btn btn-small',
                    id: `requeue-${e.id}`,
                    'aria-label': `Requeue email ${e.id}`,
                    onclick: (event: Event) => requeue(e, buttonOf(event)),
                  })
                : null,
          },
        ],
      }),
      page.items.some((e) => e.status === 'failed') ? readOnlyHint('requeueing') : null,
      pager(page, (n) => href('/email-queue', { status, page: n })),
    ),
  ];
}

// ---- audit log ----
export async function auditLog(ctx: PageContext) {
  ctx.title('Audit log');
  const q = ctx.query;
  const filters = { entity: q.get('entity') ?? '', actor: q.get('actor') ?? '', entityId: q.get('entityId') ?? '' };
  const form = filterForm(
    ctx,
    '/audit-log',
    [
      field({
        label: 'Entity',
        name: 'entity',
        kind: 'select',
        value: filters.entity,
        options: [
          ['', 'Any'],
          ...['alert_group', 'silence', 'slack_rule', 'email_rule', 'email_queue', 'api_key'].map((e): [string, string] => [e, e.replace('_', ' ')]),
        ],
      }),
      field({ label: 'Entity id', name: 'entityId', value: filters.entityId }),
      field({ label: 'Actor', name: 'actor', value: filters.actor, attrs: { placeholder: 'key:ops', class: 'code' } }),
    ],
    'Filter the audit log',
  );
  let results: HTMLElement | null = null;
  try {
    const page = await api.get<Page<AuditEntry>>('/audit-log', { ...filters, page: pageOf(q), pageSize: 50 });
    results = h(
      'section',
      { class: 'panel', 'aria-label': 'Audit log' },
      table({
        caption: 'Changes, newest first',
        rows: page.items,
        emptyTitle: 'No changes recorded',
        columns: [
          { label: 'When', class: 'nowrap', cell: (a) => when(a.at) },
          { label: 'Actor', cell: (a) => a.actor },
          { label: 'Action', cell: (a) => h('strong', {}, a.action) },
          { label: 'Entity', cell: (a) => [a.entity.replace('_', ' '), a.entityId ? ` #${a.entityId}` : ''] },
          {
            label: 'Changes',
            class: 'text-cell',
            cell: (a) =>
              Object.keys(a.changes ?? {}).length
                ? h('details', {}, h('summary', {}, Object.keys(a.changes).join(', ')), h('pre', { class: 'output' }, JSON.stringify(a.changes, null, 2)))
                : h('span', { class: 'hint' }, '—'),
          },
        ],
      }),
      pager(page, (n) => href('/audit-log', { ...filters, page: n })),
    );
  } catch (error) {
    showErrors(form, error);
  }
  return [...pageHead('Audit log', { lede: 'Every change made through the API or this console.' }), form, results];
}
