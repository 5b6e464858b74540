// Slack, email and webhook rules: list, create/edit form with a template preview against a real
// alert group, delete with confirmation, and the Slack, email and webhook test buttons. A webhook rule
// picks a receiver of the receivers file (GET /receivers) and a preset that fills its body.

import { api, session } from './api';
import { groupOptions } from './alerts';
import {
  actionButton,
  badge,
  busy,
  confirmDialog,
  empty,
  field,
  h,
  pageHead,
  readOnlyHint,
  table,
  toast,
  uid,
  when,
  buttonOf,
  controls,
  disableAll,
  selectIn,
  type Child,
  type Column,
} from './dom';
import type { AlertGroup, Explain, GroupPreview, Items, MatchCriteria, PageContext, Preview, Receivers, Rule, WebhookTest } from './types';

export type RuleKind = 'slack' | 'email' | 'webhook';

/** Every field a rule of any kind may have: the form reads and writes those of its kind. */
interface RuleDraft {
  name: string;
  isActive: boolean;
  priority: number;
  matchCriteria: MatchCriteria;
  sendResolved: boolean;
  continue: boolean;
  repeatInterval: string | null;
  escalateTo: number | null;
  escalateAfter: string | null;
  groupBy: string[] | null;
  groupWait: string | null;
  groupInterval: string | null;
  slackChannel?: string | null;
  messageTemplate?: string;
  resolvedMessageTemplate?: string | null;
  recipients?: string[];
  subjectTemplate?: string;
  bodyTemplate?: string | null;
  receiver?: string;
  preset?: string | null;
}

interface KindInfo {
  path: string;
  title: string;
  one: string;
  lede: string;
  target: (r: RuleDraft) => Child;
  targetLabel: string;
}

type TestResult = WebhookTest | { emailId: number; recipients: string[]; subject: string } | { channel: string; text: string; delivered: 'slack' | 'sink' };
type Criterion = MatchCriteria[string];

const KINDS: Record<RuleKind, KindInfo> = {
  slack: {
    path: 'slack-rules',
    title: 'Slack rules',
    one: 'Slack rule',
    lede: 'For each alert, the active rule with the highest priority whose criteria all match picks the channel and the message. Without a rule channel, the alert’s channel label or the default channel is used.',
    target: (r) => (r.slackChannel ? h('code', {}, r.slackChannel) : h('span', { class: 'hint' }, 'channel label or default')),
    targetLabel: 'Channel',
  },
  email: {
    path: 'email-rules',
    title: 'Email rules',
    one: 'email rule',
    lede: 'For each alert, the active rule with the highest priority whose criteria all match sends an email to its recipients through the email queue.',
    target: (r) => (r.recipients ?? []).join(', '),
    targetLabel: 'Recipients',
  },
  webhook: {
    path: 'webhook-rules',
    title: 'Webhook rules',
    one: 'webhook rule',
    lede: 'For each alert, the active rule with the highest priority whose criteria all match posts its JSON body to its receiver. Receivers are named in the webhook-notifier’s receivers file, never typed here.',
    target: (r) => [h('code', {}, r.receiver), ' ', h('span', { class: 'hint' }, r.bodyTemplate === null ? `${r.preset} preset` : 'own body')],
    targetLabel: 'Receiver',
  },
};

/**
 * The rule kinds with a test button: a Slack message or webhook body posted to the real receiver,
 * or a test email put in the email queue for the email-notifier to send.
 */
const TESTABLE = new Set<RuleKind>(['slack', 'email', 'webhook']);

function testOutcome(rule: Rule, result: TestResult) {
  if ('receiver' in result) return `Test body for ${rule.name} posted to receiver ${result.receiver}: it answered ${result.status}.`;
  if ('emailId' in result)
    return `Test email for ${rule.name} queued as email ${result.emailId} to ${result.recipients.join(', ')}: the email-notifier sends it (see the email queue).`;
  const where = result.delivered === 'sink' ? 'the Slack sink (the log: no Slack endpoint is configured)' : 'Slack';
  return `Test message for ${rule.name} sent to ${result.channel} via ${where}.`;
}

const CRITERION_OPS: [string, string][] = [
  ['eq', '= equals'],
  ['not', '!= differs'],
  ['regex', '=~ regex'],
  ['notRegex', '!~ not regex'],
];

function criterionText(value: Criterion): [string, string] {
  if (typeof value === 'string') return ['=', value];
  if ('regex' in value) return ['=~', value.regex];
  if ('not' in value) return ['!=', value.not];
  return ['!~', value.notRegex];
}

