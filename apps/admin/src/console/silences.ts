// Silences: list by state, create and edit (matchers =, !=, =~, !~), delete, and the alert
// groups each one silences now.

import { api, session } from './api';
import { groupColumns } from './alerts';
import { matcherChips, matcherRows, operatorOf } from './matchers';
import type { AlertGroup, AlertGroupDetail, Items, Page, PageContext, Silence, SilenceMatcher } from './types';
import {
  actionButton,
  badge,
  busy,
  buttonOf,
  confirmDialog,
  disableAll,
  empty,
  field,
  fromLocalInput,
  h,
  href,
  localTime,
  nodes,
  pageHead,
  pager,
  readOnlyHint,
  sortedLabels,
  table,
  toLocalInput,
  toast,
  when,
  type Column,
} from './dom';

const AUTHOR = 'sentryhub.author';

/** Alertmanager semantics, as the server evaluates them: a missing label is "", regexes anchored. */
function matcherHolds(m: SilenceMatcher, labels: Record<string, string>) {
  const value = labels[m.name] ?? '';
  const matches = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(value) : value === m.value;
  return m.isEqual ? matches : !matches;
}

// ---- list ----
export async function silenceList(ctx: PageContext) {
  ctx.title('Silences');
  const state = ctx.query.get('state') ?? 'active';
  const page = Number(ctx.query.get('page') ?? 1) || 1;
  const result = await api.get<Page<Silence>>('/silences', { state: state === 'all' ? '' : state, page, pageSize: 50 });
  const tabs = h(
    'nav',
    { class: 'tabs', 'aria-label': 'Silence state' },
    [
      ['active', 'Active'],
      ['pending', 'Pending'],
      ['expired', 'Expired'],
      ['all', 'All'],
    ].map(([value, label]) => h('a', { href: href('/silences', { state: value }), 'aria-current': state === value ? 'page' : undefined }, label)),
  );
  const columns: Column<Silence>[] = [
    { label: 'Matchers', cell: (s) => matcherChips(s.matchers) },
    { label: 'State', cell: (s) => badge(s.state) },
    { label: 'Starts', class: 'nowrap', cell: (s) => when(s.startsAt) },
    { label: 'Ends', class: 'nowrap', cell: (s) => when(s.endsAt) },
    { label: 'Created by', cell: (s) => s.createdBy },
    { label: 'Comment', class: 'text-cell', cell: (s) => h('div', { class: 'clip' }, s.comment) },
    { label: 'Silencing now', cell: (s) => (s.state === 'active' ? matchesDisclosure(s.id) : h('span', { class: 'hint' }, '—')) },
    {
      label: 'Actions',
      class: 'actions-cell',
      cell: (s) => [
        h('a', { class: 'btn btn-small', href: `#/silences/${s.id}` }, session.canEdit ? 'Edit' : 'View'),
        actionButton('Delete', { class: 'btn btn-small btn-danger', onclick: (event: Event) => void deleteSilence(s, buttonOf(event), ctx.reload) }),
      ],
    },
  ];
  return [
    ...pageHead('Silences', {
      lede: 'A silence mutes the notifications of every alert whose labels match all its matchers, between its start and end.',
      actions: session.canEdit ? h('a', { class: 'btn btn-primary', href: '#/silences/new' }, 'New silence') : null,
    }),
    readOnlyHint('creating or changing silences'),
    tabs,
    h(
      'section',
      { class: 'panel', 'aria-label': 'Silences' },
      table({
        caption: `${state} silences`,
        columns,
        rows: result.items,
        emptyTitle: `No ${state === 'all' ? '' : `${state} `}silences`,
        emptyText: state === 'active' ? 'Nothing is muted right now.' : '',
      }),
      pager(result, (n) => href('/silences', { state, page: n })),
    ),
  ];
}

/** A <details> that loads the groups a silence mutes when it is opened. */
function matchesDisclosure(id: number) {
  const body = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
  let loaded = false;
  const details = h('details', {}, h('summary', {}, 'Show groups'), body);
  details.addEventListener('toggle', () => void load());
  async function load() {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const { items } = await api.get<Items<AlertGroup>>(`/silences/${id}/matches`);
      body.replaceChildren(
        items.length
          ? h(
              'ul',
              {},
              items.map((g) => h('li', {}, h('a', { href: `#/alerts/${g.id}` }, g.name), g.instance ? ` (${g.instance})` : '')),
            )
          : h('p', { class: 'hint' }, 'No firing group matches.'),
      );
    } catch (error) {
      loaded = false;
      body.replaceChildren(h('p', { class: 'hint' }, error instanceof Error ? error.message : String(error)));
    }
  }
  return details;
}

async function deleteSilence(silence: Silence, button: HTMLButtonElement, after: () => unknown) {
  const sure = await confirmDialog({
    title: 'Delete this silence?',
    text: `It mutes ${silence.matchers.map((m) => `${m.name}${operatorOf(m)}"${m.value}"`).join(', ')}. Deleting it unmutes the alerts it matches at once; to keep its history, expire it instead.`,
    confirmLabel: 'Delete silence',
  });
  if (!sure) return;
  await busy(button, async () => {
    await api.del(`/silences/${silence.id}`);
    toast('Silence deleted.');
    after();
  });
}

