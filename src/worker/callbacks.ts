// Completion callbacks: the run's result POSTed to the merchant's URL, signed with the program's
// signing secret (header `Signature: hex(HMAC-SHA256(secret, raw body))`), retried with backoff.
import { createHmac } from 'node:crypto';
import type { Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { bulkRuns, programs } from '../db/schema.js';
import { runView } from '../http/api/bulk.js';
import type { BulkJobData } from '../queue/queues.js';

export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export async function deliverBulkCallback(db: Db, data: BulkJobData, job: Job): Promise<{ status: number }> {
  const [row] = await db
    .select({ run: bulkRuns, secret: programs.signingSecret })
    .from(bulkRuns)
    .innerJoin(programs, eq(programs.id, bulkRuns.programId))
    .where(eq(bulkRuns.id, data.runId));
  if (!row?.run.callbackUrl) return { status: 0 };
  const body = JSON.stringify({ event: 'bulk_run.completed', created_at: new Date().toISOString(), data: runView(row.run) });
  let status = 0;
  let failure: string | null = null;
  try {
    const res = await fetch(row.run.callbackUrl, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'PartnerLedger-Callback/1',
        signature: sign(row.secret, body),
        'x-partner-ledger-delivery': String(job.id),
        'x-partner-ledger-timestamp': String(Math.floor(Date.now() / 1000)),
      },
    });
    status = res.status;
    await res.body?.cancel().catch(() => {});
    if (status < 200 || status >= 300) failure = `HTTP ${status}`;
  } catch (err) {
    failure = (err as Error).name === 'TimeoutError' ? 'timed out after 10 s' : (err as Error).message;
  }
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  await db
    .update(bulkRuns)
    .set({ callbackStatus: failure ? (last ? `failed: ${failure}` : `retrying: ${failure}`) : 'delivered' })
    .where(eq(bulkRuns.id, data.runId));
  if (failure) throw new Error(`callback to ${new URL(row.run.callbackUrl).host}: ${failure}`);
  return { status };
}