export function criteriaChips(criteria: MatchCriteria | null | undefined) {
  const entries = Object.entries(criteria ?? {});
  if (entries.length === 0) return h('span', { class: 'hint' }, 'every alert');
  return h(
    'span',
    { class: 'chips' },
    entries.map(([name, value]) => {
      const [op, text] = criterionText(value);
      return h('span', { class: 'chip' }, name, h('span', { class: 'op' }, op), JSON.stringify(text));
    }),
  );
}

// ---- list ----
export function ruleList(kind: RuleKind) {
  const k = KINDS[kind];
  return async (ctx: PageContext) => {
    ctx.title(k.title);
    const { items } = await api.get<Items<Rule>>(`/${k.path}`);
    const columns: Column<Rule>[] = [
      { label: 'Priority', class: 'num', cell: (r) => String(r.priority) },
      { label: 'Name', cell: (r) => h('a', { href: `#/${k.path}/${r.id}` }, r.name) },
      { label: 'Active', cell: (r) => (r.isActive ? badge('active') : badge('inactive')) },
      { label: 'Matches', cell: (r) => criteriaChips(r.matchCriteria) },
      { label: k.targetLabel, cell: k.target },
      { label: 'Resolved', cell: (r) => (r.sendResolved ? 'sent' : h('span', { class: 'hint' }, 'not sent')) },
      { label: 'Then', cell: (r) => (r.continue ? 'continue' : h('span', { class: 'hint' }, 'stop')) },
      { label: 'Repeats', cell: (r) => (r.repeatInterval ? `every ${r.repeatInterval}` : h('span', { class: 'hint' }, 'never')) },
      { label: 'Updated', class: 'nowrap', cell: (r) => when(r.updatedAt) },
      {
        label: 'Actions',
        class: 'actions-cell',
        cell: (r) => [
          h(
            'a',
            { class: 'btn btn-small', href: `#/${k.path}/${r.id}`, 'aria-label': `${session.canEdit ? 'Edit' : 'View'} ${r.name}` },
            session.canEdit ? 'Edit' : 'View',
          ),
          TESTABLE.has(kind)
            ? actionButton('Test', {
                class: 'btn btn-small',
                'aria-label': `Send a test ${kind === 'email' ? 'email' : 'message'} for ${r.name}`,
                onclick: (event: Event) => void testRule(kind, r, null, buttonOf(event)),
              })
            : null,
          actionButton('Delete', {
            class: 'btn btn-small btn-danger',
            'aria-label': `Delete ${r.name}`,
            onclick: (event: Event) => void deleteRule(kind, r, buttonOf(event), ctx.reload),
          }),
        ],
      },
    ];
    return [
      ...pageHead(k.title, { lede: k.lede, actions: session.canEdit ? h('a', { class: 'btn btn-primary', href: `#/${k.path}/new` }, `New ${k.one}`) : null }),
      readOnlyHint(`changing ${k.title.toLowerCase()}`),
      h(
        'section',
        { class: 'panel', 'aria-label': k.title },
        table({
          caption: `${k.title}, highest priority first`,
          columns,
          rows: items,
          emptyTitle: `No ${k.title.toLowerCase()} yet`,
          emptyText:
            kind === 'webhook'
              ? 'Without rules, no webhook is posted.'
              : kind === 'slack'
                ? 'Without rules, no Slack message is sent.'
                : 'Without rules, no email is sent.',
        }),
      ),
    ];
  };
}

async function deleteRule(kind: RuleKind, rule: Rule, button: HTMLButtonElement, after: () => unknown) {
  const k = KINDS[kind];
  const sure = await confirmDialog({
    title: `Delete the ${k.one} “${rule.name}”?`,
    text: 'Alerts it routes fall through to the next matching rule (or the default). This cannot be undone.',
    confirmLabel: 'Delete rule',
  });
  if (!sure) return false;
  const done = await busy(button, async () => {
    await api.del(`/${k.path}/${rule.id}`);
    toast(`Rule “${rule.name}” deleted.`);
    after();
    return true;
  });
  return done === true;
}

