// Reading transactions for the REST API: rows with their customer, partner and rewards, in few queries.
import { and, asc, desc, eq, gte, inArray, isNotNull, isNull, lt, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';
import { customers, partners, rewards, transactions } from './schema.js';

export type RewardRow = typeof rewards.$inferSelect & { partnerKey: string | null; earnerCustomerKey: string | null };
export type TransactionRow = typeof transactions.$inferSelect & {
  /** created_at in microseconds since the epoch: JavaScript dates stop at milliseconds. */
  createdAtMicros: string;
  customerKey: string | null;
  partnerKey: string | null;
  rewards: RewardRow[];
};

const earner = alias(customers, 'earner');

async function withRelations(
  db: Db,
  where: SQL | undefined,
  order: SQL[],
  limit?: number,
  offset = 0,
): Promise<TransactionRow[]> {
  let q = db
    .select({
      t: transactions,
      createdAtMicros: sql<string>`(extract(epoch from ${transactions.createdAt}) * 1000000)::bigint::text`,
      customerKey: customers.key,
      partnerKey: partners.key,
    })
    .from(transactions)
    .leftJoin(customers, eq(customers.id, transactions.customerId))
    .leftJoin(partners, eq(partners.id, transactions.partnerId))
    .where(where)
    .orderBy(...order)
    .$dynamic();
  if (limit !== undefined) q = q.limit(limit);
  if (offset) q = q.offset(offset);
  const rows = await q;
  if (!rows.length) return [];
  const rw = await db
    .select({ r: rewards, partnerKey: partners.key, earnerCustomerKey: earner.key })
    .from(rewards)
    .leftJoin(partners, eq(partners.id, rewards.partnerId))
    .leftJoin(earner, eq(earner.id, rewards.customerId))
    .where(inArray(rewards.transactionId, rows.map((r) => r.t.id)))
    .orderBy(asc(rewards.id));
  const byTx = new Map<bigint, RewardRow[]>();
  for (const r of rw) {
    const list = byTx.get(r.r.transactionId) ?? [];
    list.push({ ...r.r, partnerKey: r.partnerKey, earnerCustomerKey: r.earnerCustomerKey });
    byTx.set(r.r.transactionId, list);
  }
  return rows.map((r) => ({
    ...r.t,
    createdAtMicros: r.createdAtMicros,
    customerKey: r.customerKey,
    partnerKey: r.partnerKey,
    rewards: byTx.get(r.t.id) ?? [],
  }));
}

export async function transactionByKey(db: Db, programId: string, key: string): Promise<TransactionRow | null> {
  const [row] = await withRelations(db, and(eq(transactions.programId, programId), eq(transactions.key, key)), []);
  return row ?? null;
}

export type TransactionFilter = {
  key?: string;
  customer?: string;
  partnerKey?: string;
  partnerEmail?: string;
  status: 'active' | 'deleted' | 'archived' | 'all';
  dateAfter?: Date;
  dateBefore?: Date;
};
export type Cursor = { createdAtMicros: bigint; id: bigint };

function filterSql(programId: string, f: TransactionFilter): SQL | undefined {
  const parts: (SQL | undefined)[] = [eq(transactions.programId, programId)];
  if (f.key) parts.push(eq(transactions.key, f.key));
  if (f.customer) parts.push(sql`${transactions.customerId} in (select id from customers where program_id = ${programId} and key = ${f.customer})`);
  if (f.partnerKey) parts.push(sql`${transactions.partnerId} in (select id from partners where program_id = ${programId} and key = ${f.partnerKey})`);
  if (f.partnerEmail) {
    parts.push(sql`${transactions.partnerId} in (select id from partners where program_id = ${programId} and lower(email) = ${f.partnerEmail.toLowerCase()})`);
  }
  if (f.status === 'active') parts.push(isNull(transactions.deletedAt), isNull(transactions.archivedAt));
  if (f.status === 'deleted') parts.push(isNotNull(transactions.deletedAt));
  if (f.status === 'archived') parts.push(isNotNull(transactions.archivedAt), isNull(transactions.deletedAt));
  if (f.dateAfter) parts.push(gte(transactions.createdAt, f.dateAfter));
  if (f.dateBefore) parts.push(lt(transactions.createdAt, f.dateBefore));
  return and(...parts);
}

/**
 * Counting a large program's transactions costs more than reading a page: a count over
 * COUNT_CACHE_ABOVE rows is kept for a few seconds per filter (meta.total may lag that long;
 * links.next never depends on it). Small counts are always exact.
 */
const COUNT_CACHE_ABOVE = 10_000;
const COUNT_CACHE_MS = 10_000;
const counts = new Map<string, { at: number; n: number }>();

async function countTransactions(db: Db, programId: string, f: TransactionFilter, where: SQL | undefined): Promise<number> {
  const cacheKey = `${programId}|${JSON.stringify(f)}`;
  const hit = counts.get(cacheKey);
  if (hit && Date.now() - hit.at < COUNT_CACHE_MS) return hit.n;
  const [counted] = await db.select({ n: sql<number>`count(*)::int` }).from(transactions).where(where);
  const n = counted?.n ?? 0;
  if (n > COUNT_CACHE_ABOVE) {
    if (counts.size > 1000) counts.clear();
    counts.set(cacheKey, { at: Date.now(), n });
  } else counts.delete(cacheKey);
  return n;
}

/**
 * One page of transactions, newest first (or oldest, `asc`). With a cursor (the last row of the
 * previous page) the page is found through the index, as fast at page 10,000 as at page 1.
 */
export async function listTransactions(
  db: Db,
  programId: string,
  f: TransactionFilter,
  page: { limit: number; offset: number; cursor?: Cursor; sort: 'asc' | 'desc' },
): Promise<{ rows: TransactionRow[]; total: number; hasMore: boolean }> {
  const where = filterSql(programId, f);
  let pageWhere = where;
  if (page.cursor) {
    const { id } = page.cursor;
    const createdAt = sql`(timestamptz 'epoch' + ${page.cursor.createdAtMicros.toString()} * interval '1 microsecond')`;
    // a row comparison: PostgreSQL reads it as one range of the (program_id, created_at, id) index
    const after =
      page.sort === 'desc'
        ? sql`(${transactions.createdAt}, ${transactions.id}) < (${createdAt}, ${id})`
        : sql`(${transactions.createdAt}, ${transactions.id}) > (${createdAt}, ${id})`;
    pageWhere = and(where, after);
  }
  const dir = page.sort === 'desc' ? desc : asc;
  const [rows, total] = await Promise.all([
    withRelations(
      db,
      pageWhere,
      [dir(transactions.createdAt), dir(transactions.id)],
      page.limit + 1,
      page.cursor ? 0 : page.offset,
    ),
    countTransactions(db, programId, f, where),
  ]);
  return { rows: rows.slice(0, page.limit), total, hasMore: rows.length > page.limit };
}
