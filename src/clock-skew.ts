// Is this host's clock right? Stripe and Paddle sign a timestamp and the receiver refuses a signature
// more than 300 s from its own clock, so a host clock that drifts refuses every delivery in the end
// (400 stale_timestamp, which the gateways retry and then give up on). PostgreSQL's clock is the
// reference at hand: compared at start and every minute, round trip accounted for; a skew over 60 s
// is logged, shown in partner_ledger_clock_skew_seconds and warned about in GET /v1/integrations.
import type pg from 'pg';
import type { Gauge } from 'prom-client';
import { PADDLE_TOLERANCE_SECONDS } from './gateways/paddle/signature.js';
import { STRIPE_TOLERANCE_SECONDS } from './gateways/stripe/index.js';
import type { Logger } from './logger.js';

/** The clock the service judges signature timestamps by (tests pass one with an offset). */
export type Clock = () => Date;

/** A skew beyond this is warned about: well before the gateways' 300 s signature tolerance. */
export const CLOCK_SKEW_WARN_SECONDS = 60;
/** How far a signature timestamp may be from this host's clock (Stripe's and Paddle's, 300 s). */
export const SIGNATURE_TOLERANCE_SECONDS = Math.min(STRIPE_TOLERANCE_SECONDS, PADDLE_TOLERANCE_SECONDS);
const CHECK_EVERY_MS = 60_000;

export type ClockSkew = {
  /** This host's clock minus PostgreSQL's, in seconds: positive when this host is ahead. */
  skewSeconds: number;
  roundTripMs: number;
  /** When it was measured, by the service's clock. */
  measuredAt: Date;
};

/** One comparison: the database's clock_timestamp() against the midpoint of the query's round trip. */
export async function measureClockSkew(pool: pg.Pool, now: Clock = () => new Date()): Promise<ClockSkew> {
  // connected first, so that the round trip is one query and not a connection's set-up
  const client = await pool.connect();
  try {
    const sent = now().getTime();
    const { rows } = await client.query<{ epoch: string }>('select extract(epoch from clock_timestamp())::text as epoch');
    const received = now().getTime();
    const database = Number(rows[0]!.epoch) * 1000;
    return { skewSeconds: ((sent + received) / 2 - database) / 1000, roundTripMs: received - sent, measuredAt: new Date(received) };
  } finally {
    client.release();
  }
}

/** The warning GET /v1/integrations shows, or null while the clocks agree (or nothing was measured). */
export function clockSkewWarning(skew: ClockSkew | null, warnSeconds = CLOCK_SKEW_WARN_SECONDS): string | null {
  if (!skew || Math.abs(skew.skewSeconds) <= warnSeconds) return null;
  const seconds = Math.round(Math.abs(skew.skewSeconds));
  return (
    `clock: this server's clock is ${seconds} s ${skew.skewSeconds > 0 ? 'ahead of' : 'behind'} the database's ` +
    `(measured ${skew.measuredAt.toISOString()}); Stripe and Paddle signatures are refused beyond ${SIGNATURE_TOLERANCE_SECONDS} s: ` +
    'synchronise the clocks (NTP)'
  );
}

/** Measures at start and then every minute; keeps the last measurement for the integration status. */
export class ClockSkewMonitor {
  private last: ClockSkew | null = null;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private warned = false;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      logger: Logger;
      now?: Clock;
      gauge?: Gauge;
      /** Between two measurements (default a minute). */
      intervalMs?: number;
      warnSeconds?: number;
    },
  ) {}

  /** The last measurement, or null when none has succeeded yet. */
  current = (): ClockSkew | null => this.last;

  /** Measure now; a database that does not answer is logged and the last measurement kept. */
  async check(): Promise<ClockSkew | null> {
    if (this.checking) return this.last;
    this.checking = true;
    try {
      const skew = await measureClockSkew(this.deps.pool, this.deps.now);
      this.last = skew;
      this.deps.gauge?.set(skew.skewSeconds);
      const over = Math.abs(skew.skewSeconds) > (this.deps.warnSeconds ?? CLOCK_SKEW_WARN_SECONDS);
      const figures = { skewSeconds: Math.round(skew.skewSeconds * 1000) / 1000, roundTripMs: skew.roundTripMs };
      if (over) {
        this.deps.logger.warn(figures, clockSkewWarning(skew, this.deps.warnSeconds)!);
      } else if (this.warned) {
        this.deps.logger.info(figures, 'clock: this server and the database agree again');
      }
      this.warned = over;
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'clock: could not read the database clock');
    } finally {
      this.checking = false;
    }
    return this.last;
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.deps.intervalMs ?? CHECK_EVERY_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
