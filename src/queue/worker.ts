// The BullMQ worker: validates each job against the queue contract, hands it to the processor,
// and closes gracefully (stop taking jobs, finish the ones in flight).
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PAYMENT_EVENTS_QUEUE, PaymentJobData } from './queues.js';

/** How many times a job may be recovered from a dead worker before it is failed (BullMQ default: 1). */
export const PAYMENT_JOB_MAX_STALLS = 5;

export type PaymentProcessor = (data: PaymentJobData, job: Job<unknown>) => Promise<unknown>;

export function createPaymentWorker(opts: {
  connection: Redis;
  prefix: string;
  concurrency: number;
  logger: Logger;
  process: PaymentProcessor;
}): Worker {
  const worker = new Worker(
    PAYMENT_EVENTS_QUEUE,
    async (job) => {
      const parsed = PaymentJobData.safeParse(job.data);
      if (!parsed.success) {
        // bad data never succeeds: fail once, with a reason a person can read
        const first = parsed.error.issues[0];
        throw new UnrecoverableError(`payload: ${first?.path.join('.') || 'job'}: ${first?.message ?? 'invalid'}`);
      }
      return opts.process(parsed.data, job);
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency,
      autorun: false,
      // A job whose worker died (SIGKILL, OOM, a deploy past its grace period) comes back when its lock
      // expires (lockDuration 30 s, checked every stalledInterval 30 s). BullMQ's default of 1 fails a
      // job the second time that happens to it, without running it or recording why on its inbox row;
      // jobs are idempotent, so it may run again. Still bounded: a job that crashes every worker fails.
      maxStalledCount: PAYMENT_JOB_MAX_STALLS,
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
