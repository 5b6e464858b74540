// Inhibition rules (Alertmanager's inhibit_rules): list, create and edit (source and target
// matchers =, !=, =~, !~, the labels that must be equal), delete.

import { api, session } from './api';
import { actionButton, busy, buttonOf, confirmDialog, disableAll, field, h, localTime, pageHead, readOnlyHint, table, toast, type Column } from './dom';
import { EMPTY_MATCHER, matcherChips, matcherRows } from './matchers';
import type { InhibitRule, Items, PageContext, SilenceMatcher } from './types';

const describe = (rule: Pick<InhibitRule, 'name' | 'id'>) => rule.name ?? `inhibit rule ${rule.id}`;

// ---- list ----
export async function inhibitRuleList(ctx: PageContext) {
  ctx.title('Inhibition rules');
  const { items } = await api.get<Items<InhibitRule>>('/inhibit-rules');
  const columns: Column<InhibitRule>[] = [
    { label: 'Name', cell: (r) => h('a', { href: `#/inhibit-rules/${r.id}` }, describe(r)) },
    { label: 'While firing', cell: (r) => matcherChips(r.sourceMatchers) },
    { label: 'Holds back', cell: (r) => matcherChips(r.targetMatchers) },
    { label: 'Equal labels', cell: (r) => (r.equal.length ? h('span', { class: 'code' }, r.equal.join(', ')) : h('span', { class: 'hint' }, 'none')) },
    { label: 'Comment', class: 'text-cell', cell: (r) => h('div', { class: 'clip' }, r.comment) },
    {
      label: 'Actions',
      class: 'actions-cell',
      cell: (r) => [
        h('a', { class: 'btn btn-small', href: `#/inhibit-rules/${r.id}` }, session.canEdit ? 'Edit' : 'View'),
        actionButton('Delete', { class: 'btn btn-small btn-danger', onclick: (event: Event) => void deleteRule(r, buttonOf(event), ctx.reload) }),
      ],
    },
  ];
  return [
    ...pageHead('Inhibition rules', {
      lede: 'While an alert matching the source matchers fires, alerts matching the target matchers with the same values of the equal labels are not notified; their notifications say "inhibited" and name the source.',
      actions: session.canEdit ? h('a', { class: 'btn btn-primary', href: '#/inhibit-rules/new' }, 'New inhibition rule') : null,
    }),
    readOnlyHint('creating or changing inhibition rules'),
    h(
      'section',
      { class: 'panel', 'aria-label': 'Inhibition rules' },
      table({ caption: 'Inhibition rules', columns, rows: items, emptyTitle: 'No inhibition rules', emptyText: 'Every matching alert is notified.' }),
    ),
  ];
}

async function deleteRule(rule: InhibitRule, button: HTMLButtonElement, after: () => unknown) {
  const sure = await confirmDialog({
    title: `Delete ${describe(rule)}?`,
    text: 'The alerts it holds back are notified again from their next change on.',
    confirmLabel: 'Delete inhibition rule',
  });
  if (!sure) return;
  await busy(button, async () => {
    await api.del(`/inhibit-rules/${rule.id}`);
    toast('Inhibition rule deleted.');
    after();
  });
}

/** An editable list of matchers; `read()` gives them in the API's shape. */
function matcherEditor(side: 'source' | 'target', initial: SilenceMatcher[]) {
  const {
    rows,
    addRow,
    addButton,
    read: readRows,
    settled,
  } = matcherRows({
    path: `${side}Matchers`,
    label: `${side} matcher`,
    idPrefix: side,
    addButtonId: `add-${side}-matcher`,
    rowsAttrs: { id: `${side}-matchers` },
  });
  for (const matcher of initial.length ? initial : [EMPTY_MATCHER]) addRow(matcher);
  const read = () => readRows().filter((m, _i, all) => all.length === 1 || m.name || m.value);
  const view = h(
    'div',
    {},
    h('div', { class: 'row-head', 'aria-hidden': 'true' }, h('span', {}, 'Label'), h('span', {}, 'Operator'), h('span', {}, 'Value'), h('span', {})),
    rows,
    h('div', { class: 'field' }, addButton),
  );
  return { view, read, settled };
}