async function testRule(kind: RuleKind, rule: Rule, groupId: number | null, button: HTMLButtonElement, out?: HTMLElement) {
  await busy(button, async () => {
    try {
      const result = await api.post<TestResult>(`/${KINDS[kind].path}/${rule.id}/test`, groupId ? { groupId } : {});
      const text = testOutcome(rule, result);
      toast(text);
      out?.replaceChildren(h('p', { class: 'result-line', role: 'status' }, text));
    } catch (error) {
      out?.replaceChildren(h('p', { class: 'field-error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
      throw error;
    }
  });
}

// ---- form ----
export function ruleForm(kind: RuleKind) {
  const k = KINDS[kind];
  return async (ctx: PageContext) => {
    const id = ctx.params[0] ? Number(ctx.params[0]) : null;
    const [rule, groups, siblings] = await Promise.all([id ? api.get<Rule>(`/${k.path}/${id}`) : null, groupOptions(), api.get<Items<Rule>>(`/${k.path}`)]);
    ctx.title(rule ? rule.name : `New ${k.one}`);
    // Every page lists the receivers (a webhook rule's form picks one): none for other kinds.
    const receivers: Receivers = kind === 'webhook' ? await api.get<Receivers>('/receivers') : { items: [], presets: [] };
    const r: RuleDraft = rule ?? {
      name: '',
      isActive: true,
      priority: 0,
      matchCriteria: {},
      sendResolved: true,
      continue: false,
      repeatInterval: null,
      escalateTo: null,
      escalateAfter: null,
      groupBy: null,
      groupWait: null,
      groupInterval: null,
      slackChannel: null,
      messageTemplate: '{{ status | upcase }}: {{ alert_group.name }} on {{ labels.instance }}: {{ summary }}',
      resolvedMessageTemplate: null,
      recipients: [],
      subjectTemplate: '[{{ alert_group.severity }}] {{ alert_group.name }} is {{ status }}',
      bodyTemplate: '{{ summary }}\n\n{{ description }}\n\nLabels: {% for l in labels %}{{ l[0] }}={{ l[1] }} {% endfor %}',
    };

    if (kind === 'webhook' && !rule) Object.assign(r, { receiver: receivers.items[0]?.name ?? '', preset: 'alertmanager', bodyTemplate: null });

    // Match criteria rows: label, operator, value.
    const rows = h('div', {});
    const inputsOf = (row: Element) => [...row.querySelectorAll('input, select')] as unknown as [HTMLInputElement, HTMLSelectElement, HTMLInputElement];
    const renumber = () => {
      for (const row of rows.children) {
        const [name, , value] = inputsOf(row);
        value.dataset['path'] = `matchCriteria.${name.value.trim()}`;
        name.dataset['path'] = `matchCriteria.${name.value.trim() || '(empty)'}.name`;
      }
    };
    const addRow = (name: string, criterion: Criterion) => {
      const rowId = uid('c');
      const op = typeof criterion === 'string' ? 'eq' : Object.keys(criterion)[0];
      const text = typeof criterion === 'string' ? criterion : Object.values(criterion)[0];
      const nameInput = h('input', {
        type: 'text',
        class: 'code',
        id: `${rowId}-name`,
        value: name,
        'aria-label': 'Label name',
        autocomplete: 'off',
        spellcheck: 'false',
      });
      const opSelect = h(
        'select',
        { id: `${rowId}-op`, 'aria-label': 'Condition' },
        CRITERION_OPS.map(([v, t]) => h('option', { value: v, selected: v === op }, t)),
      );
      const valueInput = h('input', {
        type: 'text',
        class: 'code',
        id: `${rowId}-value`,
        value: text,
        'aria-label': 'Value',
        autocomplete: 'off',
        spellcheck: 'false',
      });
      const remove = h('button', { type: 'button', class: 'btn btn-quiet', 'aria-label': 'Remove this criterion' }, 'Remove');
      const row = h(
        'div',
        { class: 'criterion-row' },
        h('div', { class: 'field' }, nameInput),
        h('div', { class: 'field' }, opSelect),
        h('div', { class: 'field' }, valueInput),
        remove,
      );
      nameInput.addEventListener('input', renumber);
      remove.addEventListener('click', () => {
        const next = row.nextElementSibling ?? row.previousElementSibling;
        row.remove();
        (next?.querySelector('input') ?? addCriterion).focus();
        markDirty();
      });
      rows.append(row);
      renumber();
      return row;
    };
    const addCriterion = h('button', { type: 'button', class: 'btn btn-small', 'data-path': 'matchCriteria', id: 'add-criterion' }, '+ Add criterion');
    addCriterion.addEventListener('click', () => addRow('', '').querySelector('input')?.focus());
    for (const [name, criterion] of Object.entries(r.matchCriteria)) addRow(name, criterion);
    const readCriteria = () => {
      const criteria: Record<string, string | Record<string, string>> = {};
      for (const row of rows.children) {
        const [name, op, value] = inputsOf(row);
        const label = name.value.trim();
        if (!label && !value.value) continue;
        criteria[label] = op.value === 'eq' ? value.value : { [op.value]: value.value };
      }
      return criteria as MatchCriteria;
    };

    const templateHelp = h(
      'details',
      { class: 'hint' },
      h('summary', {}, 'Template variables (Liquid)'),
      h(
        'p',
        {},
        h('code', {}, 'alert_group'),
        ' (name, severity, instance, fingerprint, firing_count, status, silenced, acknowledged, labels), ',
        h('code', {}, 'latest_instance'),
        ' (starts_at, ends_at, annotations, generator_url), ',
        h('code', {}, 'labels'),
        ', ',
        h('code', {}, 'annotations'),
        ', ',
        h('code', {}, 'summary'),
        ', ',
        h('code', {}, 'description'),
        ', ',
        h('code', {}, 'status'),
        '. Example: ',
        h('code', {}, '{{ labels.instance | upcase }}'),
        '.',
      ),
    );

    const specific =
      kind === 'webhook'
        ? webhookFields(r, receivers)
        : kind === 'slack'
          ? [
              field({
                label: 'Channel',
                name: 'slackChannel',
                value: r.slackChannel ?? '',
                optional: true,
                id: 'rule-channel',
                hint: 'e.g. #storage. Empty: the alert’s channel label, else the default channel.',
                attrs: { class: 'code', autocomplete: 'off' },
              }),
              field({
                label: 'Message template',
                name: 'messageTemplate',
                kind: 'textarea',
                value: r.messageTemplate ?? '',
                id: 'rule-message',
                attrs: { class: 'code', rows: 4, spellcheck: 'false' },
              }),
              field({
                label: 'Resolved message template',
                name: 'resolvedMessageTemplate',
                kind: 'textarea',
                value: r.resolvedMessageTemplate ?? '',
                optional: true,
                id: 'rule-resolved-message',
                hint: 'Empty: the message template is used for resolutions too.',
                attrs: { class: 'code', rows: 3, spellcheck: 'false' },
              }),
            ]
          : [
              field({
                label: 'Recipients',
                name: 'recipients',
                kind: 'textarea',
                value: (r.recipients ?? []).join('\n'),
                id: 'rule-recipients',
                hint: 'One address per line (or separated by commas).',
                attrs: { class: 'code', rows: 3, spellcheck: 'false' },
              }),
              field({
                label: 'Subject template',
                name: 'subjectTemplate',
                value: r.subjectTemplate ?? '',
                id: 'rule-subject',
                attrs: { class: 'code', spellcheck: 'false' },
              }),
              field({
                label: 'Body template',
                name: 'bodyTemplate',
                kind: 'textarea',
                value: r.bodyTemplate ?? '',
                id: 'rule-body',
                attrs: { class: 'code', rows: 6, spellcheck: 'false' },
              }),
            ];

    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'rule-submit' }, id ? 'Save changes' : 'Create rule');
    const form = h(
      'form',
      { class: 'panel', 'aria-label': id ? `Edit ${k.one}` : `New ${k.one}`, novalidate: true },
      h(
        'div',
        { class: 'row' },
        field({ label: 'Name', name: 'name', value: r.name, id: 'rule-name', attrs: { autocomplete: 'off' } }),
        field({
          label: 'Priority',
          name: 'priority',
          type: 'number',
          value: String(r.priority),
          id: 'rule-priority',
          wrapClass: 'narrow',
          hint: 'Tried highest first.',
          attrs: { step: '1' },
        }),
      ),
      h(
        'div',
        { class: 'row' },
        field({ label: 'Active', name: 'isActive', kind: 'checkbox', value: r.isActive, id: 'rule-active' }),
        field({ label: 'Send resolved messages', name: 'sendResolved', kind: 'checkbox', value: r.sendResolved, id: 'rule-send-resolved' }),
        field({
          label: 'Continue',
          name: 'continue',
          kind: 'checkbox',
          value: Boolean(r.continue),
          id: 'rule-continue',
          hint: 'Also try the rules after this one: the next matching rule notifies too.',
        }),
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Match criteria'),
        h('p', { class: 'hint' }, 'Every criterion must hold. No criteria: the rule matches every alert. Regexes match the whole value.'),
        rows,
        h('div', { class: 'field' }, addCriterion),
      ),
      h(
        'fieldset',
        {},
        h('legend', {}, 'Grouping, repeats and escalation'),
        h(
          'div',
          { class: 'row' },
          field({
            label: 'Group by',
            name: 'groupBy',
            value: (r.groupBy ?? []).join(', '),
            id: 'rule-group-by',
            optional: true,
            hint: 'Label names, comma separated: one message per group of alerts with the same values (Alertmanager’s group_by). Empty: one message per alert.',
            attrs: { autocomplete: 'off', spellcheck: 'false' },
          }),
          field({
            label: 'Group wait',
            name: 'groupWait',
            value: r.groupWait ?? '',
            id: 'rule-group-wait',
            optional: true,
            wrapClass: 'narrow',
            hint: 'Before a new group’s first message (default 0s).',
            attrs: { autocomplete: 'off', spellcheck: 'false' },
          }),
          field({
            label: 'Group interval',
            name: 'groupInterval',
            value: r.groupInterval ?? '',
            id: 'rule-group-interval',
            optional: true,
            wrapClass: 'narrow',
            hint: 'Between a group’s messages (default 5m).',
            attrs: { autocomplete: 'off', spellcheck: 'false' },
          }),
        ),
        h(
          'div',
          { class: 'row' },
          field({
            label: 'Repeat every',
            name: 'repeatInterval',
            value: r.repeatInterval ?? '',
            id: 'rule-repeat-interval',
            optional: true,
            wrapClass: 'narrow',
            hint: 'Tell a still-firing, unacknowledged, unsilenced alert again at this interval (30s, 5m, 4h, 1h30m). Empty: never. Acknowledging stops it.',
            attrs: { autocomplete: 'off', spellcheck: 'false' },
          }),
          field({
            label: 'Escalate to',
            name: 'escalateTo',
            kind: 'select',
            value: r.escalateTo === null ? '' : String(r.escalateTo),
            id: 'rule-escalate-to',
            optional: true,
            options: [
              ['', 'No escalation'],
              ...siblings.items.filter((other) => other.id !== id).map((other): [string, string] => [String(other.id), other.name]),
            ],
            hint: 'If the alert still fires unacknowledged after the delay, this rule’s receiver is told too, once.',
          }),
          field({
            label: 'after',
            name: 'escalateAfter',
            value: r.escalateAfter ?? '',
            id: 'rule-escalate-after',
            optional: true,
            wrapClass: 'narrow',
            hint: 'A duration such as 30m; required with an escalation.',
            attrs: { autocomplete: 'off', spellcheck: 'false' },
          }),
        ),
      ),
      specific,
      templateHelp,
      h(
        'div',
        { class: 'form-actions' },
        submit,
        h('a', { class: 'btn btn-quiet', href: `#/${k.path}` }, id ? 'Back to the list' : 'Cancel'),
        rule
          ? actionButton('Delete', {
              class: 'btn btn-danger',
              id: 'rule-delete',
              onclick: (event: Event) => void deleteRule(kind, rule, buttonOf(event), () => ctx.go(`#/${k.path}`)),
            })
          : null,
      ),
      readOnlyHint(`changing ${k.title.toLowerCase()}`),
    );

    const readBody = () => {
      const v: Record<string, string> = {};
      const flags: Record<string, boolean> = {};
      for (const el of controls(form)) {
        if (!el.name) continue;
        if (el instanceof HTMLInputElement && el.type === 'checkbox') flags[el.name] = el.checked;
        else v[el.name] = el.value;
      }
      const text = (name: string) => v[name] ?? '';
      const common = {
        name: text('name').trim(),
        isActive: flags['isActive'] ?? false,
        priority: text('priority') === '' ? 0 : Number(text('priority')),
        matchCriteria: readCriteria(),
        sendResolved: flags['sendResolved'] ?? false,
        continue: flags['continue'] ?? false,
        repeatInterval: text('repeatInterval').trim() || null,
        escalateTo: text('escalateTo') ? Number(text('escalateTo')) : null,
        escalateAfter: text('escalateAfter').trim() || null,
        groupBy: text('groupBy').trim()
          ? text('groupBy')
              .split(',')
              .map((name) => name.trim())
              .filter(Boolean)
          : null,
        groupWait: text('groupWait').trim() || null,
        groupInterval: text('groupInterval').trim() || null,
      };
      if (kind === 'webhook') return { ...common, ...webhookBody(text, receivers) };
      if (kind === 'slack')
        return {
          ...common,
          slackChannel: text('slackChannel').trim() || null,
          messageTemplate: text('messageTemplate'),
          resolvedMessageTemplate: text('resolvedMessageTemplate').trim() ? text('resolvedMessageTemplate') : null,
        };
      return {
        ...common,
        recipients: text('recipients')
          .split(/[\n,;]/)
          .map((s) => s.trim())
          .filter(Boolean),
        subjectTemplate: text('subjectTemplate'),
        bodyTemplate: text('bodyTemplate'),
      };
    };
    const savedBody = rule ? JSON.stringify(readBody()) : null;

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      renumber();
      void busy(
        submit,
        async () => {
          const body = readBody();
          const saved = id ? await api.put<Rule>(`/${k.path}/${id}`, body) : await api.post<Rule>(`/${k.path}`, body);
          toast(id ? `Rule “${saved.name}” saved.` : `Rule “${saved.name}” created.`);
          if (id) await ctx.reload();
          else ctx.go(`#/${k.path}/${saved.id}`);
        },
        form,
      );
    });
    if (!session.canEdit) disableAll(form);

    // ---- preview ----
    const previewOut = h('div', { 'aria-live': 'polite', id: 'preview-output' });
    const dirtyNote = h(
      'p',
      { class: 'notice notice-warn', hidden: true },
      'You have unsaved changes: the preview shows the saved rule. Save to preview your edits.',
    );
    function markDirty() {
      if (savedBody) dirtyNote.hidden = JSON.stringify(readBody()) === savedBody;
    }
    form.addEventListener('input', markDirty);
    form.addEventListener('change', markDirty);

    const groupSelect = field({
      label: 'Alert group',
      name: 'groupId',
      kind: 'select',
      id: 'preview-group',
      value: String(Number(ctx.query.get('group')) || groups[0]?.id || ''),
      options: groups.map((g) => [String(g.id), `${g.name}${g.instance ? ` (${g.instance})` : ''} · ${g.status}`]),
    });
    const kindSelect = field({
      label: 'Message for',
      name: 'kind',
      kind: 'select',
      id: 'preview-kind',
      options: [
        ['', 'its current status'],
        ['firing', 'firing'],
        ['resolved', 'resolved'],
      ],
    });
    const testOut = h('div', {});
    const previewForm = h(
      'form',
      { class: 'panel', 'aria-labelledby': 'preview-title' },
      h('h2', { id: 'preview-title' }, 'Preview'),
      groups.length === 0
        ? empty('No alert groups yet', 'The preview renders the templates against a real alert group.')
        : [h('div', { class: 'row' }, groupSelect, kindSelect)],
      kind === 'webhook'
        ? h('p', { class: 'hint' }, 'The body of the form as it is now, with the receiver’s parameters as placeholders.')
        : rule
          ? dirtyNote
          : h(
              'p',
              { class: 'notice notice-info' },
              'Save the rule to preview its own templates. Until then, this shows what the saved rules send for the chosen group.',
            ),
      previewOut,
      rule && TESTABLE.has(kind) && groups.length
        ? h(
            'div',
            { class: 'form-actions' },
            actionButton(kind === 'email' ? 'Send test email' : 'Send test message', {
              id: 'rule-test',
              onclick: (event: Event) =>
                void testRule(kind, rule, Number(selectIn(groupSelect).value) || null, buttonOf(event), testOut).catch(() => undefined),
            }),
            readOnlyHint('sending a test'),
          )
        : null,
      testOut,
    );
    previewForm.addEventListener('submit', (event) => event.preventDefault());

    let previewRun = 0;
    async function runPreview() {
      if (groups.length === 0) return;
      const run = ++previewRun;
      const groupId = Number(selectIn(groupSelect).value);
      const previewKind = selectIn(kindSelect).value;
      const group = groups.find((g) => g.id === groupId);
      previewOut.replaceChildren(h('p', { class: 'loading' }, 'Rendering…'));
      try {
        const [result, why] = await Promise.all([
          kind === 'webhook'
            ? api.post<Preview>('/webhook-rules/preview', { rule: readBody(), groupId, ...(previewKind ? { kind: previewKind } : {}) })
            : rule
              ? api.post<Preview>(`/${k.path}/${rule.id}/preview`, { groupId, ...(previewKind ? { kind: previewKind } : {}) })
              : null,
          group && kind !== 'webhook' ? api.post<Explain>('/explain', { fingerprint: group.fingerprint }).catch(() => null) : null,
        ]);
        if (run !== previewRun) return;
        previewOut.replaceChildren(...(result ? previewView(kind, rule ?? readBody(), result, why) : currentRouting(kind, why)));
      } catch (error) {
        if (run !== previewRun) return;
        previewOut.replaceChildren(h('p', { class: 'field-error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
      }
    }
    groupSelect.addEventListener('change', () => void runPreview());
    kindSelect.addEventListener('change', () => void runPreview());
    // A webhook rule's preview follows the form (the draft preview checks it as a save would).
    if (kind === 'webhook') form.addEventListener('change', () => void runPreview());
    void runPreview();

    const grouped = rule?.groupBy?.length && groups.length ? groupedPreview(k, rule, groups, () => selectIn(kindSelect).value) : null;
    if (grouped) kindSelect.addEventListener('change', () => void grouped.run());

    return [
      ...pageHead(rule ? rule.name : `New ${k.one}`, {
        crumbs: [{ label: k.title, href: `#/${k.path}` }, { label: rule ? `#${rule.id}` : 'new' }],
        actions: rule
          ? [rule.isActive ? badge('active') : badge('inactive'), h('span', { class: 'hint' }, 'updated ', when(rule.updatedAt, { relative: false }))]
          : null,
      }),
      h('div', { class: 'grid-form' }, form, h('aside', { class: 'stack sticky', 'aria-label': 'Preview' }, previewForm, grouped?.panel)),
    ];
  };
}

/**
 * A grouped rule's preview (POST /<kind>-rules/{id}/group-preview): the alert groups ticked are
 * bucketed by the rule's groupBy, one message per bucket, as the notifier's group flush sends it.
 */
function groupedPreview(k: KindInfo, rule: Rule, groups: AlertGroup[], previewKind: () => string) {
  const out = h('div', { 'aria-live': 'polite', id: 'group-preview-output' });
  const boxes = groups
    .slice(0, 100)
    .map((g) =>
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'checkbox', name: 'groupIds', value: String(g.id), checked: true }),
        `${g.name}${g.instance ? ` (${g.instance})` : ''} · ${g.status}`,
      ),
    );
  const form = h(
    'form',
    { class: 'panel', 'aria-labelledby': 'group-preview-title' },
    h('h2', { id: 'group-preview-title' }, 'Grouped message'),
    h(
      'p',
      { class: 'hint' },
      `The saved rule groups by ${(rule.groupBy ?? []).join(', ')}: the alert groups ticked make one message per group, as the notifier sends it after groupWait.`,
    ),
    h('fieldset', { class: 'field' }, h('legend', {}, 'Alert groups in the message'), boxes),
    out,
  );
  form.addEventListener('submit', (event) => event.preventDefault());
  let runs = 0;
  async function run() {
    const run = ++runs;
    const groupIds = [...form.querySelectorAll<HTMLInputElement>('input[name="groupIds"]:checked')].map((box) => Number(box.value));
    if (groupIds.length === 0) {
      out.replaceChildren(h('p', { class: 'hint' }, 'Tick at least one alert group.'));
      return;
    }
    out.replaceChildren(h('p', { class: 'loading' }, 'Rendering…'));
    try {
      const kind = previewKind();
      const result = await api.post<GroupPreview>(`/${k.path}/${rule.id}/group-preview`, { groupIds, ...(kind ? { kind } : {}) });
      if (run !== runs) return;
      out.replaceChildren(
        ...result.messages.map((message) =>
          h(
            'div',
            { class: 'group-message' },
            message.failed
              ? h('div', { class: 'notice notice-danger', role: 'alert' }, h('p', {}, `The group template failed: ${message.error ?? 'unknown error'}.`))
              : null,
            h(
              'p',
              { class: 'hint' },
              `${
                Object.entries(message.groupLabels)
                  .map(([name, value]) => `${name}=${value}`)
                  .join(', ') || 'no group labels'
              } · ${message.groupIds.length} alert${message.groupIds.length === 1 ? '' : 's'}${message.channel ? ` · to ${message.channel}` : ''}:`,
            ),
            h(
              'pre',
              { class: k.path === 'slack-rules' ? 'output slack' : 'output' },
              message.subject === undefined
                ? k.path === 'webhook-rules'
                  ? prettyJson(message.text)
                  : message.text
                : [h('strong', {}, `Subject: ${message.subject}`), '\n\n', message.text],
            ),
          ),
        ),
      );
    } catch (error) {
      if (run !== runs) return;
      out.replaceChildren(h('p', { class: 'field-error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
    }
  }
  form.addEventListener('change', () => void run());
  void run();
  return { panel: form, run };
}

function previewView(kind: RuleKind, rule: RuleDraft & { id?: number }, result: Preview, why: Explain | null) {
  const parts: HTMLElement[] = [];
  if (result.failed)
    parts.push(
      h(
        'div',
        { class: 'notice notice-danger', role: 'alert' },
        h('p', {}, `The template failed to render: ${result.error ?? 'unknown error'}. This safe default would be sent instead:`),
      ),
    );
  if (kind === 'webhook') {
    parts.push(h('p', { class: 'hint' }, `POST to receiver ${result.channel}, ${result.kind} body:`));
    parts.push(h('pre', { class: 'output', id: 'preview-text' }, prettyJson(result.text)));
  } else if (kind === 'slack') {
    parts.push(h('p', { class: 'hint' }, `To ${result.channel ?? 'the default channel'}, ${result.kind} message:`));
    parts.push(h('pre', { class: 'output slack', id: 'preview-text' }, result.text));
  } else {
    parts.push(h('p', { class: 'hint' }, `${result.kind} email to ${(rule.recipients ?? []).join(', ')}:`));
    parts.push(h('pre', { class: 'output', id: 'preview-text' }, h('strong', {}, `Subject: ${result.subject ?? ''}`), '\n\n', result.text));
  }
  if (why && kind !== 'webhook') {
    const section = kind === 'slack' ? why.slack : why.email;
    const mine = section.rules.find((x) => x.id === rule.id);
    const line = !mine
      ? 'This rule is not in the explanation.'
      : mine.matched
        ? section.winner === rule.name
          ? 'This rule matches this group and wins: it is what would be sent.'
          : `This rule matches, but “${section.winner}” wins (higher priority).`
        : `This rule does not match this group (${mine.reason}). ${section.winner ? `“${section.winner}” wins.` : 'No rule matches.'}`;
    parts.push(h('p', { class: 'result-line hint' }, line, ' ', why.silenced ? badge('silenced now', 'silenced') : null));
  }
  return parts;
}

/** For an unsaved rule: what the saved rules do for the group today (POST /explain). */
function currentRouting(kind: RuleKind, why: Explain | null) {
  if (!why) return [h('p', { class: 'hint' }, 'No explanation available for this group.')];
  const section = kind === 'slack' ? why.slack : why.email;
  if (!section.winner)
    return [
      h(
        'p',
        { class: 'hint' },
        kind === 'slack' ? 'Today no Slack rule matches this group: no Slack message is sent.' : 'Today no email rule matches this group: no email is sent.',
      ),
    ];
  const to = kind === 'slack' ? why.slack.channel : why.email.recipients.join(', ');
  return [
    h('p', { class: 'hint' }, `Today “${section.winner}” handles this group${to ? `, to ${to}` : ''}:`),
    h('pre', { class: 'output slack' }, (kind === 'slack' ? why.slack.text : why.email.subject) ?? ''),
  ];
}

// ---- webhook rules ----

const prettyJson = (text: string) => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
};

/** The receiver select, the preset picker (it fills the body with the preset's template) and the body. */
function webhookFields(r: RuleDraft, receivers: Receivers) {
  const presetOf = (id: string | null | undefined) => receivers.presets.find((preset) => preset.id === id);
  const known = receivers.items.some((item) => item.name === r.receiver);
  const receiverField = field({
    label: 'Receiver',
    name: 'receiver',
    kind: 'select',
    value: r.receiver,
    id: 'rule-receiver',
    options: [
      ...(known || !r.receiver ? [] : [[r.receiver, `${r.receiver} (not configured)`] as [string, string]]),
      ...receivers.items.map((item): [string, string] => [item.name, `${item.name}${item.params.length ? ` · params ${item.params.join(', ')}` : ''}`]),
    ],
    hint: receivers.items.length
      ? 'A receiver of the webhook-notifier’s receivers file (see Receivers).'
      : 'No receivers are configured (WEBHOOK_RECEIVERS_FILE): a rule cannot be saved until one is.',
  });
  const presetField = field({
    label: 'Preset',
    name: 'preset',
    kind: 'select',
    value: r.preset ?? '',
    id: 'rule-preset',
    optional: true,
    options: [['', 'None: own body template'], ...receivers.presets.map((preset): [string, string] => [preset.id, preset.title])],
    hint: 'Choosing a preset fills the body with its template. Saved unchanged, the rule follows the preset; edited, it keeps your body.',
  });
  const bodyField = field({
    label: 'Body template (JSON)',
    name: 'bodyTemplate',
    kind: 'textarea',
    value: r.bodyTemplate ?? presetOf(r.preset)?.template ?? '',
    id: 'rule-webhook-body',
    hint: 'Liquid that must render JSON: use {{ value | json }} for strings. Also: alerts, group_labels, common_labels, common_annotations, receiver.params.<name>, dedup_key, external_url.',
    attrs: { class: 'code', rows: 14, spellcheck: 'false' },
  });
  const presetSelect = selectIn(presetField);
  const receiverSelect = selectIn(receiverField);
  const hintOut = h('p', { class: 'hint', id: 'rule-preset-hint' });
  const showHint = () => {
    const preset = presetOf(presetSelect.value);
    const receiver = receivers.items.find((item) => item.name === receiverSelect.value);
    const usable = !preset || !receiver || receiver.presets.includes(preset.id);
    hintOut.replaceChildren(
      preset
        ? `Receiver needs: ${preset.receiverHint}.${usable ? '' : ` Receiver ${receiver?.name ?? ''} lacks the parameters ${preset.requiredParams.join(', ')}.`}`
        : '',
    );
  };
  presetSelect.addEventListener('change', () => {
    const preset = presetOf(presetSelect.value);
    const body = bodyField.querySelector('textarea');
    if (preset && body) body.value = preset.template;
    showHint();
  });
  receiverSelect.addEventListener('change', showHint);
  showHint();
  return [h('div', { class: 'row' }, receiverField, presetField), hintOut, bodyField];
}

/** The webhook part of a rule body: the preset alone while the body is its template, else the body. */
function webhookBody(text: (name: string) => string, receivers: Receivers) {
  const preset = text('preset') || null;
  const template = receivers.presets.find((item) => item.id === preset)?.template;
  const body = text('bodyTemplate');
  const own = body.trim() === '' || (template !== undefined && body === template) ? null : body;
  return { receiver: text('receiver'), preset, bodyTemplate: own };
}
