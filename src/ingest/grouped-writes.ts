// The inbox inserts of webhook requests arriving within a millisecond or two become one multi-row
// INSERT (one commit); each request still learns its own row (the queue adds are grouped likewise,
// in the producer). A request is answered only after both stores have its event.
import type pg from 'pg';
import { insertDeliveries, type InboxRow } from '../db/inbox.js';
import { storeUnavailable } from '../db/store-errors.js';
import { Group, ItemFailure } from '../write-group.js';

export type { InboxRow };

/** Most rows a group inserts (and so most statements a connection prepares). */
const MAX_GROUP = 64;

/** Inserts inbox rows together; each gets its new id, or null when the delivery was stored before. */
export function inboxGroup(pool: pg.Pool): Group<InboxRow, bigint | null> {
  return new Group(
    async (rows) => {
      try {
        return await insertDeliveries(pool, rows);
      } catch (err) {
        // the store is down (disk full, shutting down ...): every row of the group fails alike
        if (rows.length === 1 || storeUnavailable(err)) throw err;
        // one row PostgreSQL refuses must not fail the deliveries grouped with it: each alone, in order
        const results: (bigint | null | ItemFailure)[] = [];
        for (const row of rows) results.push(await insertDeliveries(pool, [row]).then((r) => r[0]!, (e: unknown) => new ItemFailure(e)));
        return results;
      }
    },
    { maxSize: MAX_GROUP },
  );
}
