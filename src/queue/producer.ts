// Puts payment events on the queue. With the offline queue off, a Redis outage is an immediate error
// (on the PostgreSQL backend, a refused or timed-out connection is).
import type { JobsOptions, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { openQueue, type QueueConnection } from './backend.js';
import { fromMinorUnits } from '../core/money.js';
import { Group } from '../write-group.js';
import type { PaymentEvent } from '../core/payment-event.js';
import {
  DEFAULT_FAILED_JOB_RETENTION_DAYS,
  failedJobRetention,
  PAYMENT_EVENTS_QUEUE,
  paymentJobId,
  paymentJobOptions,
  type PaymentJobInput,
  type PaymentJobSummary,
} from './queues.js';

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

export type ProducerOptions = {
  /** Days a failed job is kept (FAILED_JOB_RETENTION_DAYS). */
  failedRetentionDays?: number;
  /** Retry policy other than the default 10 attempts from 15 s (tests make jobs fail fast). */
  attempts?: number;
  backoffMs?: number;
};

/** What the gateway event is about, for the dashboard and log lines. */
export type DedupeKey = { gateway: string; eventId: string; eventType?: string };

function money(m: { minor: string; currency: string; isCurrency?: boolean }): string {
  try {
    return `${m.isCurrency === false ? m.minor : fromMinorUnits(BigInt(m.minor), m.currency)} ${m.currency}`;
  } catch {
    return `${m.minor} minor units of ${m.currency}`;
  }
}

/** `payment pi_123 49.00 USD (partner_key ptn_a on stripe_charge_metadata)` */
export function factText(e: PaymentEvent): string {
  if (e.kind === 'payment') {
    const key = e.partnerKey
      ? ` (partner_key ${e.partnerKey.value} on ${e.partnerKey.place})`
      : e.lookups.length
        ? ` (partner_key to look up on ${e.lookups.map((l) => `${l.object} ${l.id}`).join(', ')})`
        : ' (no partner_key)';
    return `payment ${e.transactionKey} ${money(e.amount)}${key}`;
  }
  if (e.kind === 'refund') return `refund ${e.refundId}${e.reversed ? ' reversed' : ''} of ${e.paymentRefs[0]}${e.amount ? ` ${money(e.amount)}` : ' (whole payment)'}`;
  if (e.kind === 'refunds_standing') return `refunds of ${e.paymentRefs[0]} now: ${e.refundIds.length}`;
  return `dispute ${e.disputeId} on ${e.paymentRefs[0]} ${e.status}`;
}

export function jobSummary(data: PaymentJobInput, key: DedupeKey): PaymentJobSummary {
  const events = data.events as PaymentEvent[];
  return {
    gateway: key.gateway,
    eventType: key.eventType ?? events[0]?.eventType ?? '',
    eventId: key.eventId,
    programId: data.programId,
    transactionKey: [...new Set(events.map((e) => (e.kind === 'payment' ? e.transactionKey : (e.paymentRefs[0] ?? ''))))].join(', '),
    facts: data.unreadable !== undefined && !events.length ? `unreadable: ${data.unreadable}` : events.map(factText).join('; '),
  };
}

type BulkJob = { name: string; data: PaymentJobInput; opts: JobsOptions };

export class PaymentProducer {
  readonly queue: Queue<PaymentJobInput>;
  private readonly jobOptions: JobsOptions;
  /** Adds of concurrent requests, sent to Redis together (one round trip for the group). */
  private readonly adds: Group<BulkJob, true>;

  constructor(
    private readonly connection: QueueConnection,
    prefix: string,
    options: ProducerOptions = {},
  ) {
    this.queue = openQueue<PaymentJobInput>(PAYMENT_EVENTS_QUEUE, connection, prefix);
    // errors surface on each add; an unhandled 'error' event would crash the process
    this.queue.on('error', () => {});
    this.adds = new Group(async (jobs) => {
      await this.queue.addBulk(jobs);
      return jobs.map(() => true as const);
    });
    this.jobOptions = {
      ...paymentJobOptions,
      removeOnFail: failedJobRetention(options.failedRetentionDays ?? DEFAULT_FAILED_JOB_RETENTION_DAYS),
      ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
      ...(options.backoffMs !== undefined ? { backoff: { type: 'exponential', delay: options.backoffMs } } : {}),
    };
  }

  /**
   * Queue one gateway event (or one API request); the job id dedupes concurrent deliveries. The job
   * is named `stripe charge.succeeded` and carries a summary, so a person reading it knows what it is.
   */
  async add(data: PaymentJobInput, dedupeKey: DedupeKey): Promise<string> {
    const jobId = paymentJobId(data.programId, dedupeKey.gateway, dedupeKey.eventId);
    // BullMQ would wait for a reconnect; a webhook sender must hear "try again" now instead
    if (this.connection instanceof Redis && this.connection.status !== 'ready') {
      throw new QueueUnavailableError(`queue unavailable: Redis connection is ${this.connection.status}`);
    }
    const summary = jobSummary(data, dedupeKey);
    const name = `${dedupeKey.gateway} ${summary.eventType}`.trim();
    try {
      await this.adds.add({ name, data: { summary, ...data }, opts: { ...this.jobOptions, jobId } });
    } catch (err) {
      throw new QueueUnavailableError(`queue unavailable: ${(err as Error).message}`);
    }
    return jobId;
  }

  /**
   * Put a verified delivery that can never be booked on the queue only to be failed at once (with
   * `reason`, not retried): the dashboard's failed set then shows every failure, bad data included.
   */
  addUnreadable(data: Omit<PaymentJobInput, 'events' | 'unreadable'>, reason: string, dedupeKey: DedupeKey): Promise<string> {
    return this.add({ ...data, events: [], unreadable: reason.slice(0, 2000) }, dedupeKey);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
