// Queue names, job data and job options: the contract between producers and the worker.
import { z } from 'zod';
import { PaymentEvent } from '../core/payment-event.js';

export const PAYMENT_EVENTS_QUEUE = 'payment-events';

/**
 * What a person reading the job (the queue dashboard, a log line) needs, without decoding the events:
 * written at enqueue, ignored by the worker.
 */
export const PaymentJobSummary = z.object({
  gateway: z.string(),
  eventType: z.string(),
  eventId: z.string(),
  programId: z.string(),
  /** The transaction the event is about (a payment's key, a refund's or dispute's payment); strings, not
   *  lists, so the dashboard shows them without unfolding anything. */
  transactionKey: z.string(),
  /** `payment pi_123 49.00 USD (partner_key ptn_a on stripe_charge_metadata)`; several joined by `; `. */
  facts: z.string(),
});
export type PaymentJobSummary = z.infer<typeof PaymentJobSummary>;

export const PaymentJobData = z.object({
  summary: PaymentJobSummary.optional(),
  programId: z.uuid(),
  /** The inbox row this job came from (webhooks and replays); absent for API-created events. */
  inboxId: z.string().regex(/^\d+$/).optional(),
  source: z.enum(['webhook', 'api', 'replay', 'bulk', 'reconcile']),
  events: z.array(PaymentEvent).max(20),
  /**
   * A verified delivery whose data can never be booked (`payload: unknown currency code "zzz"`): no
   * events, and the worker fails the job at once with this reason, so it sits in the dashboard's failed
   * set beside every other failure (its inbox row is failed with the same reason already).
   */
  unreadable: z.string().min(1).max(2000).optional(),
}).refine((d) => d.events.length > 0 || d.unreadable !== undefined, { path: ['events'], message: 'Too small: expected array to have >=1 items' });
export type PaymentJobData = z.infer<typeof PaymentJobData>;
export type PaymentJobInput = z.input<typeof PaymentJobData>;

/** How long failed jobs stay in Redis for replay unless FAILED_JOB_RETENTION_DAYS says otherwise. */
export const DEFAULT_FAILED_JOB_RETENTION_DAYS = 14;

/** removeOnFail for a retention: a failed job is kept until replayed or older than this. */
export function failedJobRetention(days: number): { age: number } {
  return { age: Math.round(days * 24 * 3600) };
}

/** 10 attempts with exponential backoff from 15 s: retries spread over about two hours. */
export const PAYMENT_JOB_ATTEMPTS = 10;
export const PAYMENT_JOB_BACKOFF_MS = 15_000;

export const paymentJobOptions = {
  attempts: PAYMENT_JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: PAYMENT_JOB_BACKOFF_MS },
  // completed jobs are trimmed so Redis memory stays bounded; failed ones are kept for replay
  removeOnComplete: { age: 3600, count: 10_000 },
  // the default; the service's producer applies FAILED_JOB_RETENTION_DAYS
  removeOnFail: failedJobRetention(DEFAULT_FAILED_JOB_RETENTION_DAYS),
} as const;

/** A BullMQ job id for a gateway event: stable, and free of `:` (BullMQ's separator). */
export function paymentJobId(programId: string, gateway: string, eventId: string): string {
  return `${gateway}-${programId}-${eventId}`.replaceAll(':', '_');
}

export const BULK_RUNS_QUEUE = 'bulk-runs';
export const CALLBACKS_QUEUE = 'callbacks';
export const MAINTENANCE_QUEUE = 'maintenance';

/**
 * Options for a Queue object that adds jobs: failed jobs are kept for replay until older than the
 * retention (job options that name their own removeOnFail win).
 */
export function queueDefaults(failedRetentionDays: number = DEFAULT_FAILED_JOB_RETENTION_DAYS) {
  return { removeOnFail: failedJobRetention(failedRetentionDays) };
}

export const BulkJobData = z.object({ runId: z.uuid() });
export type BulkJobData = z.infer<typeof BulkJobData>;

export const bulkJobOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  // removeOnFail: the queue's defaults (queueDefaults: FAILED_JOB_RETENTION_DAYS)
} as const;

/** Completion callbacks: retried with backoff for about a day, then left failed (and shown). */
export const callbackJobOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  // removeOnFail: the queue's defaults (queueDefaults: FAILED_JOB_RETENTION_DAYS)
} as const;

// ---- outbound webhooks ----

/** One job per delivery of an outbox event to a subscription (the queue dashboard shows its failed set). */
export const OUTBOUND_WEBHOOKS_QUEUE = 'outbound-webhooks';

export const OutboundJobData = z.object({ deliveryId: z.string().regex(/^\d+$/) });
export type OutboundJobData = z.infer<typeof OutboundJobData>;

/** The job of a webhook_deliveries row: one per delivery, so retries and the dashboard agree. */
export function outboundJobId(deliveryId: string | bigint): string {
  return `whd-${deliveryId}`;
}

/**
 * The retry schedule of a failed delivery, like the hosted webhook services': about 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h and 10 h (about 28 hours), then the delivery is failed.
 */
export const OUTBOUND_RETRY_SCHEDULE_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3600_000,
  5 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
] as const;

/** The BullMQ backoff type whose delays `outboundBackoffStrategy` computes. */
export const OUTBOUND_BACKOFF_TYPE = 'outbound-schedule';

/** Delay before the next attempt, `attemptsMade` counting the attempt that just failed (1 after the first). */
export function outboundRetryDelay(schedule: readonly number[], attemptsMade: number): number {
  if (!schedule.length) return 0;
  return schedule[Math.min(Math.max(attemptsMade, 1), schedule.length) - 1]!;
}

export function outboundJobOptions(schedule: readonly number[] = OUTBOUND_RETRY_SCHEDULE_MS) {
  return {
    attempts: schedule.length + 1,
    backoff: { type: OUTBOUND_BACKOFF_TYPE },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    // failed deliveries stay visible (dashboard, manual retry) for two weeks
    removeOnFail: { age: 14 * 24 * 3600 },
  };
}

// ---- every queue ----

/**
 * Every queue of the service, as the queue dashboard and the metrics list them: a queue added here
 * shows up in both.
 */
export const QUEUE_NAMES: readonly string[] = [
  PAYMENT_EVENTS_QUEUE,
  BULK_RUNS_QUEUE,
  CALLBACKS_QUEUE,
  MAINTENANCE_QUEUE,
  OUTBOUND_WEBHOOKS_QUEUE,
];
