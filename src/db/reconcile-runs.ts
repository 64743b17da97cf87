// The reconcile runs of each program's gateways: where the scheduled reconcile stands (the end of its
// last completed range is where the next starts) and what the runs found missing, for the integration
// status. One owner writes them: the reconcile (scheduled or from the CLI) through start/finish.
import { and, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { disputes, reconcileRuns, refunds, transactionRefs } from './schema.js';

export type RunTrigger = 'schedule' | 'cli';
export type RunCounts = { found: number; missing: number; queued: number };

/** Runs are kept this long (the status shows the last 7 days). */
export const RECONCILE_RUN_RETENTION_DAYS = 30;

export async function startRun(db: Db, run: { programId: string; gateway: string; from: Date; to: Date; trigger: RunTrigger }): Promise<bigint> {
  const [row] = await db
    .insert(reconcileRuns)
    .values({ programId: run.programId, gateway: run.gateway, rangeFrom: run.from, rangeTo: run.to, trigger: run.trigger })
    .returning({ id: reconcileRuns.id });
  return row!.id;
}

export async function finishRun(db: Db, id: bigint, result: ({ status: 'completed' } & RunCounts) | { status: 'failed'; error: string; counts?: RunCounts }) {
  await db
    .update(reconcileRuns)
    .set(
      result.status === 'completed'
        ? { status: 'completed', finishedAt: new Date(), found: result.found, missing: result.missing, queued: result.queued }
        : { status: 'failed', finishedAt: new Date(), error: result.error.slice(0, 1000), ...(result.counts ?? {}) },
    )
    .where(eq(reconcileRuns.id, id));
}

/** Where the next scheduled run of a program's gateway starts: the end of the last completed one. */
export async function lastReconciledTo(db: Db, programId: string, gateway: string): Promise<Date | null> {
  const [row] = await db
    .select({ to: sql<string | null>`max(${reconcileRuns.rangeTo})::text` })
    .from(reconcileRuns)
    .where(and(eq(reconcileRuns.programId, programId), eq(reconcileRuns.gateway, gateway), eq(reconcileRuns.trigger, 'schedule'), eq(reconcileRuns.status, 'completed')));
  return row?.to ? new Date(row.to) : null;
}

export type GatewayReconcileStatus = {
  lastReconciledTo: Date | null;
  lastRunAt: Date | null;
  lastRunStatus: string | null;
  lastRunError: string | null;
  missingLastRun: number | null;
  missingLast7Days: number;
  /** The span of the runs of the last 7 days that found missing events (for the warning). */
  missingBetween: { from: Date; to: Date } | null;
};

/** Per gateway of the program, what its reconciles did (gateways never reconciled are absent). */
export async function reconcileStatus(db: Db, programId: string, now = new Date()): Promise<Map<string, GatewayReconcileStatus>> {
  const weekAgo = new Date(now.getTime() - 7 * 86_400_000);
  const [recent, cursors] = await Promise.all([
    db
      .select()
      .from(reconcileRuns)
      .where(and(eq(reconcileRuns.programId, programId), gte(reconcileRuns.startedAt, weekAgo)))
      .orderBy(desc(reconcileRuns.startedAt), desc(reconcileRuns.id)),
    db
      .select({ gateway: reconcileRuns.gateway, to: sql<string>`max(${reconcileRuns.rangeTo})::text` })
      .from(reconcileRuns)
      .where(and(eq(reconcileRuns.programId, programId), eq(reconcileRuns.trigger, 'schedule'), eq(reconcileRuns.status, 'completed')))
      .groupBy(reconcileRuns.gateway),
  ]);
  const out = new Map<string, GatewayReconcileStatus>();
  const entry = (gateway: string) => {
    let e = out.get(gateway);
    if (!e) {
      e = { lastReconciledTo: null, lastRunAt: null, lastRunStatus: null, lastRunError: null, missingLastRun: null, missingLast7Days: 0, missingBetween: null };
      out.set(gateway, e);
    }
    return e;
  };
  for (const c of cursors) entry(c.gateway).lastReconciledTo = new Date(c.to);
  for (const r of recent) {
    const e = entry(r.gateway);
    // the newest run that is not running still: the last one that said something
    if (e.lastRunAt === null && r.status !== 'running') {
      e.lastRunAt = r.finishedAt ?? r.startedAt;
      e.lastRunStatus = r.status;
      e.lastRunError = r.error;
      e.missingLastRun = r.missing;
    }
    e.missingLast7Days += r.missing;
    if (r.missing > 0) {
      const b = e.missingBetween;
      e.missingBetween = { from: !b || r.rangeFrom < b.from ? r.rangeFrom : b.from, to: !b || r.rangeTo > b.to ? r.rangeTo : b.to };
    }
  }
  return out;
}

/** Delete runs past the retention; how many went. */
export async function pruneRuns(db: Db, now = new Date(), days = RECONCILE_RUN_RETENTION_DAYS): Promise<number> {
  const gone = await db.delete(reconcileRuns).where(lt(reconcileRuns.startedAt, new Date(now.getTime() - days * 86_400_000)));
  return gone.rowCount ?? 0;
}

/**
 * Whether the ledger already holds what an event made from a gateway object says: a payment known
 * by any of its refs, a refund by its id, a dispute by its id in that status. Such an event was
 * delivered by webhook under another event id.
 */
export async function ledgerHas(
  db: Db,
  programId: string,
  gateway: string,
  made: { kind: 'payment' | 'refund' | 'dispute'; refs: string[]; status?: string },
): Promise<boolean> {
  if (!made.refs.length) return false;
  if (made.kind === 'payment') {
    const rows = await db
      .select({ ref: transactionRefs.ref })
      .from(transactionRefs)
      .where(and(eq(transactionRefs.programId, programId), inArray(transactionRefs.ref, made.refs)))
      .limit(1);
    return rows.length > 0;
  }
  if (made.kind === 'refund') {
    const rows = await db
      .select({ id: refunds.id })
      .from(refunds)
      .where(and(eq(refunds.programId, programId), eq(refunds.gateway, gateway), eq(refunds.refundId, made.refs[0]!)))
      .limit(1);
    return rows.length > 0;
  }
  const rows = await db
    .select({ id: disputes.id })
    .from(disputes)
    .where(
      and(
        eq(disputes.programId, programId),
        eq(disputes.gateway, gateway),
        eq(disputes.disputeId, made.refs[0]!),
        made.status ? eq(disputes.status, made.status) : undefined,
      ),
    )
    .limit(1);
  return rows.length > 0;
}
