// Prometheus metrics: what operators graph and alert on. One registry per service instance, so two
// services in one process (tests) never mix their numbers.
import type { Job, Queue, Worker } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { GATEWAYS } from './core/payment-event.js';
import { BALANCE_STATES, type ProgramBalance } from './db/balances.js';
import type { LookupClient, LookupClients } from './gateways/gateway.js';
import { PAYMENT_EVENTS_QUEUE } from './queue/queues.js';

/** What became of a webhook delivery, as the metrics label it. */
export type WebhookOutcome =
  | 'queued' // stored and queued (or re-queued)
  | 'duplicate' // a redelivery: acknowledged, nothing new
  | 'ignored' // not a payment fact (stored as ignored)
  | 'failed' // verified but unreadable (stored as failed)
  | 'rejected' // refused at the door: signature, credentials, body
  | 'acknowledged' // answered 2xx and forgotten (a WooCommerce ping)
  | 'unavailable' // 503: PostgreSQL or Redis did not answer, or could not take the write now (disk full, OOM)
  | 'error' // 500: PostgreSQL refused the write for a reason a retry does not fix
  | 'not_found'; // unknown gateway or program

export type EnrichStatus = 'found' | 'not_found' | 'transient_error' | 'error';

const QUEUE_STATES = ['waiting', 'active', 'failed', 'delayed'] as const;

/** A label value from a closed set, so a caller cannot blow up the number of series. */
export function gatewayLabel(gateway: string | undefined): string {
  return gateway && (GATEWAYS as readonly string[]).includes(gateway) ? gateway : 'unknown';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}

type JobData = { summary?: { gateway?: string }; events?: { gateway?: string }[] };
const jobGateway = (job: Job) => gatewayLabel((job.data as JobData)?.summary?.gateway ?? (job.data as JobData)?.events?.[0]?.gateway);

