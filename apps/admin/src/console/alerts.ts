// Dashboard, alert list with filters, and alert detail with its history and actions.

import { api, session } from './api';
import {
  SEVERITIES,
  actionButton,
  badge,
  busy,
  empty,
  field,
  formValues,
  fromLocalInput,
  h,
  href,
  labelChips,
  localTime,
  pageHead,
  pager,
  readOnlyHint,
  safeUrl,
  showErrors,
  table,
  toLocalInput,
  toast,
  uid,
  valueOf,
  when,
  type Column,
} from './dom';
import type { AlertGroup, AlertGroupDetail, AlertInstance, AlertNotification, Page, PageContext } from './types';

/** What each resolution type means, as the tooltip of the type in the instances table. */
const RESOLUTIONS: Record<string, string> = {
  normal: 'Its resolved alert arrived',
  inferred: 'A later episode of the same alert replaced it',
  manual: 'Resolved by hand in the console or the API',
  expired: 'Its lease ran out without a re-send (the sender stopped sending, e.g. Prometheus died): resolved at the lease end',
};

/**
 * An episode's lease: when it resolves as expired unless its sender sends it again (Prometheus
 * and POST /api/v2/alerts). An open episode without one waits for its resolved alert.
 */
function leaseCell(instance: AlertInstance) {
  if (!instance.leaseEndsAt)
    return h('span', { class: 'hint', title: 'No lease: it ends only when its resolved alert arrives (webhook alerts, or no endsAt on /api/v1)' }, 'none');
  if (instance.status !== 'firing') return when(instance.leaseEndsAt, { relative: false });
  return h('span', { title: 'Renewed by every re-send; resolves as expired if none comes before then' }, when(instance.leaseEndsAt));
}

/** Badges for a group's state: acknowledged, silenced. */
export function stateBadges(group: AlertGroup) {
  return [
    group.acknowledged ? badge('Acknowledged', 'acked') : null,
    group.silenced ? badge(group.silencedUntil ? `Silenced until ${localTime(group.silencedUntil)}` : 'Silenced', 'silenced') : null,
  ];
}

/** The columns of every alert-group table. */
export function groupColumns({ compact = false } = {}): Column<AlertGroup>[] {
  const columns: (Column<AlertGroup> | null)[] = [
    {
      label: 'Alert',
      cell: (g) => [h('a', { href: `#/alerts/${g.id}` }, g.name), h('span', { class: 'sub' }, g.instance ? `${g.instance} · ${g.source}` : g.source)],
    },
    { label: 'Severity', cell: (g) => badge(g.severity) },
    { label: 'Status', cell: (g) => badge(g.status) },
    compact ? null : { label: 'Labels', cell: (g) => labelChips(g.labels, { skip: ['alertname', 'severity', 'instance'] }) },
    { label: 'Last seen', class: 'nowrap', cell: (g) => when(g.lastOccurrence) },
    { label: 'Count', class: 'num', cell: (g) => String(g.firingCount) },
    {
      label: 'State',
      cell: (g) => h('span', { class: 'chips' }, stateBadges(g).filter(Boolean).length ? stateBadges(g) : h('span', { class: 'hint' }, 'Open')),
    },
  ];
  return columns.filter((column) => column !== null);
}

// ---- dashboard ----
export async function dashboard(ctx: PageContext) {
  ctx.title('Dashboard');
  const body = h('div', {}, await dashboardBody());
  const updated = h('span', { class: 'updated', 'aria-live': 'off' }, `Updated ${localTime(new Date().toISOString(), true).slice(11)}`);
  const refresh = async () => {
    const next = await dashboardBody().catch(() => null);
    if (!next || !ctx.alive()) return;
    body.replaceChildren(...next);
    updated.textContent = `Updated ${localTime(new Date().toISOString(), true).slice(11)}`;
  };
  const button: HTMLButtonElement = h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => void busy(button, refresh) }, 'Refresh');
  // Every 30 s while this page is shown and nobody is working inside it.
  const timer = setInterval(() => {
    if (!ctx.alive()) clearInterval(timer);
    else if (!document.hidden && !body.contains(document.activeElement)) void refresh();
  }, 30_000);
  return [...pageHead('Dashboard', { actions: [updated, button] }), body];
}

