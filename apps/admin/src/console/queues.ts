// Queue management (admin role): the queues of the vhost with their messages and consumers,
// purge with confirmation, and each `<queue>.dead` dead-letter queue with its messages (why they
// failed, where they came from) and replay. The admin answers 404 when RABBITMQ_MANAGEMENT_ENABLED
// is off, 403 for editor and viewer keys: both become a notice rather than an error page.

import { ApiError, api, session } from './api';
import { badge, busy, buttonOf, confirmDialog, errorBox, field, h, pageHead, selectIn, table, toast, when } from './dom';
import type { DeadLetter, DeadLetterList, DeadLetterReplayResult, PageContext, Queue, QueueList, QueuePurged } from './types';

const DEAD = '.dead';

/** The page for a refusal the operator cannot fix here, or null to let the error page show it. */
function unavailable(error: unknown) {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 404 && /queue management is disabled/i.test(error.message)) {
    return h(
      'div',
      { class: 'notice notice-info', id: 'queues-disabled', role: 'status' },
      h('p', {}, h('strong', {}, 'Queue management is disabled.')),
      h('p', {}, 'Start the admin service with RABBITMQ_MANAGEMENT_ENABLED=true (and the RABBITMQ_MANAGEMENT_* settings) to see and manage queues here.'),
    );
  }
  if (error.status === 403) {
    return h(
      'div',
      { class: 'notice notice-warn', id: 'queues-forbidden', role: 'alert' },
      h('p', {}, h('strong', {}, 'Queue management needs an admin key.')),
      h('p', {}, `Your key has the ${session.role} role: purging and replaying change what the services process, so only admin keys may see or use them.`),
    );
  }
  return null;
}

const count = (n: number | null | undefined) => (typeof n === 'number' ? n.toLocaleString('en') : '—');

// ---- queues ----
export async function queueList(ctx: PageContext) {
  ctx.title('Queues');
  const head = pageHead('Queues', {
    lede: 'The RabbitMQ queues of SentryHub’s vhost, from the management API. Each work queue has a dead-letter queue (<queue>.dead) that holds the messages it could not process.',
  });
  let list: QueueList;
  try {
    list = await api.get<QueueList>('/queues');
  } catch (error) {
    const notice = unavailable(error);
    if (!notice) throw error;
    return [...head, notice];
  }
  const purge = async (queue: Queue, button: HTMLButtonElement) => {
    const sure = await confirmDialog({
      title: `Purge ${queue.name}?`,
      text: `This deletes the ${count(queue.messagesReady)} ready message(s) of ${queue.name} for good; messages being processed (unacknowledged) stay. This cannot be undone.`,
      confirmLabel: 'Purge queue',
    });
    if (!sure) return;
    await busy(button, async () => {
      const result = await api.post<QueuePurged>(`/queues/${encodeURIComponent(queue.name)}/purge`, { confirm: queue.name });
      toast(`${result.purged} message(s) purged from ${result.queue}.`);
      await ctx.reload();
    });
  };
  const deadLetterLink = (queue: Queue) => {
    const work = queue.name.endsWith(DEAD) ? queue.name.slice(0, -DEAD.length) : null;
    if (work === null) return null;
    return h('a', { class: 'btn btn-small', href: `#/dead-letters/${encodeURIComponent(work)}`, 'aria-label': `Dead letters of ${work}` }, 'Dead letters');
  };
  return [
    ...head,
    h(
      'section',
      { class: 'panel', 'aria-label': 'Queues' },
      h('div', { class: 'panel-head' }, h('h2', {}, 'Queues'), h('span', { class: 'count' }, `vhost ${list.vhost}, ${list.items.length} queue(s)`)),
      table({
        caption: 'Queues of the vhost',
        rows: list.items,
        emptyTitle: 'No queues',
        emptyText: 'The services declare their queues when they start.',
        columns: [
          { label: 'Queue', cell: (q) => [h('code', {}, q.name), q.name.endsWith(DEAD) ? h('span', { class: 'sub' }, 'dead letters') : null] },
          { label: 'Type', cell: (q) => q.type },
          { label: 'State', cell: (q) => (q.state ? badge(q.state) : h('span', { class: 'hint' }, '—')) },
          { label: 'Messages', class: 'num', cell: (q) => count(q.messages) },
          { label: 'Ready', class: 'num', cell: (q) => count(q.messagesReady) },
          { label: 'Unacked', class: 'num', cell: (q) => count(q.messagesUnacknowledged) },
          { label: 'Consumers', class: 'num', cell: (q) => count(q.consumers) },
          {
            label: 'Actions',
            class: 'actions-cell',
            cell: (q) => [
              deadLetterLink(q),
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-small btn-danger',
                  'aria-label': `Purge ${q.name}`,
                  disabled: q.messagesReady === 0,
                  onclick: (event: Event) => void purge(q, buttonOf(event)),
                },
                'Purge',
              ),
            ],
          },
        ],
      }),
    ),
  ];
}

// ---- dead letters ----
function origin(message: DeadLetter) {
  const route =
    message.originalExchange === null && message.originalRoutingKey === null
      ? null
      : `${message.originalExchange || '(default exchange)'} / ${message.originalRoutingKey ?? '—'}`;
  return [
    route ? h('div', {}, h('span', { class: 'hint' }, 'x-original-exchange / routing key: '), h('code', {}, route)) : null,
    message.originalQueue ? h('div', {}, h('span', { class: 'hint' }, 'x-original-queue: '), h('code', {}, message.originalQueue)) : null,
    route || message.originalQueue ? null : h('span', { class: 'hint' }, 'not recorded'),
  ];
}

