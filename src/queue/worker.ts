// The BullMQ worker: validates each job against the queue contract, hands it to the processor,
// and closes gracefully (stop taking jobs, finish the ones in flight).
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PAYMENT_EVENTS_QUEUE, PaymentJobData } from './queues.js';

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
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency, autorun: false },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'worker connection error'));
  worker.on('failed', (job, err) => {
    opts.logger.warn(
      { jobId: job?.id, attemptsMade: job?.attemptsMade, reason: err.message },
      'payment job failed',
    );
  });
  return worker;
}
