// The admin REST API client. The key lives in sessionStorage and only ever travels in the
// Authorization header: never in a URL, never in localStorage, never in a log line.

const KEY = 'sentryhub.apiKey';
const ROLE = 'sentryhub.role';
const BASE = '/api/v1';

import type { Role } from './types';

/** One problem of a refused body: `path` names the field (dotted). */
export interface Issue {
  path?: string;
  message: string;
}

/** An answer other than 2xx, in the `{error, issues}` shape of docs/contracts.md §3.1. */
export class ApiError extends Error {
  readonly status: number;
  readonly issues: Issue[];
  constructor(status: number, body: unknown) {
    const answer = (body ?? {}) as { error?: unknown; issues?: unknown };
    super(typeof answer.error === 'string' ? answer.error : `request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.issues = Array.isArray(answer.issues) ? (answer.issues as Issue[]) : [];
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  get role(): Role {
    return (sessionStorage.getItem(ROLE) as Role | null) ?? 'viewer';
  },
  start(key: string, role: Role) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(ROLE, role);
  },
  end() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ROLE);
  },
  /** editor and admin may change things (rules, silences, ack, comment, resolve, requeue). */
  get canEdit(): boolean {
    return this.role === 'editor' || this.role === 'admin';
  },
  get isAdmin() {
    return this.role === 'admin';
  },
};

let onUnauthorized: () => void = () => undefined;
/** Called when a key stops working mid-session (revoked, expired). */
export function whenUnauthorized(handler: () => void) {
  onUnauthorized = handler;
}

export type Query = Record<string, string | number | boolean | null | undefined | readonly (string | number)[]>;

/** `{a: 1, b: [x, y], c: undefined}` -> `?a=1&b=x&b=y`; empty values are left out. */
export function queryString(params?: Query) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== '') search.append(name, String(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

interface SendOptions {
  body?: unknown;
  query?: Query | undefined;
  key?: string | null;
  /** A 401 is the caller's to handle (the login probe), not the end of the session. */
  quiet401?: boolean;
}

async function send<T>(method: string, path: string, { body, query, key = session.key, quiet401 = false }: SendOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
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
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
  }
  if (response.status === 401 && !quiet401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return data as T;
}

/** The API's calls; `T` is the answer's type (libs/contracts, see types.ts). */
export const api = {
  get: <T>(path: string, query?: Query, options?: SendOptions) => send<T>('GET', path, { ...options, query }),
  post: <T>(path: string, body?: unknown, options?: SendOptions) => send<T>('POST', path, { ...options, body: body ?? {} }),
  put: <T>(path: string, body: unknown, options?: SendOptions) => send<T>('PUT', path, { ...options, body }),
  del: (path: string, options?: SendOptions) => send<null>('DELETE', path, options),
};

/**
 * Checks a key and finds its role. The API has no "who am I" route yet, so: the key must read
 * alert groups (any role); listing API keys needs admin; and an empty silence is refused with
 * 403 before validation for a viewer, with 400 by validation for an editor (nothing is written).
 */
export async function probeKey(key: string): Promise<Role> {
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
