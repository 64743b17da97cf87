// The outbox dispatcher: committed outbox rows become one webhook_deliveries row per matching
// subscription, each then queued as one job. Runs in every worker process at once: each claims its
// own batch (`for update skip locked`), so no row is dispatched twice.
//
// Rows are claimed, their deliveries written and the rows marked dispatched in one transaction; the
// jobs are queued after it commits (a worker cannot pick up a job whose delivery row it cannot see
// yet). A crash or a Redis outage between the commit and the queueing leaves deliveries `pending`
// with no job: `requeuePending` queues them again (the same job id, so never twice).
import type { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { outboundJobId, outboundJobOptions, type OutboundJobData } from '../queue/queues.js';

export type DispatchResult = { events: number; deliveries: number };
type Created = { id: string; event: string };

const pgArray = (ids: string[]) => `{${ids.join(',')}}`;

async function queueDeliveries(queue: Queue<OutboundJobData>, created: Created[], jobOptions: ReturnType<typeof outboundJobOptions>) {
  if (!created.length) return;
  await queue.addBulk(
    created.map((d) => ({ name: d.event, data: { deliveryId: d.id }, opts: { ...jobOptions, jobId: outboundJobId(d.id) } })),
  );
}

/** Dispatch one batch of undispatched outbox rows, in id order. */
export async function dispatchOutbox(
  db: Db,
  queue: Queue<OutboundJobData>,
  opts: { batchSize?: number; jobOptions?: ReturnType<typeof outboundJobOptions> } = {},
): Promise<DispatchResult> {
  const batchSize = opts.batchSize ?? 200;
  // the idle case, every second in every worker: one indexed read, no transaction
  const waiting = await db.execute(sql`select 1 from outbox where dispatched_at is null limit 1`);
  if (!waiting.rows.length) return { events: 0, deliveries: 0 };
  const { events, created } = await db.transaction(async (tx) => {
    const claimed = await tx.execute<{ id: string }>(sql`
      select id::text as id from outbox where dispatched_at is null order by id limit ${batchSize} for update skip locked`);
    const ids = claimed.rows.map((r) => r.id);
    if (!ids.length) return { events: 0, created: [] as Created[] };
    const inserted = await tx.execute<Created>(sql`
      insert into webhook_deliveries (subscription_id, outbox_id, event)
      select s.id, o.id, o.event
      from outbox o
      join webhook_subscriptions s on s.program_id = o.program_id
      where o.id = any(${pgArray(ids)}::bigint[])
        and s.is_active and s.deleted_at is null and s.disabled_at is null and o.event = any(s.events)
      order by o.id, s.created_at
      on conflict (subscription_id, outbox_id) do nothing
      returning id::text as id, event`);
    await tx.execute(sql`update outbox set dispatched_at = now() where id = any(${pgArray(ids)}::bigint[])`);
    return { events: ids.length, created: inserted.rows };
  });
  created.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  await queueDeliveries(queue, created, opts.jobOptions ?? outboundJobOptions());
  return { events, deliveries: created.length };
}

/**
 * Queue again the deliveries still `pending` a while after they were written or retried by hand:
 * their job was lost between commit and queueing. A job that exists is left alone (same job id).
 */
export async function requeuePending(
  db: Db,
  queue: Queue<OutboundJobData>,
  opts: { olderThanSeconds?: number; limit?: number; jobOptions?: ReturnType<typeof outboundJobOptions> } = {},
): Promise<number> {
  const { rows } = await db.execute<Created>(sql`
    select id::text as id, event from webhook_deliveries
    where status = 'pending' and created_at < now() - make_interval(secs => ${opts.olderThanSeconds ?? 30})
    order by id limit ${opts.limit ?? 500}`);
  if (!rows.length) return 0;
  const existing = await Promise.all(rows.map((r) => queue.getJob(outboundJobId(r.id))));
  const missing = rows.filter((_, i) => !existing[i]);
  await queueDeliveries(queue, missing, opts.jobOptions ?? outboundJobOptions());
  return missing.length;
}

/**
 * Dispatch in a loop in this process: at once while full batches keep coming, then every
 * `intervalMs`; and check for lost jobs every `requeueEveryMs`.
 */
export function startDispatcher(opts: {
  db: Db;
  queue: Queue<OutboundJobData>;
  logger: Logger;
  intervalMs: number;
  jobOptions: ReturnType<typeof outboundJobOptions>;
  batchSize?: number;
  requeueEveryMs?: number;
}): { close(): Promise<void> } {
  const batchSize = opts.batchSize ?? 200;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let lastRequeue = 0;
  let failing = false;

  const tick = async () => {
    try {
      for (;;) {
        const r = await dispatchOutbox(opts.db, opts.queue, { batchSize, jobOptions: opts.jobOptions });
        if (r.events) opts.logger.debug(r, 'outbox dispatched');
        if (stopped || r.events < batchSize) break;
      }
      if (Date.now() - lastRequeue >= (opts.requeueEveryMs ?? 30_000)) {
        lastRequeue = Date.now();
        const requeued = await requeuePending(opts.db, opts.queue, { jobOptions: opts.jobOptions });
        if (requeued) opts.logger.warn({ requeued }, 'queued again deliveries whose job was lost');
      }
      if (failing) opts.logger.info('outbox dispatcher recovered');
      failing = false;
    } catch (err) {
      // the database or Redis is away: the rows wait in the outbox, try again next time
      if (!failing) opts.logger.warn({ err: (err as Error).message }, 'outbox dispatch failed; retrying');
      failing = true;
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, opts.intervalMs);
  };
  running = tick().then(schedule);
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
      clearTimeout(timer);
    },
  };
}
