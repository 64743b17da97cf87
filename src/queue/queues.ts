// Queue names, job data and job options: the contract between producers and the worker.
import { z } from 'zod';
import { PaymentEvent } from '../core/payment-event.js';

export const PAYMENT_EVENTS_QUEUE = 'payment-events';

export const PaymentJobData = z.object({
  programId: z.uuid(),
  /** The inbox row this job came from (webhooks and replays); absent for API-created events. */
  inboxId: z.string().regex(/^\d+$/).optional(),
  source: z.enum(['webhook', 'api', 'replay', 'bulk']),
  events: z.array(PaymentEvent).min(1).max(20),
});
export type PaymentJobData = z.infer<typeof PaymentJobData>;
export type PaymentJobInput = z.input<typeof PaymentJobData>;

/** 10 attempts with exponential backoff from 15 s: retries spread over about two hours. */
export const PAYMENT_JOB_ATTEMPTS = 10;
export const PAYMENT_JOB_BACKOFF_MS = 15_000;

export const paymentJobOptions = {
  attempts: PAYMENT_JOB_ATTEMPTS,
  backoff: { type: 'exponential', delay: PAYMENT_JOB_BACKOFF_MS },
  // completed jobs are trimmed so Redis memory stays bounded; failed ones are kept for replay
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600 },
} as const;

/** A BullMQ job id for a gateway event: stable, and free of `:` (BullMQ's separator). */
export function paymentJobId(programId: string, gateway: string, eventId: string): string {
  return `${gateway}-${programId}-${eventId}`.replaceAll(':', '_');
}

export const BULK_RUNS_QUEUE = 'bulk-runs';
export const CALLBACKS_QUEUE = 'callbacks';

export const BulkJobData = z.object({ runId: z.uuid() });
export type BulkJobData = z.infer<typeof BulkJobData>;

export const bulkJobOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 14 * 24 * 3600 },
} as const;

/** Completion callbacks: retried with backoff for about a day, then left failed (and shown). */
export const callbackJobOptions = {
  attempts: 12,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 14 * 24 * 3600 },
} as const;
