// The BullMQ worker: validates each job against the queue contract, hands it to the processor,
// and closes gracefully (stop taking jobs, finish the ones in flight).
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { openWorker, type QueueConnection } from './backend.js';
import type { Logger } from 'pino';
import { PAYMENT_EVENTS_QUEUE, PaymentJobData } from './queues.js';

/**
 * How many times a payment job may come back from a dead worker (BullMQ's default: 1): the processor
 * fails one that comes back a 6th time, with the reason on the job and its inbox row, instead of running
 * it again (src/worker/process-payment.ts). A job that came back twice runs alone, so a job that merely
 * shared a batch with the one that killed the worker gets through at its next runs.
 */
export const PAYMENT_JOB_MAX_STALLS = 5;

/**
 * BullMQ's own limit (its default is 1), only a backstop behind PAYMENT_JOB_MAX_STALLS for a job that
 * kills its worker before the processor sees it: BullMQ fails such a job without a word on its inbox row.
 */
export const PAYMENT_JOB_MAX_STALLS_BACKSTOP = 2 * PAYMENT_JOB_MAX_STALLS;

/** JOB_DEADLINE_MS's default: well past a batch cut twice by the default statement timeout (30 s). */
export const DEFAULT_JOB_DEADLINE_MS = 120_000;

/** A job still running at its deadline (JOB_DEADLINE_MS): failed, and retried with backoff like any transient failure. */
export class JobDeadlineError extends Error {
  override name = 'JobDeadlineError';
}

/**
 * The processor is handed a signal that aborts at the job's deadline (or when BullMQ cancels the job),
 * its reason a JobDeadlineError: it should stop waiting and throw (see `abortable`).
 */
export type PaymentProcessor = (data: PaymentJobData, job: Job<unknown>, signal: AbortSignal) => Promise<unknown>;

/**
 * `work`, or the signal's reason once it aborts (`graceMs` later): whatever `work` was waiting for goes
 * on, unawaited. Safe for a payment job: a write that still commits makes the retry a no-op.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, graceMs = 0): Promise<T> {
  if (signal.aborted && graceMs === 0) return Promise.reject(signal.reason as Error);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => (graceMs > 0 ? (timer = setTimeout(() => reject(signal.reason as Error), graceMs)) : reject(signal.reason as Error));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  });
}

export function createPaymentWorker(opts: {
  connection: QueueConnection;
  prefix: string;
  concurrency: number;
  logger: Logger;
  process: PaymentProcessor;
  /** How long one job may run, in ms (0: no deadline; the service hands over JOB_DEADLINE_MS). */
  deadlineMs?: number;
  /** BullMQ's lockDuration and stalledInterval (both 30 s by default, right for production): tests make crashes short. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}): Worker {
  const deadlineMs = opts.deadlineMs ?? DEFAULT_JOB_DEADLINE_MS;
  const worker = openWorker(
    PAYMENT_EVENTS_QUEUE,
    async (job, _token, cancelled) => {
      const parsed = PaymentJobData.safeParse(job.data);
      if (!parsed.success) {
        // bad data never succeeds: fail once, with a reason a person can read
        const first = parsed.error.issues[0];
        throw new UnrecoverableError(`payload: ${first?.path.join('.') || 'job'}: ${first?.message ?? 'invalid'}`);
      }
      // refused at the door as unreadable, queued only to be seen failed: never retried
      if (parsed.data.unreadable !== undefined) throw new UnrecoverableError(parsed.data.unreadable);
      const controller = new AbortController();
      const cancel = () => controller.abort(cancelled?.reason);
      cancelled?.addEventListener('abort', cancel, { once: true });
      const timer =
        deadlineMs > 0
          ? setTimeout(() => controller.abort(new JobDeadlineError(`deadline: the job was still running after ${deadlineMs} ms`)), deadlineMs)
          : undefined;
      try {
        // the processor stops at the signal itself (and records why); a second later, it is stopped here
        return await abortable(opts.process(parsed.data, job, controller.signal), controller.signal, 1000);
      } finally {
        clearTimeout(timer);
        cancelled?.removeEventListener('abort', cancel);
      }
    },
    opts.connection,
    opts.prefix,
    {
      concurrency: opts.concurrency,
      autorun: false,
      // A job whose worker died (SIGKILL, OOM, a deploy past its grace period) comes back when its lock
      // expires (lockDuration 30 s, checked every stalledInterval 30 s). BullMQ's default of 1 failed a
      // job the second time that happened to it, without running it or recording why on its inbox row.
      // Jobs are idempotent, so they may run again; the processor bounds it (PAYMENT_JOB_MAX_STALLS).
      maxStalledCount: PAYMENT_JOB_MAX_STALLS_BACKSTOP,
      ...(opts.lockDurationMs ? { lockDuration: opts.lockDurationMs } : {}),
      ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'worker connection error'));
  worker.on('failed', (job, err) => {
    const final = err.name === 'UnrecoverableError' || (job ? job.attemptsMade >= (job.opts.attempts ?? 1) : true);
    opts.logger.warn(
      { ...jobFields(job), attemptsMade: job?.attemptsMade, final, reason: err.message },
      final ? 'payment job failed' : 'payment job failed, will retry',
    );
  });
  // a line per job at debug level only: its fields are not even gathered otherwise (thousands a second)
  if (opts.logger.isLevelEnabled('debug')) worker.on('completed', (job) => opts.logger.debug(jobFields(job), 'payment job done'));
  return worker;
}

/**
 * What a worker log line says about its job: the job id, and the gateway event it carries. Never the
 * payload itself (customer data) or anything secret.
 */
export function jobFields(job: Job | undefined): Record<string, unknown> {
  if (!job) return {};
  const data = (job.data ?? {}) as Partial<PaymentJobData>;
  const first = data.events?.[0];
  return {
    jobId: job.id,
    gateway: data.summary?.gateway ?? first?.gateway,
    eventId: data.summary?.eventId ?? first?.eventId,
    eventType: data.summary?.eventType ?? first?.eventType,
    programId: data.programId,
    inboxId: data.inboxId,
    source: data.source,
  };
}
