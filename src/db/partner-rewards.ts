// A partner's rewards outside the payment path: manual rewards (a bonus credited by hand, tied to no
// transaction), the list of all its rewards, and its earnings added up. Commissions are written by
// the ledger; these reads count both kinds alike.
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { micros } from './columns.js';
import { rewards, transactions } from './schema.js';

export type ManualReward = {
  programId: string;
  partnerId: string;
  /** Exact decimal text, in `units`. */
  amount: string;
  units: string;
  isCurrency: boolean;
  createdAt: Date;
  note: string | null;
  key: string;
};

export type PartnerRewardRow = typeof rewards.$inferSelect & { transactionKey: string | null; micros: string };

/** A manual reward: approved (`ok`) at once, the merchant gave it; no transaction, kind `manual`. */
export async function addManualReward(db: Db, r: ManualReward): Promise<PartnerRewardRow> {
  const [row] = await db
    .insert(rewards)
    .values({
      programId: r.programId,
      transactionId: null,
      kind: 'manual',
      note: r.note,
      key: r.key,
      action: 'manual',
      partnerId: r.partnerId,
      amount: r.amount,
      originalAmount: r.amount,
      units: r.units,
      isCurrency: r.isCurrency,
      status: 'ok',
      basis: { type: 'manual' },
      createdAt: r.createdAt,
    })
    .returning();
  return { ...row!, transactionKey: null, micros: String(BigInt(row!.createdAt.getTime()) * 1000n) };
}

const live = (programId: string, partnerId: string) =>
  and(eq(rewards.programId, programId), eq(rewards.partnerId, partnerId), isNull(rewards.deletedAt));

/** A page of a partner's live rewards, newest first; `cursor` the last row of the page before. */
export async function listPartnerRewards(
  db: Db,
  programId: string,
  partnerId: string,
  page: { limit: number; offset: number; cursor?: { createdAtMicros: bigint; id: bigint } },
): Promise<{ rows: PartnerRewardRow[]; total: number; hasMore: boolean }> {
  const where = live(programId, partnerId);
  const after = page.cursor
    ? sql`(${rewards.createdAt}, ${rewards.id}) < (timestamptz 'epoch' + ${page.cursor.createdAtMicros.toString()}::bigint * interval '1 microsecond', ${page.cursor.id.toString()}::bigint)`
    : undefined;
  const [rows, [counted]] = await Promise.all([
    db
      .select({ r: rewards, transactionKey: transactions.key, micros: micros(rewards.createdAt) })
      .from(rewards)
      .leftJoin(transactions, eq(transactions.id, rewards.transactionId))
      .where(and(where, after))
      .orderBy(desc(rewards.createdAt), desc(rewards.id))
      .limit(page.limit + 1)
      .offset(page.cursor ? 0 : page.offset),
    db.select({ n: sql<number>`count(*)::int` }).from(rewards).where(where),
  ]);
  return {
    rows: rows.slice(0, page.limit).map((x) => ({ ...x.r, transactionKey: x.transactionKey, micros: x.micros })),
    total: counted?.n ?? 0,
    hasMore: rows.length > page.limit,
  };
}

export type Earnings = { units: string; isCurrency: boolean; total: string; approved: string; inReview: string; rewards: number; manual: number };

/**
 * What a partner has earned, by unit: approved (`ok`) and in review, commissions and manual rewards
 * alike; rejected, deleted and archived rewards left out. Sums are numeric: exact.
 */
export async function partnerEarnings(db: Db, programId: string, partnerId: string): Promise<Earnings[]> {
  const rows = await db
    .select({
      units: rewards.units,
      isCurrency: rewards.isCurrency,
      total: sql<string>`coalesce(sum(${rewards.amount}), 0)::text`,
      approved: sql<string>`coalesce(sum(${rewards.amount}) filter (where ${rewards.status} = 'ok'), 0)::text`,
      inReview: sql<string>`coalesce(sum(${rewards.amount}) filter (where ${rewards.status} = 'review_period'), 0)::text`,
      rewards: sql<number>`count(*)::int`,
      manual: sql<number>`(count(*) filter (where ${rewards.kind} = 'manual'))::int`,
    })
    .from(rewards)
    .where(and(live(programId, partnerId), isNull(rewards.archivedAt), sql`${rewards.status} <> 'rejected'`))
    .groupBy(rewards.units, rewards.isCurrency)
    .orderBy(rewards.units);
  return rows;
}