async function dashboardBody() {
  const count = (query: Record<string, string>) => api.get<Page<AlertGroup>>('/alert-groups', { ...query, pageSize: 1 }).then((page) => page.total);
  const [[firing, unacked, silenced, ...bySeverity], newest] = await Promise.all([
    Promise.all([
      count({ status: 'firing' }),
      count({ status: 'firing', acknowledged: 'false' }),
      count({ status: 'firing', silenced: 'true' }),
      ...SEVERITIES.map((severity) => count({ status: 'firing', severity })),
    ]),
    api.get<Page<AlertGroup>>('/alert-groups', { status: 'firing', pageSize: 10 }),
  ]);
  const card = (value: number | undefined, label: string, link: string, tone: string) =>
    h('a', { class: `card tone-${tone}`, href: link }, h('span', { class: 'card-value' }, String(value)), h('span', { class: 'card-label' }, label));
  return [
    h(
      'section',
      { 'aria-labelledby': 'dash-counts' },
      h('h2', { id: 'dash-counts', class: 'visually-hidden' }, 'Counts'),
      h(
        'div',
        { class: 'cards' },
        card(firing, 'Firing', href('/alerts', { status: 'firing' }), firing ? 'danger' : 'ok'),
        card(unacked, 'Firing, unacknowledged', href('/alerts', { status: 'firing', acknowledged: 'false' }), unacked ? 'warn' : 'ok'),
        card(silenced, 'Firing, silenced', href('/alerts', { status: 'firing', silenced: 'true' }), 'purple'),
        ...SEVERITIES.map((severity, i) =>
          card(
            bySeverity[i],
            `Firing ${severity}`,
            href('/alerts', { status: 'firing', severity }),
            severity === 'critical' ? 'danger' : severity === 'warning' ? 'warn' : 'info',
          ),
        ),
      ),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'dash-newest' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'dash-newest' }, 'Newest firing alert groups'),
        h('a', { href: href('/alerts', { status: 'firing' }) }, `All ${firing} firing`),
      ),
      table({
        caption: 'Newest firing alert groups',
        columns: groupColumns({ compact: true }),
        rows: newest.items,
        emptyTitle: 'Nothing is firing',
        emptyText: 'All quiet. New alerts appear here as they arrive.',
      }),
    ),
  ];
}

// ---- alert list ----
const yesNo: [string, string][] = [
  ['', 'Any'],
  ['true', 'Yes'],
  ['false', 'No'],
];

export async function alertList(ctx: PageContext) {
  ctx.title('Alerts');
  const q = ctx.query;
  const filters = {
    status: q.get('status') ?? '',
    severity: q.get('severity') ?? '',
    silenced: q.get('silenced') ?? '',
    acknowledged: q.get('acknowledged') ?? '',
    label: q.getAll('label'),
    q: q.get('q') ?? '',
    page: Number(q.get('page') ?? 1) || 1,
    pageSize: Number(q.get('pageSize') ?? 50) || 50,
  };
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter alert groups' },
    field({
      label: 'Status',
      name: 'status',
      kind: 'select',
      value: filters.status,
      options: [
        ['', 'Any'],
        ['firing', 'Firing'],
        ['resolved', 'Resolved'],
      ],
    }),
    field({
      label: 'Severity',
      name: 'severity',
      kind: 'select',
      value: filters.severity,
      options: [['', 'Any'], ...SEVERITIES.map((s): [string, string] => [s, s.charAt(0).toUpperCase() + s.slice(1)])],
    }),
    field({ label: 'Silenced', name: 'silenced', kind: 'select', value: filters.silenced, options: yesNo }),
    field({ label: 'Acknowledged', name: 'acknowledged', kind: 'select', value: filters.acknowledged, options: yesNo }),
    field({
      label: 'Labels',
      name: 'label',
      value: filters.label.join(', '),
      wrapClass: 'wide',
      attrs: { placeholder: 'team=storage, env=prod', class: 'code' },
    }),
    field({ label: 'Text', name: 'q', type: 'search', value: filters.q, wrapClass: 'wide', attrs: { placeholder: 'name or label' } }),
    field({
      label: 'Per page',
      name: 'pageSize',
      kind: 'select',
      wrapClass: 'narrow',
      value: String(filters.pageSize),
      options: [
        ['25', '25'],
        ['50', '50'],
        ['100', '100'],
        ['200', '200'],
      ],
    }),
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
      h('a', { class: 'btn btn-quiet', href: '#/alerts' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = formValues(form);
    const labels =
      typeof values['label'] === 'string' && values['label']
        ? values['label']
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [];
    ctx.go(href('/alerts', { ...values, label: labels, pageSize: values['pageSize'] === '50' ? '' : values['pageSize'] }));
  });

  let results: HTMLElement | null;
  try {
    const page = await api.get<Page<AlertGroup>>('/alert-groups', { ...filters, page: filters.page, pageSize: filters.pageSize });
    const pageHref = (n: number) => href('/alerts', { ...Object.fromEntries(q), label: filters.label, page: n });
    results = h(
      'section',
      { class: 'panel', 'aria-labelledby': 'alerts-results' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'alerts-results' }, 'Alert groups'), h('span', { class: 'count' }, `${page.total} found, newest first`)),
      table({
        caption: 'Alert groups',
        columns: groupColumns(),
        rows: page.items,
        emptyTitle: 'No alert groups match',
        emptyText: 'Change or clear the filters.',
      }),
      pager(page, pageHref),
    );
  } catch (error) {
    showErrors(form, error);
    results = null;
  }
  return [...pageHead('Alerts', { lede: 'Every alert group, newest first. Filters combine; labels look like name=value.' }), form, results];
}

