// Periodic work, scheduled through BullMQ so that one worker runs it however many are deployed.
import { Queue, Worker } from 'bullmq';
import { lt } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { dropExpiredBodies } from '../db/inbox.js';
import { matureRewards } from '../db/ledger.js';
import { webhookRejections } from '../db/schema.js';
import type { PaymentProducer } from '../queue/producer.js';
import { MAINTENANCE_QUEUE } from '../queue/queues.js';
import { sweepInbox } from './sweeper.js';

export { MAINTENANCE_QUEUE };

/** Rejected deliveries are kept this long for the integration status. */
export const REJECTION_RETENTION_DAYS = 7;

/** Delete webhook_rejections rows older than the retention; how many went. */
export async function pruneRejections(db: Db, now = new Date(), days = REJECTION_RETENTION_DAYS): Promise<number> {
  const gone = await db
    .delete(webhookRejections)
    .where(lt(webhookRejections.receivedAt, new Date(now.getTime() - days * 86_400_000)));
  return gone.rowCount ?? 0;
}

export async function startMaintenance(opts: {
  db: Db;
  connection: Redis;
  prefix: string;
  logger: Logger;
  /** Queue access for the inbox sweeper. */
  producer: PaymentProducer;
  sweepAfterSeconds: number;
  /** Raw webhook bodies are dropped this many days after receipt (INBOX_RETENTION_DAYS). */
  inboxRetentionDays: number;
  everyMs?: number;
}): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  queue.on('error', () => {});
  await queue.upsertJobScheduler(
    'mature-rewards',
    { every: opts.everyMs ?? 60_000 },
    { name: 'mature-rewards', opts: { removeOnComplete: 10, removeOnFail: 50 } },
  );
  await queue.upsertJobScheduler(
    'sweep-inbox',
    { every: opts.everyMs ?? 60_000 },
    { name: 'sweep-inbox', opts: { removeOnComplete: 10, removeOnFail: 50 } },
  );
  await queue.upsertJobScheduler(
    'prune-rejections',
    { every: Math.max(opts.everyMs ?? 60_000, 3600_000) },
    { name: 'prune-rejections', opts: { removeOnComplete: 10, removeOnFail: 50 } },
  );
  await queue.upsertJobScheduler(
    'drop-expired-bodies',
    { every: Math.max(opts.everyMs ?? 60_000, 86_400_000 / 4) },
    { name: 'drop-expired-bodies', opts: { removeOnComplete: 10, removeOnFail: 50 } },
  );
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      if (job.name === 'drop-expired-bodies') {
        const dropped = await dropExpiredBodies(opts.db, new Date(Date.now() - opts.inboxRetentionDays * 86_400_000));
        if (dropped) opts.logger.info({ dropped, days: opts.inboxRetentionDays }, 'raw webhook bodies past the inbox retention dropped');
        return { dropped };
      }
      if (job.name === 'prune-rejections') {
        const pruned = await pruneRejections(opts.db);
        if (pruned) opts.logger.info({ pruned }, 'old webhook rejections pruned');
        return { pruned };
      }
      if (job.name === 'sweep-inbox') {
        const swept = await sweepInbox(opts.db, opts.producer, { olderThanSeconds: opts.sweepAfterSeconds });
        if (swept.requeued || swept.failed) opts.logger.warn(swept, 'inbox sweeper re-queued events the queue did not have');
        return swept;
      }
      const matured = await matureRewards(opts.db);
      if (matured) opts.logger.info({ matured }, 'review period ended for rewards');
      return { matured };
    },
    { connection: opts.connection, prefix: opts.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'maintenance worker error'));
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