export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;

  readonly webhooks = new Counter({
    name: 'partner_ledger_webhooks_total',
    help: 'Gateway webhook deliveries by gateway and outcome (queued, duplicate, ignored, failed, rejected, acknowledged, unavailable, error, not_found).',
    labelNames: ['gateway', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'partner_ledger_webhook_rejections_total',
    help: 'Webhook deliveries refused at the door, by gateway and code (invalid_signature, stale_timestamp, ...).',
    labelNames: ['gateway', 'code'] as const,
    registers: [this.registry],
  });
  readonly rejectionsUnrecorded = new Counter({
    name: 'partner_ledger_webhook_rejections_unrecorded_total',
    help: 'Rejected deliveries not written to webhook_rejections (more than the recorder keeps per second, or the database failed).',
    registers: [this.registry],
  });
  readonly ackSeconds = new Histogram({
    name: 'partner_ledger_webhook_ack_seconds',
    help: 'Time from a webhook request to its answer, by gateway.',
    labelNames: ['gateway'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly jobSeconds = new Histogram({
    name: 'partner_ledger_job_duration_seconds',
    help: 'Time a job ran, by queue and outcome (completed, retry: failed and will be retried, failed: for good).',
    labelNames: ['queue', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly enrichCalls = new Counter({
    name: 'partner_ledger_enrich_calls_total',
    help: 'Gateway API calls of the enrich step, by gateway and status (found, not_found, transient_error, error).',
    labelNames: ['gateway', 'status'] as const,
    registers: [this.registry],
  });
  readonly rewardsCreated = new Counter({
    name: 'partner_ledger_rewards_created_total',
    help: 'Rewards created by the payment worker, by gateway.',
    labelNames: ['gateway'] as const,
    registers: [this.registry],
  });
  readonly rewardsReversed = new Counter({
    name: 'partner_ledger_rewards_reversed_total',
    help: 'Transactions whose rewards the payment worker took back, by gateway and reason (refund, partial_refund, dispute_lost).',
    labelNames: ['gateway', 'reason'] as const,
    registers: [this.registry],
  });

  readonly clockSkew = new Gauge({
    name: 'partner_ledger_clock_skew_seconds',
    help: "This host's clock minus PostgreSQL's (round trip accounted for), measured at start and every minute; beyond 300 s Stripe and Paddle signatures are refused.",
    registers: [this.registry],
  });

  readonly reconcileMissing = new Counter({
    name: 'partner_ledger_reconcile_missing_total',
    help: "Events (WooCommerce: order states) the scheduled reconcile found in a gateway's own record that no webhook had delivered, by gateway; each was queued.",
    labelNames: ['gateway'] as const,
    registers: [this.registry],
  });
  readonly reconcileLastSuccess = new Gauge({
    name: 'partner_ledger_reconcile_last_success_timestamp_seconds',
    help: 'When a scheduled reconcile of the gateway last completed (Unix seconds), by gateway.',
    labelNames: ['gateway'] as const,
    registers: [this.registry],
  });

  /** A scheduled reconcile run completed. */
  reconciled(gateway: string, missing: number, at = new Date()): void {
    const label = gatewayLabel(gateway);
    // the series exists from the first run, at 0 while nothing was missing
    this.reconcileMissing.inc({ gateway: label }, missing);
    this.reconcileLastSuccess.set({ gateway: label }, Math.floor(at.getTime() / 1000));
  }

  /** 1 for the store the queues live in (QUEUE_BACKEND, decided at start): redis or postgres. */
  readonly queueBackend = new Gauge({
    name: 'partner_ledger_queue_backend',
    help: 'The store BullMQ keeps the queues in (QUEUE_BACKEND): 1 for the backend in use (redis or postgres).',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Count one webhook request and time its answer: call at its start, then `done(outcome)`. */
  webhook(gateway: string): (outcome: WebhookOutcome) => void {
    const started = process.hrtime.bigint();
    const label = gatewayLabel(gateway);
    return (outcome) => {
      this.webhooks.inc({ gateway: label, outcome });
      this.ackSeconds.observe({ gateway: label }, Number(process.hrtime.bigint() - started) / 1e9);
    };
  }

  /**
   * Queue sizes, read from BullMQ when Prometheus scrapes (never cached between scrapes), and
   * `partner_ledger_queue_up` 0 for a queue whose counts Redis did not give.
   */
  watchQueues(queues: readonly Queue[]): void {
    let reading: Promise<Map<string, Record<string, number> | null>> | undefined;
    const read = () =>
      (reading ??= Promise.all(
        queues.map(async (q) => {
          try {
            const counts = await withTimeout(q.getJobCounts(...QUEUE_STATES), 2000);
            return [q.name, counts] as const;
          } catch {
            return [q.name, null] as const;
          }
        }),
      )
        .then((entries) => new Map(entries))
        .finally(() => setTimeout(() => (reading = undefined), 0)));
    const jobs = new Gauge({
      name: 'partner_ledger_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, failed, delayed), read from BullMQ at scrape time.',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        const all = await read();
        jobs.reset();
        for (const [queue, counts] of all) {
          if (!counts) continue;
          for (const state of QUEUE_STATES) {
            // BullMQ answers `waiting` as `wait`
            jobs.set({ queue, state }, counts[state] ?? (state === 'waiting' ? (counts.wait ?? 0) : 0));
          }
        }
      },
    });
    const up = new Gauge({
      name: 'partner_ledger_queue_up',
      help: '1 when the queue counts could be read from the queue backend (Redis or PostgreSQL) at scrape time, 0 when not.',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      async collect() {
        const all = await read();
        for (const [queue, counts] of all) up.set({ queue }, counts ? 1 : 0);
      },
    });
  }

  /**
   * `partner_ledger_events_retrying{gateway}`: gateway events waiting for their next attempt after a
   * failed one (a gateway API down), read from the inbox at scrape time. 0 for every gateway when
   * none; left out (no sample) when the read fails, so an alert does not see a false zero.
   */
  watchRetrying(read: () => Promise<{ gateway: string; count: number }[]>): void {
    const gauge = new Gauge({
      name: 'partner_ledger_events_retrying',
      help: 'Gateway events waiting for their next attempt after a failed one (the inbox rows still pending with a last error), by gateway, read at scrape time.',
      labelNames: ['gateway'] as const,
      registers: [this.registry],
      async collect() {
        gauge.reset();
        let rows;
        try {
          rows = await withTimeout(read(), 2000);
        } catch {
          return;
        }
        for (const g of GATEWAYS) gauge.set({ gateway: g }, 0);
        for (const r of rows) gauge.inc({ gateway: gatewayLabel(r.gateway) }, r.count);
      },
    });
  }

  /**
   * Partners' balance totals per program, currency and state (pending, available, in_payout, paid,
   * clawback), read when Prometheus scrapes. The read aggregates every reward: it runs at most once
   * every `everyMs` (scrapes in between see the last figures) and one at a time; a failed read keeps
   * the last figures.
   */
  watchBalances(read: () => Promise<ProgramBalance[]>, everyMs = 60_000): void {
    let last: { at: number; rows: ProgramBalance[] } | undefined;
    let reading: Promise<void> | undefined;
    const refresh = () =>
      (reading ??= read()
        .then((rows) => void (last = { at: Date.now(), rows }))
        .catch(() => void (last = last && { ...last, at: Date.now() }))
        .finally(() => (reading = undefined)));
    const gauge = new Gauge({
      name: 'partner_ledger_partner_balance',
      help: "Sum of partners' balances by program, currency and state (pending, available, in_payout, paid, clawback), exact decimals as floats; read at most once a minute.",
      labelNames: ['program', 'currency', 'state'] as const,
      registers: [this.registry],
      async collect() {
        if (!last || Date.now() - last.at >= everyMs) await refresh();
        gauge.reset();
        for (const b of last?.rows ?? []) for (const state of BALANCE_STATES) gauge.set({ program: b.program_id, currency: b.currency, state }, Number(b[state]));
      },
    });
  }

  /** Job durations by outcome for any worker; for the payment worker, rewards created and reversed. */
  observeWorker(worker: Worker): void {
    const seconds = (job: Job) => Math.max(0, ((job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now())) / 1000);
    worker.on('completed', (job, result: unknown) => {
      this.jobSeconds.observe({ queue: worker.name, outcome: 'completed' }, seconds(job));
      if (worker.name === PAYMENT_EVENTS_QUEUE) this.observeOutcomes(jobGateway(job), result);
    });
    worker.on('failed', (job, err) => {
      if (!job) return;
      const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      this.jobSeconds.observe({ queue: worker.name, outcome: final ? 'failed' : 'retry' }, seconds(job));
    });
  }

  /** Rewards created and taken back, from the outcomes the ledger reports for one job. */
  observeOutcomes(gateway: string, outcomes: unknown): void {
    if (!Array.isArray(outcomes)) return;
    const label = gatewayLabel(gateway);
    for (const o of outcomes as { kind?: string; result?: string; rewards?: number; deleted?: boolean; status?: string; reversed?: boolean }[]) {
      if (o.kind === 'payment' && o.result === 'created' && o.rewards) this.rewardsCreated.inc({ gateway: label }, o.rewards);
      // a refund taken back (reversed) gives rewards back: not a reversal of rewards
      if (o.kind === 'refund' && o.result === 'applied' && !o.reversed) this.rewardsReversed.inc({ gateway: label, reason: o.deleted ? 'refund' : 'partial_refund' });
      if (o.kind === 'dispute' && o.result === 'applied' && o.status === 'lost') this.rewardsReversed.inc({ gateway: label, reason: 'dispute_lost' });
    }
  }

  /** The enrich step's clients, each call counted by gateway and status. */
  instrumentClients(clients: LookupClients): LookupClients {
    const wrapped = new WeakMap<LookupClient, LookupClient>();
    const count = async <T>(gateway: string, call: () => Promise<T>): Promise<T> => {
      try {
        const found = await call();
        this.enrichCalls.inc({ gateway, status: found ? 'found' : 'not_found' });
        return found;
      } catch (err) {
        const transient = (err as { transient?: boolean }).transient === true;
        this.enrichCalls.inc({ gateway, status: transient ? 'transient_error' : 'error' });
        throw err;
      }
    };
    return async (programId, gateway) => {
      const client = await clients(programId, gateway);
      if (!client) return client;
      let w = wrapped.get(client);
      if (!w) {
        const label = gatewayLabel(gateway);
        const paymentKey = client.paymentKey?.bind(client);
        const couponCodes = client.couponCodes?.bind(client);
        w = {
          lookup: (l) => count(label, () => client.lookup(l)),
          ...(paymentKey ? { paymentKey: (ref) => count(label, () => paymentKey(ref)) } : {}),
          ...(couponCodes ? { couponCodes: (l) => count(label, () => couponCodes(l)) } : {}),
        };
        wrapped.set(client, w);
      }
      return w;
    };
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