// ---- alert detail ----
const NOTIFIERS: Record<AlertNotification['notifier'], string> = { slack: 'Slack', email: 'Email', webhook: 'Webhook' };

export async function alertDetail(ctx: PageContext) {
  const id = Number(ctx.params[0]);
  const g = await api.get<AlertGroupDetail>(`/alert-groups/${id}`);
  ctx.title(g.name);
  const summary = g.instances[0]?.annotations['summary'];
  const description = g.instances[0]?.annotations['description'];

  const overview = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'ov' },
    h('h2', { id: 'ov' }, 'Overview'),
    summary ? h('p', {}, summary) : null,
    description ? h('p', { class: 'hint' }, description) : null,
    h(
      'dl',
      { class: 'meta' },
      h('dt', {}, 'Labels'),
      h('dd', {}, labelChips(g.labels)),
      h('dt', {}, 'Fingerprint'),
      h('dd', {}, h('code', {}, g.fingerprint)),
      h('dt', {}, 'Source'),
      h('dd', {}, g.source),
      h('dt', {}, 'First seen'),
      h('dd', {}, when(g.firstOccurrence)),
      h('dt', {}, 'Last seen'),
      h('dd', {}, when(g.lastOccurrence)),
      h('dt', {}, 'Times fired'),
      h('dd', {}, String(g.firingCount)),
      h('dt', {}, 'Acknowledged'),
      h('dd', {}, g.acknowledged ? [`by ${g.acknowledgedBy ?? 'someone'} `, when(g.acknowledgedAt, { relative: false })] : 'No'),
      h('dt', {}, 'Silenced'),
      h(
        'dd',
        {},
        g.silenced
          ? ['Yes, until ', when(g.silencedUntil, { relative: false }), ' · ', h('a', { href: href('/silences', { state: 'active' }) }, 'active silences')]
          : 'No',
      ),
    ),
  );

  const instances = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'inst' },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { id: 'inst' }, 'Instances'),
      h('span', { class: 'count' }, `${g.instances.length} episode${g.instances.length === 1 ? '' : 's'}`),
    ),
    table({
      caption: 'Instances, newest first',
      rows: g.instances,
      emptyTitle: 'No instances recorded',
      columns: [
        {
          label: 'Status',
          cell: (i) => [
            badge(i.status),
            i.resolutionType
              ? h(
                  'span',
                  { class: 'sub', title: RESOLUTIONS[i.resolutionType] ?? '' },
                  i.resolutionType === 'expired' ? 'expired (lease ran out)' : i.resolutionType,
                )
              : null,
          ],
        },
        { label: 'Started', class: 'nowrap', cell: (i) => when(i.startsAt) },
        { label: 'Ended', class: 'nowrap', cell: (i) => when(i.endsAt) },
        { label: 'Lease ends', class: 'nowrap', cell: leaseCell },
        { label: 'Summary', class: 'text-cell', cell: (i) => i.annotations?.summary ?? h('span', { class: 'hint' }, '—') },
        {
          label: 'Via',
          cell: (i) => [
            i.intakeSource ?? '—',
            safeUrl(i.generatorURL) ? h('a', { class: 'sub', href: safeUrl(i.generatorURL), rel: 'noopener noreferrer', target: '_blank' }, 'source ↗') : null,
          ],
        },
      ],
    }),
  );

  const history = <T>(title: string, id: string, items: T[], render: (item: T) => HTMLElement, emptyTitle: string) =>
    h(
      'section',
      { class: 'panel', 'aria-labelledby': id },
      h('h2', { id }, title),
      items.length ? h('ol', { class: 'timeline' }, items.map(render)) : empty(emptyTitle),
    );
  const comments = history(
    'Comments',
    'cm',
    g.comments,
    (c) =>
      h(
        'li',
        {},
        h('span', { class: 'who' }, c.author),
        h('span', { class: 'when' }, when(c.createdAt, { relative: false })),
        h('div', { class: 'body' }, c.body),
      ),
    'No comments yet',
  );
  const acks = history(
    'Acknowledgement history',
    'ah',
    g.acknowledgements,
    (a) =>
      h(
        'li',
        {},
        badge(a.action === 'acknowledge' ? 'Acknowledged' : 'Unacknowledged', a.action === 'acknowledge' ? 'acked' : 'expired'),
        ' ',
        h('span', { class: 'who' }, a.actor),
        h('span', { class: 'when' }, when(a.createdAt, { relative: false })),
        a.comment ? h('div', { class: 'body' }, a.comment) : null,
      ),
    'Never acknowledged',
  );
  const notifications = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'nt' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'nt' }, 'Notifications'), h('a', { href: href('/notifications', { groupId: g.id }) }, 'In the log')),
    table({
      caption: 'Notifications for this group: Slack, email and webhook',
      rows: g.notifications,
      emptyTitle: 'No notifications sent for this group',
      columns: [
        { label: 'When', class: 'nowrap', cell: (n) => when(n.createdAt) },
        { label: 'Via', cell: (n) => [NOTIFIERS[n.notifier], h('span', { class: 'sub' }, n.destination)] },
        {
          label: 'Rule',
          cell: (n) =>
            n.ruleId === null
              ? h('span', { class: 'hint' }, '—')
              : n.ruleName === null
                ? `#${n.ruleId} (deleted)`
                : h('a', { href: `#/${n.notifier}-rules/${n.ruleId}` }, n.ruleName),
        },
        { label: 'Kind', cell: (n) => (n.kind === 'repeat' ? `repeat ${n.sequence}` : n.kind) },
        {
          label: 'Status',
          cell: (n) => [
            badge(n.status),
            n.reason ? h('span', { class: 'sub' }, n.reason) : null,
            n.inhibitedByGroupId !== null ? h('a', { class: 'sub', href: `#/alerts/${n.inhibitedByGroupId}` }, `see #${n.inhibitedByGroupId}`) : null,
          ],
        },
        { label: 'Message', class: 'text-cell', cell: (n) => h('div', { class: 'clip' }, n.text) },
      ],
    }),
  );

  return [
    ...pageHead(g.name, {
      crumbs: [{ label: 'Alerts', href: '#/alerts' }, { label: `#${g.id}` }],
      actions: [badge(g.severity), badge(g.status), ...stateBadges(g)],
    }),
    h(
      'div',
      { class: 'grid-2' },
      h('div', {}, overview, instances, acks, comments, notifications),
      h('aside', { class: 'stack', 'aria-label': 'Actions' }, actionPanels(g, ctx)),
    ),
  ];
}

