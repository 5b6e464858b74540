// DOM helpers: every bit of API data goes in as text (never innerHTML), forms show the API's
// `{error, issues}` next to the fields they name, and a few widgets shared by the pages.

import { ApiError, session, type Issue } from './api';

/** What `h` puts in an element: nodes, text (numbers too), nested lists; null, undefined and false are left out. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];
/** An element's attributes: `on<event>` handlers, `value`, `checked`, `dataset`, the rest as attributes (true: present). */
export type Attrs = Record<string, unknown>;

/** h('a', {href, class, onclick}, 'text', child, [more]) */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener);
    else if (name === 'value') (el as HTMLInputElement).value = String(value);
    else if (name === 'checked') (el as HTMLInputElement).checked = Boolean(value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? '' : String(value as string | number));
  }
  append(el, children);
  return el;
}

/** The nodes of children (lists flattened, text as text nodes, null, undefined and false left out). */
export function nodes(...children: Child[]): Node[] {
  const fragment = document.createDocumentFragment();
  append(fragment, children);
  return [...fragment.childNodes];
}

function append(el: HTMLElement | DocumentFragment, children: readonly Child[]) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
export const uid = (prefix = 'f') => `${prefix}-${++ids}`;

// ---- time ----
const pad = (n: number) => String(n).padStart(2, '0');
/** 2026-11-26 09:00 in local time. */
export function localTime(iso: string, seconds = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${base}:${pad(d.getSeconds())}` : base;
}
export function ago(iso: string, now = Date.now()) {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86400 * 2 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}
/** <time> with local date and time, and how long ago underneath. */
export function when(iso: string | null | undefined, { relative = true } = {}) {
  if (!iso) return h('span', { class: 'hint' }, '—');
  return h('time', { datetime: iso, title: iso }, localTime(iso), relative ? h('span', { class: 'sub' }, ago(iso)) : null);
}
/** For <input type=datetime-local>: local time with seconds. */
export function toLocalInput(date: Date | string | number) {
  const d = date instanceof Date ? date : new Date(date);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
/** A datetime-local value to RFC 3339 (UTC), or '' when empty or invalid. */
export function fromLocalInput(value: string) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString();
}

// ---- small views ----
export function badge(text: string, tone: string = text) {
  return h('span', { class: `badge badge-${String(tone).toLowerCase()}` }, text);
}
/** Label entries in reading order: alertname first, then by name. */
export function sortedLabels(labels: Record<string, string> | null | undefined) {
  return Object.entries(labels ?? {}).sort(([a], [b]) => (a === 'alertname' ? -1 : b === 'alertname' ? 1 : a.localeCompare(b)));
}
export function labelChips(labels: Record<string, string> | null | undefined, { skip = [] as string[] } = {}) {
  const entries = sortedLabels(labels).filter(([name]) => !skip.includes(name));
  return h(
    'span',
    { class: 'chips' },
    entries.map(([name, value]) => h('span', { class: 'chip' }, `${name}=${value}`)),
  );
}
export function empty(title: string, text?: string) {
  return h('div', { class: 'empty' }, h('strong', {}, title), text ? h('span', {}, text) : null);
}
export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}
export function errorBox(error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  return h('div', { class: 'notice notice-danger', role: 'alert' }, h('p', {}, message));
}
/** "Read-only key" hint for viewer keys next to disabled actions. */
export function readOnlyHint(what = 'this') {
  return session.canEdit ? null : h('p', { class: 'readonly-hint' }, `Your key has the viewer role: ${what} needs an editor or admin key.`);
}

/** A column of `table`: its header, and the cell of a row. */
export interface Column<T> {
  label: string;
  cell: (row: T) => Child;
  class?: string;
}

/** A table: columns [{label, cell(row), class?}], rows; an empty state when there are none. */
export function table<T>({
  caption,
  columns,
  rows,
  emptyTitle = 'Nothing here',
  emptyText = '',
}: {
  caption?: string;
  columns: Column<T>[];
  rows: readonly T[];
  emptyTitle?: string;
  emptyText?: string;
}) {
  if (rows.length === 0) return empty(emptyTitle, emptyText);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((row) =>
          h(
            'tr',
            {},
            columns.map((c) => h('td', { class: c.class }, c.cell(row))),
          ),
        ),
      ),
    ),
  );
}

/** "1–50 of 123" and previous/next links; `hrefFor(page)` builds each link. */
export function pager({ page, pageSize, total }: { page: number; pageSize: number; total: number }, hrefFor: (page: number) => string) {
  if (total === 0) return null;
  const first = (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h('span', {}, first > total ? `page ${page} is past the end (${total} in all)` : `${first}–${last} of ${total}`),
    h('span', { class: 'spacer' }),
    pages === 1
      ? null
      : [
          page > 1
            ? h('a', { class: 'btn btn-small', href: hrefFor(page - 1), rel: 'prev' }, '← Previous')
            : h('span', { class: 'btn btn-small', 'aria-disabled': 'true' }, '← Previous'),
          h('span', {}, `Page ${page} of ${pages}`),
          page < pages
            ? h('a', { class: 'btn btn-small', href: hrefFor(page + 1), rel: 'next' }, 'Next →')
            : h('span', { class: 'btn btn-small', 'aria-disabled': 'true' }, 'Next →'),
        ],
  );
}

/** `#/path?query` from a path and params (empty ones dropped). */
export function href(path: string, params?: Record<string, unknown>) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) {
    for (const one of Array.isArray(value) ? (value as unknown[]) : [value])
      if (one !== undefined && one !== null && one !== '') search.append(name, String(one as string));
  }
  const text = search.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

