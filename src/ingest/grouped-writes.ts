// Grouping the writes of concurrent webhook requests: the inbox inserts of requests arriving within a
// millisecond or two become one multi-row INSERT (one commit), and their queue adds one addBulk (one
// Redis round trip). Each request still learns its own outcome, and is answered only after both
// stores have its event.
import type { Queue } from 'bullmq';
import type { Db } from '../db/client.js';
import { webhookEvents } from '../db/schema.js';
import { paymentJobId, paymentJobOptions, type PaymentJobInput } from '../queue/queues.js';
import { Group } from '../write-group.js';

export type InboxRow = typeof webhookEvents.$inferInsert;

/** Inserts inbox rows together; each gets its new id, or null when the delivery was stored before. */
export function inboxGroup(db: Db): Group<InboxRow, bigint | null> {
  return new Group(async (rows) => {
    const inserted = await db
      .insert(webhookEvents)
      .values(rows)
      .onConflictDoNothing({ target: [webhookEvents.programId, webhookEvents.gateway, webhookEvents.eventId] })
      .returning({ id: webhookEvents.id, programId: webhookEvents.programId, gateway: webhookEvents.gateway, eventId: webhookEvents.eventId });
    const ids = new Map(inserted.map((r) => [`${r.programId}|${r.gateway}|${r.eventId}`, r.id]));
    // two requests of one batch with the same event: the first gets the id, the other is a duplicate
    const seen = new Set<string>();
    return rows.map((r) => {
      const k = `${r.programId}|${r.gateway}|${r.eventId}`;
      if (seen.has(k)) return null;
      seen.add(k);
      return ids.get(k) ?? null;
    });
  });
}

export type QueueItem = { data: PaymentJobInput; gateway: string; eventId: string };

/** Adds payment jobs together (one Redis round trip). */
export function queueGroup(queue: Queue<PaymentJobInput>, ready: () => boolean): Group<QueueItem, string> {
  return new Group(async (items) => {
    // BullMQ would wait for a reconnect; a webhook sender must hear "try again" now instead
    if (!ready()) throw new Error('queue unavailable: Redis is not connected');
    const jobs = items.map((i) => ({
      name: i.gateway,
      data: i.data,
      opts: { ...paymentJobOptions, jobId: paymentJobId(i.data.programId, i.gateway, i.eventId) },
    }));
    await queue.addBulk(jobs);
    return jobs.map((j) => j.opts.jobId);
  });
}
