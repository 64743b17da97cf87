// The inbox sweeper: an event kept in PostgreSQL whose job the queue does not have (Redis was down
// when it arrived, or lost it) is normalized again from its raw body and queued.
import { and, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { webhookEvents } from '../db/schema.js';
import { adapterFor } from '../gateways/registry.js';
import { normalize } from '../ingest/normalize.js';
import type { PaymentProducer } from '../queue/producer.js';
import { paymentJobId } from '../queue/queues.js';

export async function sweepInbox(
  db: Db,
  producer: PaymentProducer,
  opts: { olderThanSeconds: number; limit?: number; now?: Date },
): Promise<{ checked: number; requeued: number; failed: number }> {
  const now = opts.now ?? new Date();
  const rows = await db
    .select()
    .from(webhookEvents)
    .where(
      and(
        inArray(webhookEvents.status, ['received', 'queued']),
        lt(webhookEvents.receivedAt, new Date(now.getTime() - opts.olderThanSeconds * 1000)),
      ),
    )
    .orderBy(webhookEvents.receivedAt)
    .limit(opts.limit ?? 500);
  let requeued = 0;
  let failed = 0;
  for (const row of rows) {
    const job = await producer.queue.getJob(paymentJobId(row.programId, row.gateway, row.eventId));
    if (job) continue;
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
      failed++;
      await db
        .update(webhookEvents)
        .set({
          status: normalized.status,
          lastError: normalized.status === 'failed' ? normalized.reason : null,
          outcome: normalized.status === 'ignored' ? { ignored: normalized.reason } : null,
          processedAt: now,
        })
        .where(sql`${webhookEvents.id} = ${row.id}`);
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
      continue;
    }
    await producer.add(
      { programId: row.programId, inboxId: row.id.toString(), source: 'webhook', events: normalized.events },
      { gateway: row.gateway, eventId: row.eventId, eventType: row.eventType ?? undefined },
    );
    await db
      .update(webhookEvents)
      .set({ status: 'queued' })
      .where(sql`${webhookEvents.id} = ${row.id} and ${webhookEvents.status} = 'received'`);
    requeued++;
  }
  return { checked: rows.length, requeued, failed };
}
