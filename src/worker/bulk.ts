// Bulk runs: each item becomes a transaction (or corrects the one its tid names), through the
// same ledger as every other payment. Progress is saved as it goes; a restarted run resumes.
import { detailOf } from '../core/errors.js';
import type { Queue } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import { MoneyError } from '../core/money.js';
import { PaymentFact } from '../core/payment-event.js';
import type { ProgramRules } from '../core/program.js';
import type { Db } from '../db/client.js';
import { applyEvents, correctPaymentAmount, LedgerDataError } from '../db/ledger.js';
import { bulkRuns, transactions } from '../db/schema.js';
import type { BulkItem, StoredBulkItem } from '../views/bulk.js';
import { callbackJobOptions, type BulkJobData } from '../queue/queues.js';

const SAVE_EVERY = 50;

/** A bulk item's date: ISO (with or without zone), `YYYY-MM-DD HH:mm[:ss]`, a day, or unix seconds; UTC. */
function itemDate(date: BulkItem['date'], now: Date): Date {
  if (date === null || date === undefined) return now;
  if (typeof date === 'number') return new Date(date * 1000);
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(date) ? date : `${date.replace(' ', 'T')}${date.length > 10 ? '' : 'T00:00:00'}Z`;
  return new Date(text);
}

export async function processBulkRun(
  deps: { db: Db; programs: (id: string) => Promise<ProgramRules | null>; callbacks: Queue },
  data: BulkJobData,
): Promise<{ succeeded: number; failed: number }> {
  const { db } = deps;
  const [run] = await db.select().from(bulkRuns).where(eq(bulkRuns.id, data.runId));
  if (!run) throw new LedgerDataError(`bulk run ${data.runId} does not exist`);
  if (run.status === 'completed') return { succeeded: run.succeeded, failed: run.failed };
  const program = await deps.programs(run.programId);
  if (!program) throw new LedgerDataError(`program ${run.programId} does not exist`);
  await db.update(bulkRuns).set({ status: 'running' }).where(eq(bulkRuns.id, run.id));

  const items = run.items as StoredBulkItem[];
  const errors = [...(run.errors as { index: number; tid: string | null; reason: string }[])];
  let { processed, succeeded, failed } = run;
  const save = () =>
    db.update(bulkRuns).set({ processed, succeeded, failed, errors }).where(eq(bulkRuns.id, run.id));

  for (; processed < items.length; processed++) {
    const { index, item, error, tid } = items[processed]!;
    try {
      if (!item) throw new LedgerDataError(error ?? 'invalid item');
      const key = item.tid ?? `bulk_${run.id}_${index}`;
      // as sent: in cents, named so
      const details = { subtotal_cents: item.subtotal ?? null, tax_cents: item.tax ?? null, bulk_run: run.id };
      const [existing] = item.tid
        ? await db.select({ id: transactions.id }).from(transactions).where(sql`${transactions.programId} = ${program.id} and ${transactions.key} = ${key}`)
        : [];
      if (existing) {
        await correctPaymentAmount(db, program, key, { amountMinor: BigInt(item.total), details });
      } else {
        const fact = PaymentFact.parse({
          kind: 'payment',
          gateway: 'api',
          eventId: `bulk-${run.id}-${index}`,
          eventType: 'api.transactions.bulk',
          occurredAt: itemDate(item.date, run.createdAt).toISOString(),
          transactionKey: key,
          amount: { minor: String(item.total), currency: program.currency, isCurrency: program.isCurrency },
          tax: item.tax === null || item.tax === undefined ? undefined : String(item.tax),
          customer: { key: item.cid },
          createCustomer: false,
          details,
        });
        await applyEvents(db, program, [fact]);
      }
      succeeded++;
    } catch (err) {
      // one bad item never stops the run; anything else (the database gone) retries the job
      if (!(err instanceof LedgerDataError || err instanceof MoneyError || (err as Error).name === 'ZodError')) throw err;
      failed++;
      errors.push({ index, tid: item?.tid ?? tid ?? null, reason: detailOf(err) });
    }
    if ((processed + 1) % SAVE_EVERY === 0) await save();
  }
  await db
    .update(bulkRuns)
    .set({ processed, succeeded, failed, errors, status: 'completed', completedAt: new Date(), items: [], callbackStatus: run.callbackUrl ? 'pending' : null })
    .where(eq(bulkRuns.id, run.id));
  if (run.callbackUrl) await deps.callbacks.add('bulk-run-callback', { runId: run.id }, { ...callbackJobOptions, jobId: `callback-${run.id}` });
  return { succeeded, failed };
}
