// The admin REST API client. The key lives in sessionStorage and only ever travels in the
// Authorization header: never in a URL, never in localStorage, never in a log line.

const KEY = 'sentryhub.apiKey';
const ROLE = 'sentryhub.role';
const BASE = '/api/v1';

/** An answer other than 2xx, in the `{error, issues}` shape of docs/contracts.md §3.1. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.error === 'string' ? body.error : `request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.issues = body && Array.isArray(body.issues) ? body.issues : [];
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get role() {
    return sessionStorage.getItem(ROLE) ?? 'viewer';
  },
  start(key, role) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, role);
  },
  end() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
  },
  /** editor and admin may change things (rules, silences, ack, comment, resolve, requeue). */
  get canEdit() {
    return this.role === 'editor' || this.role === 'admin';
  },
  get isAdmin() {
    return this.role === 'admin';
  },
};

let onUnauthorized = () => {};
/** Called when a key stops working mid-session (revoked, expired). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** `{a: 1, b: [x, y], c: undefined}` -> `?a=1&b=x&b=y`; empty values are left out. */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== '') search.append(name, String(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function send(method, path, { body, query, key = session.key, quiet401 = false } = {}) {
  const headers = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${BASE}${path}${queryString(query)}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, { error: 'the admin API cannot be reached: check your connection and try again' });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
  }
  if (response.status === 401 && !quiet401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  get: (path, query, options) => send('GET', path, { ...options, query }),
  post: (path, body, options) => send('POST', path, { ...options, body: body ?? {} }),
  put: (path, body, options) => send('PUT', path, { ...options, body }),
  del: (path, options) => send('DELETE', path, options),
};

/**
 * Checks a key and finds its role. The API has no "who am I" route yet, so: the key must read
 * alert groups (any role); listing API keys needs admin; and an empty silence is refused with
 * 403 before validation for a viewer, with 400 by validation for an editor (nothing is written).
 */
export async function probeKey(key) {
  await send('GET', '/alert-groups', { key, query: { pageSize: 1 }, quiet401: true });
  try {
    await send('GET', '/api-keys', { key, quiet401: true });
    return 'admin';
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
  }
  try {
    await send('POST', '/silences', { key, body: {}, quiet401: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return 'viewer';
    if (error instanceof ApiError && error.status === 400) return 'editor';
    throw error;
  }
  return 'editor';
}
