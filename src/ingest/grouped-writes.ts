// The inbox inserts of webhook requests arriving within a millisecond or two become one multi-row
// INSERT (one commit); each request still learns its own row (the queue adds are grouped likewise,
// in the producer). A request is answered only after both stores have its event.
import type { Db } from '../db/client.js';
import { webhookEvents } from '../db/schema.js';
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