// ---- form fields ----
/**
 * A labelled field. `path` names the API field (dotted, as in `issues[].path`) so that errors
 * land next to it. kind: input | textarea | select | checkbox.
 */
export interface FieldOptions {
  label: Child;
  name: string;
  path?: string;
  kind?: 'input' | 'textarea' | 'select' | 'checkbox';
  type?: string;
  value?: string | number | boolean | null | undefined;
  /** A select's options: [value, text]. */
  options?: readonly (readonly [string, string])[];
  hint?: Child;
  required?: boolean;
  optional?: boolean;
  attrs?: Attrs;
  id?: string;
  wrapClass?: string;
}

export function field({
  label,
  name,
  path = name,
  kind = 'input',
  type = 'text',
  value,
  options = [],
  hint,
  required,
  optional,
  attrs = {},
  id = uid(name),
  wrapClass = '',
}: FieldOptions) {
  const wrap = `field${wrapClass ? ` ${wrapClass}` : ''}`;
  const hintId = hint ? `${id}-hint` : undefined;
  const common = { id, name, 'data-path': path, 'aria-describedby': hintId, required, ...attrs };
  if (kind === 'checkbox') {
    return h(
      'div',
      { class: wrap },
      h('label', { class: 'check' }, h('input', { ...common, type: 'checkbox', checked: value }), label),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    );
  }
  let control: HTMLElement;
  if (kind === 'textarea') control = h('textarea', { ...common, value: value ?? '' });
  else if (kind === 'select') {
    control = h(
      'select',
      common,
      options.map(([v, text]) => h('option', { value: v, selected: String(value ?? '') === v }, text)),
    );
  } else control = h('input', { ...common, type, value: value ?? '' });
  return h(
    'div',
    { class: wrap },
    h('label', { for: id }, label, optional ? h('span', { class: 'optional' }, ' (optional)') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
  );
}

/** Removes the errors a previous submit left on a form. */
export function clearErrors(form: HTMLElement) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const described = (el.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && !id.endsWith('-err'));
    if (described.length) el.setAttribute('aria-describedby', described.join(' '));
    else el.removeAttribute('aria-describedby');
  }
}

/**
 * Shows an API error on a form: each issue next to the field whose data-path is the issue's
 * path (or the longest one it starts with), the rest in a summary at the top. Focuses the
 * first problem.
 */
