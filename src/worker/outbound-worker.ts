// The outbound webhooks side of a worker process: the delivery worker (retrying on the schedule
// through a custom BullMQ backoff strategy) and the outbox dispatcher loop.
import type { BackoffStrategy, Queue, Worker } from 'bullmq';
import { openQueue, openWorker, type QueueConnection } from '../queue/backend.js';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import {
  OUTBOUND_BACKOFF_TYPE,
  OUTBOUND_RETRY_SCHEDULE_MS,
  OUTBOUND_WEBHOOKS_QUEUE,
  outboundJobOptions,
  outboundRetryDelay,
  type OutboundJobData,
} from '../queue/queues.js';
import { processDelivery } from './outbound-delivery.js';
import { startDispatcher } from './outbound-dispatcher.js';
import type { Resolver, UrlPolicy } from '../outbound/url-policy.js';

/** BullMQ's custom backoff: the schedule's delay after the `attemptsMade`-th failed attempt. */
export function outboundBackoffStrategy(schedule: readonly number[] = OUTBOUND_RETRY_SCHEDULE_MS): BackoffStrategy {
  return (attemptsMade, type) => {
    // -1: BullMQ does not retry (no other backoff type is used on this queue)
    if (type !== OUTBOUND_BACKOFF_TYPE) return -1;
    return outboundRetryDelay(schedule, attemptsMade);
  };
}

export type OutboundOptions = {
  db: Db;
  connection: QueueConnection;
  prefix: string;
  logger: Logger;
  policy: UrlPolicy;
  /** Retry delays; the production schedule unless configured (tests use short ones). */
  schedule?: readonly number[];
  dispatchIntervalMs: number;
  concurrency: number;
  resolver?: Resolver;
};

export async function startOutbound(opts: OutboundOptions): Promise<{ worker: Worker; queue: Queue<OutboundJobData>; close(): Promise<void> }> {
  const schedule = opts.schedule ?? OUTBOUND_RETRY_SCHEDULE_MS;
  const queue = openQueue<OutboundJobData>(OUTBOUND_WEBHOOKS_QUEUE, opts.connection, opts.prefix);
  queue.on('error', () => {});
  const worker = openWorker<OutboundJobData>(
    OUTBOUND_WEBHOOKS_QUEUE,
    (job) => processDelivery({ db: opts.db, policy: opts.policy, schedule, resolver: opts.resolver }, job),
    opts.connection,
    opts.prefix,
    {
      concurrency: opts.concurrency,
      settings: { backoffStrategy: outboundBackoffStrategy(schedule) },
    },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'outbound webhooks worker error'));
  worker.on('failed', (job, err) =>
    opts.logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, reason: err.message }, 'outbound delivery failed'),
  );
  await worker.waitUntilReady();
  const dispatcher = startDispatcher({
    db: opts.db,
    queue,
    logger: opts.logger,
    intervalMs: opts.dispatchIntervalMs,
    jobOptions: outboundJobOptions(schedule),
  });
  return {
    worker,
    queue,
    async close() {
      await dispatcher.close();
      // close() waits for the deliveries in flight
      await worker.close();
      await queue.close();
    },
  };
}