function actionPanels(g: AlertGroupDetail, ctx: PageContext) {
  const ackId = uid('ack');
  const ackForm = h(
    'form',
    { class: 'panel', 'aria-labelledby': ackId },
    h('h2', { id: ackId }, g.acknowledged ? 'Unacknowledge' : 'Acknowledge'),
    h(
      'p',
      { class: 'hint' },
      g.acknowledged ? `Acknowledged by ${g.acknowledgedBy ?? 'someone'}. Unacknowledge to hand it back.` : 'Tell everyone you are on it.',
    ),
    field({ label: 'Comment', name: 'comment', kind: 'textarea', optional: true, id: 'ack-comment', attrs: { rows: 2, disabled: !session.canEdit } }),
    h(
      'div',
      { class: 'form-actions' },
      actionButton(g.acknowledged ? 'Unacknowledge' : 'Acknowledge', { type: 'submit', class: 'btn btn-primary', id: 'ack-submit' }),
    ),
    readOnlyHint('acknowledging'),
  );
  ackForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const comment = formValues(ackForm)['comment'];
    void busy(
      ackForm.querySelector('button'),
      async () => {
        await api.post(`/alert-groups/${g.id}/${g.acknowledged ? 'unacknowledge' : 'acknowledge'}`, comment ? { comment } : {});
        toast(g.acknowledged ? 'Unacknowledged.' : 'Acknowledged.');
        await ctx.reload();
      },
      ackForm,
    );
  });

  const commentForm = h(
    'form',
    { class: 'panel', 'aria-labelledby': 'add-comment' },
    h('h2', { id: 'add-comment' }, 'Add a comment'),
    field({ label: 'Comment', name: 'body', kind: 'textarea', id: 'comment-body', attrs: { rows: 3, disabled: !session.canEdit } }),
    h('div', { class: 'form-actions' }, actionButton('Add comment', { type: 'submit', class: 'btn', id: 'comment-submit' })),
    readOnlyHint('commenting'),
  );
  commentForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(
      commentForm.querySelector('button'),
      async () => {
        await api.post(`/alert-groups/${g.id}/comments`, { body: valueOf(commentForm, 'body') });
        toast('Comment added.');
        await ctx.reload();
      },
      commentForm,
    );
  });

  const resolveForm = h(
    'form',
    { class: 'panel', 'aria-labelledby': 'resolve-h' },
    h('h2', { id: 'resolve-h' }, 'Resolve by hand'),
    g.status === 'firing'
      ? [
          h('p', { class: 'hint' }, 'Closes every open instance as resolved manually; notifiers send the resolved message.'),
          field({
            label: 'Resolved at',
            name: 'at',
            type: 'datetime-local',
            value: toLocalInput(new Date()),
            hint: 'Your local time. Not before the episode started.',
            id: 'resolve-at',
            attrs: { step: '1', disabled: !session.canEdit },
          }),
          field({ label: 'Comment', name: 'comment', kind: 'textarea', optional: true, id: 'resolve-comment', attrs: { rows: 2, disabled: !session.canEdit } }),
          h('div', { class: 'form-actions' }, actionButton('Resolve', { type: 'submit', class: 'btn btn-danger', id: 'resolve-submit' })),
          readOnlyHint('resolving'),
        ]
      : h('p', { class: 'hint' }, 'Nothing is open: the group is resolved.'),
  );
  resolveForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const at = valueOf(resolveForm, 'at').trim();
    const comment = valueOf(resolveForm, 'comment').trim();
    void busy(
      resolveForm.querySelector('button'),
      async () => {
        await api.post(`/alert-groups/${g.id}/resolve`, { ...(at ? { at: fromLocalInput(at) } : {}), ...(comment ? { comment } : {}) });
        toast('Resolved.');
        await ctx.reload();
      },
      resolveForm,
    );
  });

  const more = h(
    'section',
    { class: 'panel', 'aria-labelledby': 'more-h' },
    h('h2', { id: 'more-h' }, 'More'),
    h(
      'ul',
      {},
      h('li', {}, h('a', { href: href('/silences/new', { group: g.id }) }, 'Silence this alert…')),
      h('li', {}, h('a', { href: href('/explain', { fingerprint: g.fingerprint }) }, 'Explain its routing')),
      h('li', {}, h('a', { href: href('/audit-log', { entity: 'alert_group', entityId: g.id }) }, 'Audit trail')),
    ),
  );
  return [ackForm, commentForm, resolveForm, more];
}

/** Recent groups for a <select>: firing first. */
export async function groupOptions() {
  const [firing, recent] = await Promise.all([
    api.get<Page<AlertGroup>>('/alert-groups', { status: 'firing', pageSize: 50 }),
    api.get<Page<AlertGroup>>('/alert-groups', { pageSize: 50 }),
  ]);
  const seen = new Set<number>();
  return [...firing.items, ...recent.items].filter((g) => !seen.has(g.id) && seen.add(g.id));
}
