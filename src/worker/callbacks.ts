// Completion callbacks: the run's result POSTed to the merchant's URL through the outbound webhook
// sender, so signed and checked the same way (`Signature: hex(HMAC-SHA256(program signing secret,
// raw body))`, a delivery id that stays the same across retries, a timestamp, 10 s, public
// addresses only), and retried with backoff by the callbacks queue.
import type { Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { bulkRuns, programs } from '../db/schema.js';
import { runView } from '../views/bulk.js';
import { timestamp } from '../views/time.js';
import type { BulkJobData } from '../queue/queues.js';
import { sendSigned } from '../outbound/send.js';
import type { Resolver, UrlPolicy } from '../outbound/url-policy.js';

export { sign } from '../outbound/send.js';

export const BULK_CALLBACK_EVENT = 'bulk_run.completed';

export type CallbackOptions = { policy: UrlPolicy; resolver?: Resolver; timeoutMs?: number };

export async function deliverBulkCallback(
  db: Db,
  data: BulkJobData,
  job: Pick<Job, 'id' | 'attemptsMade' | 'opts'>,
  options: CallbackOptions = { policy: { allowLoopback: false } },
): Promise<{ status: number }> {
  const [row] = await db
    .select({ run: bulkRuns, secret: programs.signingSecret })
    .from(bulkRuns)
    .innerJoin(programs, eq(programs.id, bulkRuns.programId))
    .where(eq(bulkRuns.id, data.runId));
  if (!row?.run.callbackUrl) return { status: 0 };
  const body = JSON.stringify({ event: BULK_CALLBACK_EVENT, created_at: timestamp(row.run.completedAt ?? new Date()), data: runView(row.run) });
  const result = await sendSigned({
    url: row.run.callbackUrl,
    secret: row.secret,
    body,
    id: String(job.id ?? `callback-${data.runId}`),
    event: BULK_CALLBACK_EVENT,
    policy: options.policy,
    resolver: options.resolver,
    timeoutMs: options.timeoutMs,
  });
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const failure = result.error;
  await db
    .update(bulkRuns)
    .set({ callbackStatus: failure ? (last ? `failed: ${failure}` : `retrying: ${failure}`) : 'delivered' })
    .where(eq(bulkRuns.id, data.runId));
  if (failure) throw new Error(`callback to ${new URL(row.run.callbackUrl).host}: ${failure}`);
  return { status: result.status ?? 0 };
}
