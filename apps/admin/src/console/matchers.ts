// Matchers in the console (silences, inhibition rules): chips that show them, and the editable
// rows (label, operator, value) that take them, Alertmanager's syntax included.

import { api } from './api';
import { h, uid } from './dom';
import type { SilenceMatcher } from './types';

type Flags = { isEqual: boolean; isRegex: boolean };
/** A matcher row's inputs: label name, operator, value. */
type RowInputs = [HTMLInputElement, HTMLSelectElement, HTMLInputElement];
const inputsOf = (row: Element) => [...row.querySelectorAll('input, select')] as unknown as RowInputs;

const OPERATORS: [string, string, Flags][] = [
  ['=', 'equals', { isEqual: true, isRegex: false }],
  ['!=', 'differs', { isEqual: false, isRegex: false }],
  ['=~', 'regex', { isEqual: true, isRegex: true }],
  ['!~', 'not regex', { isEqual: false, isRegex: true }],
];
export const operatorOf = (m: Flags) => (m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=');
export const EMPTY_MATCHER: SilenceMatcher = { name: '', value: '', isEqual: true, isRegex: false };

export function matcherChips(matchers: readonly SilenceMatcher[]) {
  return h(
    'span',
    { class: 'chips' },
    matchers.map((m) => h('span', { class: 'chip' }, m.name, h('span', { class: 'op' }, operatorOf(m)), JSON.stringify(m.value))),
  );
}

/** Characters no label name holds: a name field with one of them holds matchers in Alertmanager's syntax. */
const MATCHER_SYNTAX = /[={}~!"]/;

/**
 * Alertmanager's matcher syntax in a matcher row's label field: `{alertname="X", instance=~"h.*"}`
 * or a bare `a=b`, typed or pasted, is parsed by the admin (`POST /api/v1/matchers/parse`, the
 * parser that /api/v2 and amtool use; the console has no parser of its own) and becomes one row
 * per matcher, the first in place of the row it was typed into. `settled()` resolves once every
 * text given so far is parsed (a submit waits for it); a text that does not parse leaves the row
 * as typed, with the parser's message under it.
 */
export function matcherSyntax() {
  let pending: Promise<void> = Promise.resolve();
  return {
    settled: () => pending,
    /** `fill(matchers)` puts parsed matchers in place of `row`. */
    watch(nameInput: HTMLInputElement, row: HTMLElement, fill: (matchers: SilenceMatcher[]) => void) {
      nameInput.addEventListener('change', () => {
        const text = nameInput.value.trim();
        if (!MATCHER_SYNTAX.test(text)) return;
        pending = pending.then(async () => {
          row.querySelector('.matcher-syntax-error')?.remove();
          nameInput.removeAttribute('aria-invalid');
          try {
            const { matchers } = await api.post<{ matchers: SilenceMatcher[] }>('/matchers/parse', { text });
            fill(matchers);
          } catch (error) {
            nameInput.setAttribute('aria-invalid', 'true');
            row.append(h('p', { class: 'field-error matcher-syntax-error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
          }
        });
      });
    },
  };
}

/** Sets a matcher row's three inputs. */
export function setMatcherRow(row: Element, m: SilenceMatcher) {
  const [name, op, value] = inputsOf(row);
  name.value = m.name;
  op.value = operatorOf(m);
  value.value = m.value;
}

/** A matcher row's three inputs, in the API's shape. */
function readMatcherRow(row: Element): SilenceMatcher {
  const [name, op, value] = inputsOf(row);
  const flags = OPERATORS.find(([sym]) => sym === op.value)?.[2] ?? { isEqual: true, isRegex: false };
  return { name: name.value.trim(), value: value.value, ...flags };
}

/**
 * Editable matcher rows: `rows` (the container, one `.matcher-row` per matcher), `addRow(m)`,
 * `addButton` (+ Add matcher), `renumber()`, `read()` (every row, in the API's shape) and
 * `settled()` (the Alertmanager-syntax texts given so far are parsed). `path` is the API field
 * the rows fill (their `data-path` is `${path}.${i}.name`), `label` starts their accessible
 * names (`${label} ${i + 1} label name`), `idPrefix` their ids; `onChange` runs after a row is
 * removed or a typed text became rows; with `focusAfterRemove`, a removed row's neighbour (or
 * the add button) takes the focus.
 */
export function matcherRows({
  path,
  label,
  idPrefix,
  addButtonId,
  rowsAttrs = {},
  onChange = () => undefined,
  focusAfterRemove = false,
}: {
  path: string;
  label: string;
  idPrefix: string;
  addButtonId?: string;
  rowsAttrs?: Record<string, unknown>;
  onChange?: () => void;
  focusAfterRemove?: boolean;
}) {
  const rows = h('div', rowsAttrs);
  const syntax = matcherSyntax();
  const renumber = () => {
    [...rows.children].forEach((row, i) => {
      const [name, op, value] = inputsOf(row);
      name.dataset['path'] = `${path}.${i}.name`;
      value.dataset['path'] = `${path}.${i}.value`;
      name.setAttribute('aria-label', `${label} ${i + 1} label name`);
      op.setAttribute('aria-label', `${label} ${i + 1} operator`);
      value.setAttribute('aria-label', `${label} ${i + 1} value`);
    });
  };
  const addRow = (m: SilenceMatcher): HTMLElement => {
    const rowId = uid(idPrefix);
    const name = h('input', {
      type: 'text',
      id: `${rowId}-name`,
      class: 'code',
      value: m.name,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'alertname, or {alertname="X", …}',
    });
    const op = h(
      'select',
      { id: `${rowId}-op` },
      OPERATORS.map(([sym, text]) => h('option', { value: sym, selected: sym === operatorOf(m) }, `${sym}  ${text}`)),
    );
    const value = h('input', { type: 'text', id: `${rowId}-value`, class: 'code', value: m.value, autocomplete: 'off', spellcheck: 'false' });
    const remove = h('button', { type: 'button', class: 'btn btn-quiet', 'aria-label': 'Remove this matcher' }, 'Remove');
    const row = h(
      'div',
      { class: 'matcher-row' },
      h('div', { class: 'field' }, name),
      h('div', { class: 'field' }, op),
      h('div', { class: 'field' }, value),
      remove,
    );
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      renumber();
      onChange();
      if (focusAfterRemove) (next?.querySelector('input') ?? addButton).focus();
    });
    // Alertmanager's syntax typed into the label field becomes one row per matcher.
    syntax.watch(name, row, (matchers) => {
      let last: HTMLElement = row;
      matchers.forEach((parsed, i) => {
        if (i === 0) return setMatcherRow(row, parsed);
        const next = addRow(parsed);
        last.after(next);
        last = next;
      });
      renumber();
      onChange();
    });
    rows.append(row);
    renumber();
    return row;
  };
  const addButton = h('button', { type: 'button', class: 'btn btn-small', 'data-path': path, id: addButtonId }, '+ Add matcher');
  addButton.addEventListener('click', () => addRow(EMPTY_MATCHER).querySelector('input')?.focus());
  const read = () => [...rows.children].map(readMatcherRow);
  return { rows, addRow, addButton, renumber, read, settled: syntax.settled };
}