function payloadOf(message: DeadLetter) {
  let text = message.payload;
  if (message.payloadEncoding === 'string') {
    try {
      text = JSON.stringify(JSON.parse(message.payload), null, 2);
    } catch {
      // Not JSON: shown as it is.
    }
  }
  return h('details', {}, h('summary', {}, message.payloadEncoding === 'base64' ? 'payload (base64)' : 'payload'), h('pre', { class: 'output' }, text));
}

export async function deadLetters(ctx: PageContext) {
  const queue = decodeURIComponent(ctx.params[0] ?? '');
  ctx.title(`Dead letters of ${queue}`);
  const head = pageHead(`Dead letters of ${queue}`, {
    crumbs: [{ label: 'Queues', href: '#/queues' }, { label: `${queue}${DEAD}` }],
    lede: 'Messages the consumers of this queue gave up on, oldest first, with the reason (x-error) and where they were first published (x-original-*). Replaying puts a message back in the queue without its failure history.',
  });
  let list: DeadLetterList;
  try {
    list = await api.get<DeadLetterList>(`/dead-letters/${encodeURIComponent(queue)}`, { limit: 100 });
  } catch (error) {
    const notice = unavailable(error);
    if (notice) return [...head, notice];
    if (error instanceof ApiError && error.status === 404) return [...head, errorBox(error), h('p', {}, h('a', { href: '#/queues' }, 'Back to the queues'))];
    throw error;
  }
  const target = field({
    label: 'Replay to',
    name: 'to',
    kind: 'select',
    id: 'replay-to',
    value: 'queue',
    options: [
      ['queue', `the queue ${list.queue} (default)`],
      ['exchange', 'the original exchange and routing key (every queue bound to it gets a copy)'],
    ],
    hint: 'The original route is only allowed for a SentryHub work queue and a route it is bound by.',
  });
  const to = () => selectIn(target).value;
  const report = (result: DeadLetterReplayResult) => {
    const parts = [`${result.replayed.length} replayed`];
    if (result.notFound.length) parts.push(`${result.notFound.length} no longer there`);
    if (result.failed.length) parts.push(`${result.failed.length} refused: ${result.failed.map((f) => f.error).join('; ')}`);
    toast(parts.join(', '), result.failed.length ? 'error' : 'ok');
  };
  const replay = (body: { all: true } | { messageIds: string[] }, button: HTMLButtonElement) =>
    busy(button, async () => {
      report(await api.post<DeadLetterReplayResult>(`/dead-letters/${encodeURIComponent(queue)}/replay`, { ...body, to: to() }));
      await ctx.reload();
    });
  const replayAll = async (button: HTMLButtonElement) => {
    const sure = await confirmDialog({
      title: `Replay every dead letter of ${queue}?`,
      text: `${list.total} message(s) go back for processing; those that fail again are dead-lettered again.`,
      confirmLabel: 'Replay all',
      danger: false,
    });
    if (sure) await replay({ all: true }, button);
  };
  return [
    ...head,
    h(
      'section',
      { class: 'panel', 'aria-label': 'Dead letters' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, h('code', {}, list.deadLetterQueue)),
        h('span', { class: 'count' }, list.total > list.items.length ? `${list.items.length} of ${list.total} shown` : `${list.total} message(s)`),
      ),
      list.items.length
        ? h(
            'div',
            { class: 'row' },
            target,
            h(
              'div',
              { class: 'form-actions' },
              h('button', { type: 'button', class: 'btn', id: 'replay-all', onclick: (event: Event) => void replayAll(buttonOf(event)) }, 'Replay all'),
            ),
          )
        : null,
      table({
        caption: `Dead letters of ${queue}`,
        rows: list.items,
        emptyTitle: 'No dead letters',
        emptyText: `Every message of ${queue} was processed or is still waiting.`,
        columns: [
          {
            label: 'Message',
            cell: (m) => [
              m.messageId ? h('code', {}, m.messageId) : h('span', { class: 'hint' }, 'no id'),
              m.correlationId ? h('span', { class: 'sub' }, `correlation ${m.correlationId}`) : null,
            ],
          },
          { label: 'Published', class: 'nowrap', cell: (m) => when(m.timestamp) },
          {
            label: 'Error (x-error)',
            class: 'text-cell',
            cell: (m) => [m.error ?? h('span', { class: 'hint' }, 'none recorded'), m.errorPath ? h('span', { class: 'sub' }, `at ${m.errorPath}`) : null],
          },
          { label: 'From', cell: origin },
          { label: 'Retries', class: 'num', cell: (m) => String(m.retryCount) },
          { label: 'Payload', class: 'text-cell', cell: payloadOf },
          {
            label: 'Actions',
            class: 'actions-cell',
            cell: (m) =>
              m.messageId
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn btn-small',
                      'aria-label': `Replay ${m.messageId}`,
                      onclick: (event: Event) => void replay({ messageIds: [m.messageId ?? ''] }, buttonOf(event)),
                    },
                    'Replay',
                  )
                : h('span', { class: 'hint', title: 'Without a message id, only "Replay all" can pick it' }, 'no id'),
          },
        ],
      }),
    ),
  ];
}