// ---- create / edit ----
export async function inhibitRuleForm(ctx: PageContext) {
  const id = ctx.params[0] ? Number(ctx.params[0]) : null;
  const rule = id ? await api.get<InhibitRule>(`/inhibit-rules/${id}`) : null;
  ctx.title(rule ? describe(rule) : 'New inhibition rule');
  const initial = rule ?? { name: null, sourceMatchers: [], targetMatchers: [], equal: [], comment: '' };

  const source = matcherEditor('source', initial.sourceMatchers);
  const target = matcherEditor('target', initial.targetMatchers);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'inhibit-submit' }, id ? 'Save changes' : 'Create inhibition rule');
  const form = h(
    'form',
    { class: 'panel', 'aria-label': id ? 'Edit inhibition rule' : 'New inhibition rule', novalidate: true },
    field({ label: 'Name', name: 'name', value: initial.name ?? '', id: 'inhibit-name', optional: true, hint: 'Optional; unique when given.' }),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Source: while an alert matching these fires'),
      h(
        'p',
        { class: 'hint' },
        'A label field also takes matchers as Alertmanager writes them, {alertname="X", instance=~"h.*"} or severity=critical, and splits them into rows.',
      ),
      source.view,
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Target: alerts matching these are held back'),
      h('p', { class: 'hint' }, 'An alert that matches both sides never holds itself back.'),
      target.view,
    ),
    field({
      label: 'Equal labels',
      name: 'equal',
      value: initial.equal.join(', '),
      id: 'inhibit-equal',
      hint: 'Comma-separated label names whose values source and target must share (a missing label counts as empty).',
      attrs: { class: 'code', spellcheck: 'false' },
    }),
    field({ label: 'Comment', name: 'comment', kind: 'textarea', value: initial.comment, id: 'inhibit-comment', attrs: { rows: 3 } }),
    h(
      'div',
      { class: 'form-actions' },
      submit,
      h('a', { class: 'btn btn-quiet', href: '#/inhibit-rules' }, 'Cancel'),
      rule
        ? actionButton('Delete', {
            class: 'btn btn-danger',
            id: 'inhibit-delete',
            onclick: (event: Event) => void deleteRule(rule, buttonOf(event), () => ctx.go('#/inhibit-rules')),
          })
        : null,
    ),
    readOnlyHint('changing inhibition rules'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(
      submit,
      async () => {
        await Promise.all([source.settled(), target.settled()]);
        const values = new FormData(form);
        const name = String(values.get('name') ?? '').trim();
        const payload = {
          name: name || null,
          sourceMatchers: source.read(),
          targetMatchers: target.read(),
          equal: String(values.get('equal') ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          comment: String(values.get('comment') ?? '').trim(),
        };
        const saved = id ? await api.put<InhibitRule>(`/inhibit-rules/${id}`, payload) : await api.post<InhibitRule>('/inhibit-rules', payload);
        toast(id ? 'Inhibition rule saved.' : `Inhibition rule ${saved.id} created.`);
        ctx.go(`#/inhibit-rules/${saved.id}`);
      },
      form,
    );
  });
  if (!session.canEdit) disableAll(form);

  return [
    ...pageHead(rule ? describe(rule) : 'New inhibition rule', {
      crumbs: [{ label: 'Inhibition rules', href: '#/inhibit-rules' }, { label: id ? `#${id}` : 'new' }],
      lede: rule ? `Created by ${rule.createdBy} on ${localTime(rule.createdAt)}, last changed ${localTime(rule.updatedAt)}.` : null,
    }),
    form,
  ];
}
