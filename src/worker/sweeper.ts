// The inbox sweeper: an event kept in PostgreSQL whose job the queue does not have (Redis was down
// when it arrived, or lost it) is normalized again from its raw body and queued.
//
// Every row waiting longer than SWEEP_AFTER_SECONDS is looked at, however many there are: the inbox
// is read in pages by (received_at, id) keyset, one status at a time (each an ordered walk of the
// (status, received_at) index), and the queue is asked about each page's rows together. A backlog of
// queued rows whose jobs are waiting is walked past, not stopped at, so a lost row behind it is found.
import type { Db } from '../db/client.js';
import { markQueued, markSettledUnworked, pendingPage, type InboxRecord } from '../db/inbox.js';
import { adapterFor } from '../gateways/registry.js';
import { normalize } from '../ingest/normalize.js';
import type { PaymentProducer } from '../queue/producer.js';
import { paymentJobId } from '../queue/queues.js';

/** Rows read (and jobs looked up) at a time. */
export const SWEEP_PAGE_SIZE = 500;

type Row = InboxRecord;

export async function sweepInbox(
  db: Db,
  producer: PaymentProducer,
  opts: { olderThanSeconds: number; pageSize?: number; now?: Date },
): Promise<{ checked: number; requeued: number; failed: number; pages: number }> {
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - opts.olderThanSeconds * 1000);
  const pageSize = opts.pageSize ?? SWEEP_PAGE_SIZE;
  let checked = 0;
  let requeued = 0;
  let failed = 0;
  let pages = 0;
  for (const status of ['received', 'queued'] as const) {
    // received_at in PostgreSQL's own text: a JS Date would drop its microseconds and loop
    let after: { at: string; id: bigint } | null = null;
    for (;;) {
      const found = await pendingPage(db, status, cutoff, after, pageSize);
      const rows = found.map((f) => f.row);
      pages++;
      checked += rows.length;
      // one round trip for the page: ioredis pipelines the concurrent lookups
      const jobs = await Promise.all(rows.map((row) => producer.queue.getJob(paymentJobId(row.programId, row.gateway, row.eventId))));
      for (const [i, row] of rows.entries()) {
        if (jobs[i]) continue;
        const outcome = await requeue(db, producer, row, now);
        if (outcome === 'failed') failed++;
        else requeued++;
      }
      const last = found.at(-1);
      if (!last || rows.length < pageSize) break;
      after = { at: last.at, id: last.row.id };
    }
  }
  return { checked, requeued, failed, pages };
}

async function requeue(db: Db, producer: PaymentProducer, row: Row, now: Date): Promise<'queued' | 'failed'> {
  const adapter = adapterFor(row.gateway);
  let normalized;
  try {
    // (bodies are dropped only from settled rows, never from these; a null is a row altered by hand)
    normalized = !adapter
      ? ({ status: 'failed', reason: `no receiver for ${row.gateway}` } as const)
      : row.rawBody === null
        ? ({ status: 'failed', reason: 'its body is gone' } as const)
        : normalize(adapter, JSON.parse(row.rawBody), { livemode: null }, row.livemode ?? undefined);
  } catch (err) {
    normalized = { status: 'failed', reason: `payload: ${(err as Error).message}` } as const;
  }
  if (normalized.status !== 'queued') {
    await markSettledUnworked(db, row.id, normalized, now);
    if (normalized.status === 'failed') {
      // as the receiver does: seen in the dashboard's failed set, with its reason
      await producer
        .addUnreadable({ programId: row.programId, inboxId: row.id.toString(), source: 'webhook' }, normalized.reason, {
          gateway: row.gateway,
          eventId: row.eventId,
          eventType: row.eventType ?? undefined,
        })
        .catch(() => {});
    }
    return 'failed';
  }
  const source = (row.headers as { source?: unknown } | null)?.source === 'reconcile' ? 'reconcile' : 'webhook';
  await producer.add(
    { programId: row.programId, inboxId: row.id.toString(), source, events: normalized.events },
    { gateway: row.gateway, eventId: row.eventId, eventType: row.eventType ?? undefined },
  );
  await markQueued(db, row.id);
  return 'queued';
}