export function showErrors(form: HTMLElement, error: unknown) {
  clearErrors(form);
  const issues = error instanceof ApiError ? error.issues : [];
  const targets = [...form.querySelectorAll<HTMLElement>('[data-path]')];
  const unplaced: Issue[] = [];
  let first: HTMLElement | null = null;
  for (const issue of issues) {
    const path = String(issue.path ?? '');
    let best: HTMLElement | null = null;
    for (const el of targets) {
      const p = el.dataset['path'];
      if (!p) continue;
      if (p === path || path.startsWith(`${p}.`)) if (!best || p.length > (best.dataset['path'] ?? '').length) best = el;
    }
    if (!best) {
      unplaced.push(issue);
      continue;
    }
    const errId = `${best.id || uid('e')}-${Math.random().toString(36).slice(2, 7)}-err`;
    const message = h('p', { class: 'field-error', id: errId }, issue.message);
    // In a matcher or criterion row the message spans the whole row, under its three inputs.
    const container = best.closest('.matcher-row, .criterion-row') ?? best.closest('.field') ?? best.parentElement;
    container?.append(message);
    best.setAttribute('aria-invalid', 'true');
    best.setAttribute('aria-describedby', [best.getAttribute('aria-describedby'), errId].filter(Boolean).join(' '));
    first ??= best;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (!first || unplaced.length) {
    const summary = h(
      'div',
      { class: 'notice notice-danger form-error', role: 'alert', tabindex: '-1' },
      h('p', {}, first ? 'Some problems could not be shown next to a field:' : message),
      unplaced.length
        ? h(
            'ul',
            {},
            unplaced.map((i) => h('li', {}, i.path ? `${i.path}: ${i.message}` : i.message)),
          )
        : null,
    );
    form.prepend(summary);
    if (!first) summary.focus();
  } else {
    form.prepend(
      h('p', { class: 'visually-hidden form-error', role: 'alert' }, `Not saved: ${issues.length} problem${issues.length === 1 ? '' : 's'}. ${message}`),
    );
  }
  first?.focus();
}

/** Runs `work` with the button busy and disabled; shows errors on `form` when it fails. */
export async function busy<T>(button: HTMLButtonElement | null | undefined, work: () => Promise<T>, form?: HTMLElement | null): Promise<T | undefined> {
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  try {
    if (form) clearErrors(form);
    return await work();
  } catch (error) {
    if (form) showErrors(form, error);
    else toast(error instanceof Error ? error.message : String(error), 'error');
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}

/** A button that is disabled (with the read-only hint nearby) for viewer keys. */
export function actionButton(text: string, attrs: Attrs = {}) {
  const disabled = !session.canEdit;
  return h(
    'button',
    { type: 'button', class: 'btn', ...attrs, disabled: disabled || attrs.disabled, title: disabled ? 'Needs an editor or admin key' : attrs.title },
    text,
  );
}

// ---- toasts and dialogs ----
export function toast(message: string, kind: 'ok' | 'error' = 'ok') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = h('div', { class: `toast${kind === 'error' ? ' toast-error' : ''}`, onclick: () => el.remove() }, message);
  region.append(el);
  // At most three at a time, the newest last; each goes after a few seconds or on click.
  while (region.children.length > 3) region.firstElementChild?.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

/** A modal confirmation; resolves true when confirmed. Escape and Cancel resolve false. */
export function confirmDialog({
  title,
  text,
  confirmLabel = 'Delete',
  danger = true,
}: {
  title: string;
  text?: string;
  confirmLabel?: string;
  danger?: boolean;
}): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger btn-solid' : 'btn-primary'}`, value: 'ok' }, confirmLabel);
    const dialog = h(
      'dialog',
      { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      text ? h('p', {}, text) : null,
      h('div', { class: 'form-actions' }, cancel, ok),
    );
    const opener = document.activeElement;
    const close = (result: boolean) => {
      dialog.close();
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(result);
    };
    cancel.addEventListener('click', () => close(false));
    ok.addEventListener('click', () => close(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Page heading with optional breadcrumbs, lede and actions on the right. */
export function pageHead(title: Child, { crumbs, lede, actions }: { crumbs?: { label: Child; href?: string }[]; lede?: Child; actions?: Child } = {}) {
  return [
    crumbs
      ? h(
          'div',
          { class: 'crumbs' },
          crumbs.flatMap((c, i) => [i ? ' / ' : null, c.href ? h('a', { href: c.href }, c.label) : c.label]),
        )
      : null,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), actions ? h('div', { class: 'actions' }, actions) : null),
    lede ? h('p', { class: 'lede' }, lede) : null,
  ];
}

/** Only http(s) links from alert data become links. */
export function safeUrl(url: string | null | undefined) {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Reads the named controls of a form: text values trimmed, checkboxes as booleans. */
export function formValues(form: HTMLFormElement): Record<string, string | boolean> {
  const values: Record<string, string | boolean> = {};
  for (const el of controls(form)) {
    if (!el.name) continue;
    if (el instanceof HTMLInputElement && el.type === 'checkbox') values[el.name] = el.checked;
    else if (el.type !== 'button' && el.type !== 'submit') values[el.name] = el.value.trim();
  }
  return values;
}

/** A form's inputs, selects, textareas and buttons. */
export function controls(form: HTMLFormElement): (HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | HTMLButtonElement)[] {
  return [...form.elements].filter(
    (el) => el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement || el instanceof HTMLButtonElement,
  );
}

/** The value of a form's named control ('' when there is none). */
export function valueOf(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement ? el.value : '';
}

/** The select inside a `field({ kind: 'select' })`. */
export function selectIn(wrap: HTMLElement): HTMLSelectElement {
  const select = wrap.querySelector('select');
  if (!select) throw new Error('no select in this field');
  return select;
}

export const SEVERITIES = ['critical', 'warning', 'info'];

/** The button an `onclick` handler was attached to. */
export const buttonOf = (event: Event) => event.currentTarget as HTMLButtonElement;

/** Every control of a form disabled (a viewer key's read-only pages). */
export function disableAll(form: HTMLFormElement) {
  for (const el of controls(form)) el.disabled = true;
}
