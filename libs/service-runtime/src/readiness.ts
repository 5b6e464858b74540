/** What `/readyz` may tell anyone: a component is still starting (nothing failed yet), or down (it failed). */
export type PublicComponentState = 'starting' | 'down';

/**
 * What a service waits for before it is ready (broker, database, subscriptions). Each
 * component starts not ready; `/readyz` is 200 only when every one is ready.
 */
export class Readiness {
  private readonly reasons = new Map<string, string | null>();
  private readonly down = new Set<string>();

  constructor(components: readonly string[]) {
    for (const component of components) this.reasons.set(component, 'starting');
  }

  ready(component: string): void {
    this.reasons.set(component, null);
    this.down.delete(component);
  }

  notReady(component: string, reason: string): void {
    this.reasons.set(component, reason);
    this.down.add(component);
  }

  /** With the reasons (error texts): for logs and tests, not for the public endpoint. */
  status(): { ready: boolean; notReady: Record<string, string> } {
    const notReady: Record<string, string> = {};
    for (const [component, reason] of this.reasons) if (reason !== null) notReady[component] = reason;
    return { ready: Object.keys(notReady).length === 0, notReady };
  }

  /** Which components are not ready, and only whether each is still starting or down: no error text. */
  publicStatus(): { ready: boolean; notReady: Record<string, PublicComponentState> } {
    const notReady: Record<string, PublicComponentState> = {};
    for (const [component, reason] of this.reasons) if (reason !== null) notReady[component] = this.down.has(component) ? 'down' : 'starting';
    return { ready: Object.keys(notReady).length === 0, notReady };
  }
}
