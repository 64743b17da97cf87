// Periodic work, scheduled through BullMQ so that one worker runs it however many are deployed.
import type { Queue } from 'bullmq';
import { lt } from 'drizzle-orm';
import { openQueue, openWorker, type QueueConnection } from '../queue/backend.js';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { dropExpiredBodies } from '../db/inbox.js';
import { matureRewards } from '../db/ledger.js';
import { webhookRejections } from '../db/schema.js';
import type { PaymentProducer } from '../queue/producer.js';
import { MAINTENANCE_QUEUE } from '../queue/queues.js';
import { pruneRuns } from '../db/reconcile-runs.js';
import { RECONCILE_GATEWAYS, scheduledRun, scheduledTargets, type ReconcileGateway, type ScheduledRun, type ScheduleOptions } from './reconcile.js';
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
  connection: QueueConnection;
  prefix: string;
  logger: Logger;
  /** Queue access for the inbox sweeper. */
  producer: PaymentProducer;
  sweepAfterSeconds: number;
  /** Raw webhook bodies are dropped this many days after receipt (INBOX_RETENTION_DAYS). */
  inboxRetentionDays: number;
  everyMs?: number;
  /** The scheduled reconcile (RECONCILE_EVERY_MINUTES); absent or everyMs 0: off. */
  reconcile?: Omit<ScheduleOptions, 'db' | 'producer'> & { everyMs: number; onRun?: (run: ScheduledRun) => void };
}): Promise<{ close(): Promise<void>; queue: Queue }> {
  const queue = openQueue(MAINTENANCE_QUEUE, opts.connection, opts.prefix);
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
  const reconcile = opts.reconcile && opts.reconcile.everyMs > 0 ? opts.reconcile : null;
  if (reconcile) {
    await queue.upsertJobScheduler(
      'reconcile',
      { every: reconcile.everyMs },
      { name: 'reconcile', opts: { removeOnComplete: 10, removeOnFail: 50 } },
    );
  } else await queue.removeJobScheduler('reconcile');
  // one job a program and gateway: never two at once (the deduplication id), and one added while it
  // runs waits for it to end (keepLastIfActive), so a gateway behind by several windows catches up
  // one window a job, between the other maintenance jobs
  const reconcileGatewayJob = (programId: string, gateway: ReconcileGateway) =>
    queue.add(
      'reconcile-gateway',
      { programId, gateway },
      {
        deduplication: { id: `reconcile-${programId}-${gateway}`, keepLastIfActive: true },
        removeOnComplete: 100,
        removeOnFail: 100,
      },
    );
  const worker = openWorker(
    MAINTENANCE_QUEUE,
    async (job) => {
      if ((job.name === 'reconcile' || job.name === 'reconcile-gateway') && !reconcile) return { skipped: 'RECONCILE_EVERY_MINUTES is 0' };
      if (job.name === 'reconcile' && reconcile) {
        const targets = await scheduledTargets(opts.db, reconcile);
        for (const t of targets) await reconcileGatewayJob(t.programId, t.gateway);
        return { queued: targets.length };
      }
      if (job.name === 'reconcile-gateway' && reconcile) {
        const { programId, gateway } = job.data as { programId: string; gateway: ReconcileGateway };
        if (!RECONCILE_GATEWAYS.includes(gateway)) return { skipped: 'unknown gateway' };
        const lines: string[] = [];
        const run = await scheduledRun(
          { ...reconcile, db: opts.db, producer: opts.producer, out: (line) => lines.length < 200 && lines.push(line) },
          programId,
          gateway,
        );
        if (!run) return { skipped: 'nothing to reconcile' };
        reconcile.onRun?.(run);
        const summary = { programId, gateway, from: run.from.toISOString(), to: run.to.toISOString(), found: run.found, missing: run.missing, queued: run.queued, failed: run.failed };
        if (run.missing) opts.logger.warn(summary, 'reconcile found events no webhook delivered, and queued them');
        else opts.logger.info(summary, 'reconcile: nothing missing');
        for (const line of lines.slice(0, 50)) await job.log(line);
        if (!run.caughtUp) await reconcileGatewayJob(programId, gateway);
        return summary;
      }
      if (job.name === 'drop-expired-bodies') {
        const dropped = await dropExpiredBodies(opts.db, new Date(Date.now() - opts.inboxRetentionDays * 86_400_000));
        if (dropped) opts.logger.info({ dropped, days: opts.inboxRetentionDays }, 'raw webhook bodies past the inbox retention dropped');
        return { dropped };
      }
      if (job.name === 'prune-rejections') {
        const pruned = (await pruneRejections(opts.db)) + (await pruneRuns(opts.db));
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
    opts.connection,
    opts.prefix,
    { concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'maintenance worker error'));
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
    queue,
  };
}
