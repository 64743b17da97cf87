// What reconcile reads from a gateway: its own record of the events it sent (or should have sent),
// page by page, through the official SDK. Each gateway's source sits in its folder (events.ts); the
// command that drives them is src/cli/reconcile.ts. The pacer keeps every source polite: at most
// RECONCILE_RPS requests a second, and a 429 waited out for as long as its Retry-After asks.
import type { Gateway } from '../core/payment-event.js';

/** One event as the gateway lists it: the same object its webhook delivers, as received. */
export type ListedEvent = {
  id: string;
  type: string;
  occurredAt: Date;
  /** Whether the gateway says this is a live (not test-mode) event, when it says. */
  livemode?: boolean;
  /** The event exactly as a webhook would carry it (what the adapter's toEvents reads). */
  payload: unknown;
  /**
   * Set when the gateway no longer lists the event and it was made from the object (Stripe older than
   * 30 days): a webhook delivered it under another event id, so reconcile skips it when the ledger
   * already knows the object (a payment by any of its refs, a refund by id, a dispute by id and status).
   */
  madeFrom?: { kind: 'payment' | 'refund' | 'dispute'; refs: string[]; status?: 'opened' | 'won' | 'lost' };
  /**
   * Set when the gateway itself records this delivery as failed for good (a Paddle notification with
   * status `failed`): `resend` asks the gateway to deliver it again (--ask-gateway-to-resend) instead
   * of queueing it here.
   */
  failedDelivery?: { notificationId: string; destination: string; resend: () => Promise<void> };
};

export type EventRange = {
  /** Events that occurred at or after this instant... */
  from: Date;
  /** ...and before this one. */
  to: Date;
};

export interface EventSource {
  readonly gateway: Gateway;
  /** The event types asked for: the ones the receiver books. */
  readonly types: readonly string[];
  /** The events of the range, one page (one API request) at a time, only the asked types. */
  pages(range: EventRange): AsyncIterable<ListedEvent[]>;
}

/** A list request that failed for good (refused credentials, a bad request, no answer after retries). */
export class EventListError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'EventListError';
  }
}

/** What a source's SDK error says: its HTTP status, and Retry-After in ms when the gateway sent one. */
export type CallFailure = { status: number | null; retryAfterMs: number | null; message: string };

export type PacerOptions = {
  /** Requests a second at most (RECONCILE_RPS). */
  rps: number;
  /** 429s and transient failures waited out for one request before giving up. */
  maxRetries?: number;
  /** Wait after a 429 without Retry-After, or a 5xx / network failure (doubled each time). */
  fallbackDelayMs?: number;
  /** The longest single wait honoured (a Retry-After of hours is a failure to report, not a sleep). */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Told of every wait (`429 on GET /v1/events: waiting 2s`), for the progress output. */
  onWait?: (line: string) => void;
};

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After as ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: unknown, now = Date.now()): number | null {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const s = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * Spaces one gateway's requests at least 1/rps apart and retries a request that met a 429 (after its
 * Retry-After), a 5xx or no answer, a bounded number of times. Other failures are thrown at once.
 */
export class RequestPacer {
  private next = 0;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  /** Requests made and 429s met, for the summary. */
  requests = 0;
  rateLimited = 0;

  constructor(private readonly opts: PacerOptions) {
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
  }

  async run<T>(what: string, fn: () => Promise<T>, failure: (err: unknown) => CallFailure): Promise<T> {
    const maxRetries = this.opts.maxRetries ?? 5;
    const fallback = this.opts.fallbackDelayMs ?? 1000;
    const maxWait = this.opts.maxWaitMs ?? 120_000;
    for (let attempt = 0; ; attempt++) {
      const wait = this.next - this.now();
      if (wait > 0) await this.sleep(wait);
      this.next = Math.max(this.now(), this.next) + 1000 / this.opts.rps;
      this.requests++;
      try {
        return await fn();
      } catch (err) {
        const f = failure(err);
        const transient = f.status === null || f.status === 429 || f.status >= 500;
        if (f.status === 429) this.rateLimited++;
        if (!transient || attempt >= maxRetries) {
          throw new EventListError(`${what}: ${f.status ?? 'no answer'} ${f.message}${transient ? ` (gave up after ${attempt + 1} attempts)` : ''}`, f.status);
        }
        const delay = f.status === 429 && f.retryAfterMs !== null ? f.retryAfterMs : fallback * 2 ** attempt;
        if (delay > maxWait) {
          throw new EventListError(`${what}: ${f.status} asks to wait ${Math.ceil(delay / 1000)}s, longer than ${maxWait / 1000}s: try again later`, f.status);
        }
        this.opts.onWait?.(`  ${f.status ?? 'no answer'} on ${what}: waiting ${(delay / 1000).toFixed(1)}s (Retry-After${f.status === 429 && f.retryAfterMs !== null ? '' : ' absent: backing off'})`);
        // the next request of any kind waits too: a 429 is about the account, not this one call
        this.next = Math.max(this.next, this.now() + delay);
      }
    }
  }
}
