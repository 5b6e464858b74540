export interface ServiceState {
  name: string;
  /** Where a person reaches it: the service's own URL, or its /readyz for the workers. */
  url: string;
  ready: boolean;
  /** What /readyz said is not ready (component -> reason), or why it could not be asked. */
  reasons?: Record<string, string>;
  note?: string;
}

export type ApiKeyState = { kind: 'bootstrap' } | { kind: 'exists'; count: number } | { kind: 'none' } | { kind: 'unknown'; reason: string };

export interface StartSummary {
  services: ServiceState[];
  seconds: number;
  consoleUrl?: string;
  /** Absent when the gateway is not started. */
  intake?: { open: boolean };
  /** Absent when the admin is not started. */
  apiKey?: ApiKeyState;
}

export function formatSummary(summary: StartSummary, options?: { color?: boolean }): string;