// ---- create / edit ----
export async function silenceForm(ctx: PageContext) {
  const id = ctx.params[0] ? Number(ctx.params[0]) : null;
  const fromGroup = ctx.query.get('group');
  const [silence, group, firing, current] = await Promise.all([
    id ? api.get<Silence>(`/silences/${id}`) : null,
    !id && fromGroup ? api.get<AlertGroupDetail>(`/alert-groups/${Number(fromGroup)}`).catch(() => null) : null,
    api.get<Page<AlertGroup>>('/alert-groups', { status: 'firing', pageSize: 200 }),
    id ? api.get<Items<AlertGroup>>(`/silences/${id}/matches`) : null,
  ]);
  ctx.title(id ? `Silence ${id}` : 'New silence');

  const now = new Date();
  const initial: Pick<Silence, 'matchers' | 'startsAt' | 'endsAt' | 'createdBy' | 'comment'> = silence ?? {
    matchers: group
      ? sortedLabels(group.labels).map(([name, value]) => ({ name, value, isEqual: true, isRegex: false }))
      : [{ name: '', value: '', isEqual: true, isRegex: false }],
    startsAt: now.toISOString(),
    endsAt: new Date(now.getTime() + 2 * 3600_000).toISOString(),
    createdBy: sessionStorage.getItem(AUTHOR) ?? '',
    comment: '',
  };

  const {
    rows,
    addRow,
    addButton,
    renumber,
    read: readMatchers,
    settled,
  } = matcherRows({ path: 'matchers', label: 'Matcher', idPrefix: 'm', addButtonId: 'add-matcher', onChange: () => preview(), focusAfterRemove: true });
  for (const matcher of initial.matchers) addRow(matcher);

  const starts = field({
    label: 'Starts at',
    name: 'startsAt',
    type: 'datetime-local',
    value: toLocalInput(initial.startsAt),
    id: 'silence-starts',
    attrs: { step: '1' },
    hint: 'Your local time.',
  });
  const ends = field({
    label: 'Ends at',
    name: 'endsAt',
    type: 'datetime-local',
    value: toLocalInput(initial.endsAt),
    id: 'silence-ends',
    attrs: { step: '1' },
  });
  const startsInput = starts.querySelector('input') as HTMLInputElement;
  const endsInput = ends.querySelector('input') as HTMLInputElement;
  const durationText = h('span', { class: 'hint', 'aria-live': 'polite' });
  const showDuration = () => {
    const ms = Date.parse(fromLocalInput(endsInput.value)) - Date.parse(fromLocalInput(startsInput.value));
    durationText.textContent = Number.isFinite(ms)
      ? ms > 0
        ? `Lasts ${ms >= 86400_000 ? `${(ms / 86400_000).toFixed(1).replace(/\.0$/, '')} d` : `${(ms / 3600_000).toFixed(1).replace(/\.0$/, '')} h`}.`
        : 'Ends before it starts.'
      : '';
  };
  const durations = h(
    'div',
    { class: 'split durations', role: 'group', 'aria-label': 'Set the end from the start' },
    h('span', { class: 'hint' }, 'Duration:'),
    (
      [
        ['1h', 3600_000],
        ['4h', 4 * 3600_000],
        ['1d', 86400_000],
        ['7d', 7 * 86400_000],
      ] as const
    ).map(([text, ms]) =>
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small btn-quiet',
          'aria-label': `End ${text} after the start`,
          onclick: () => {
            const start = Date.parse(fromLocalInput(startsInput.value)) || Date.now();
            endsInput.value = toLocalInput(new Date(start + ms));
            showDuration();
          },
        },
        text,
      ),
    ),
    durationText,
  );
  startsInput.addEventListener('input', showDuration);
  endsInput.addEventListener('input', showDuration);
  showDuration();

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'silence-submit' }, id ? 'Save changes' : 'Create silence');
  const form = h(
    'form',
    { class: 'panel', 'aria-label': id ? 'Edit silence' : 'New silence', novalidate: true },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Matchers'),
      h(
        'p',
        { class: 'hint' },
        'An alert is silenced when every matcher holds. Regular expressions must match the whole value. A label field also takes matchers as Alertmanager writes them, {alertname="X", instance=~"h.*"} or instance=web-1, and splits them into rows.',
      ),
      h('div', { class: 'row-head', 'aria-hidden': 'true' }, h('span', {}, 'Label'), h('span', {}, 'Operator'), h('span', {}, 'Value'), h('span', {})),
      rows,
      h('div', { class: 'field' }, addButton),
    ),
    h('div', { class: 'row' }, starts, ends),
    durations,
    h(
      'div',
      { class: 'row' },
      field({ label: 'Created by', name: 'createdBy', value: initial.createdBy, id: 'silence-author', attrs: { autocomplete: 'name' } }),
    ),
    field({
      label: 'Comment',
      name: 'comment',
      kind: 'textarea',
      value: initial.comment,
      id: 'silence-comment',
      hint: 'Why, and a ticket if there is one.',
      attrs: { rows: 3 },
    }),
    h(
      'div',
      { class: 'form-actions' },
      submit,
      h('a', { class: 'btn btn-quiet', href: '#/silences' }, 'Cancel'),
      silence && silence.state === 'active'
        ? actionButton('Expire now', { id: 'silence-expire', onclick: (event: Event) => void expireNow(buttonOf(event)) })
        : null,
      silence
        ? actionButton('Delete', {
            class: 'btn btn-danger',
            id: 'silence-delete',
            onclick: (event: Event) => void deleteSilence(silence, buttonOf(event), () => ctx.go('#/silences')),
          })
        : null,
    ),
    readOnlyHint('changing silences'),
  );

  const body = () => {
    // Rows left completely empty are dropped, as long as one remains.
    for (const row of [...rows.children]) {
      const [name, , value] = [...row.querySelectorAll('input, select')] as HTMLInputElement[];
      if (rows.children.length > 1 && !name?.value.trim() && !value?.value) row.remove();
    }
    renumber();
    const values = new FormData(form);
    return {
      matchers: readMatchers(),
      startsAt: fromLocalInput(startsInput.value),
      endsAt: fromLocalInput(endsInput.value),
      createdBy: String(values.get('createdBy') ?? '').trim(),
      comment: String(values.get('comment') ?? '').trim(),
    };
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(
      submit,
      async () => {
        await settled();
        const payload = body();
        const saved = id ? await api.put<Silence>(`/silences/${id}`, payload) : await api.post<Silence>('/silences', payload);
        if (payload.createdBy) sessionStorage.setItem(AUTHOR, payload.createdBy);
        toast(id ? 'Silence saved.' : `Silence ${saved.id} created.`);
        ctx.go(`#/silences/${saved.id}`);
      },
      form,
    );
  });
  async function expireNow(button: HTMLButtonElement) {
    await busy(
      button,
      async () => {
        await api.put(`/silences/${id}`, { ...body(), endsAt: new Date().toISOString() });
        toast('Silence expired.');
        await ctx.reload();
      },
      form,
    );
  }
  if (!session.canEdit) disableAll(form);

  // Live preview: which firing groups the matchers select, computed here like the server does.
  const previewList = h('div', {});
  const preview = () => {
    const matchers = readMatchers().filter((m) => m.name);
    if (matchers.length === 0) return previewList.replaceChildren(empty('No matchers yet', 'Add a matcher to see what it would silence.'));
    let hits: AlertGroup[];
    try {
      hits = firing.items.filter((g) => matchers.every((m) => matcherHolds(m, g.labels)));
    } catch (error) {
      return previewList.replaceChildren(h('p', { class: 'hint' }, `Cannot preview: ${error instanceof Error ? error.message : String(error)}`));
    }
    previewList.replaceChildren(
      ...nodes(
        h(
          'p',
          { 'aria-live': 'polite' },
          `${hits.length} of ${firing.items.length} firing group${firing.items.length === 1 ? '' : 's'} match${firing.total > firing.items.length ? ` (the newest ${firing.items.length} of ${firing.total} were checked)` : ''}.`,
        ),
        hits.length
          ? h(
              'ul',
              {},
              hits.slice(0, 25).map((g) => h('li', {}, h('a', { href: `#/alerts/${g.id}` }, g.name), g.instance ? ` (${g.instance})` : '')),
            )
          : null,
      ),
    );
  };
  let timer = 0;
  rows.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(preview, 150);
  });
  rows.addEventListener('change', preview);
  preview();

  const aside = h(
    'aside',
    { class: 'stack', 'aria-label': 'Matching alert groups' },
    current && silence
      ? h(
          'section',
          { class: 'panel', 'aria-labelledby': 'silencing-now' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'silencing-now' }, 'Silencing now'), badge(silence.state)),
          table({
            caption: 'Groups this silence mutes now',
            columns: groupColumns({ compact: true }).slice(0, 3),
            rows: current.items,
            emptyTitle: 'No firing group is silenced by it now',
          }),
        )
      : null,
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'would-match' },
      h('h2', { id: 'would-match' }, id ? 'Preview of your edits' : 'Would silence'),
      previewList,
    ),
  );

  return [
    ...pageHead(id ? `Silence ${id}` : 'New silence', {
      crumbs: [{ label: 'Silences', href: '#/silences' }, { label: id ? `#${id}` : 'new' }],
      lede: silence
        ? `Created by ${silence.createdBy} on ${localTime(silence.createdAt)}, last changed ${localTime(silence.updatedAt)}.`
        : group
          ? `Prefilled from alert group ${group.name}: remove the labels that should not count.`
          : null,
      actions: silence ? badge(silence.state) : null,
    }),
    h('div', { class: 'grid-form' }, form, aside),
  ];
}
