// Sending one delivery (an outbox event to one subscription), recording each attempt on its
// webhook_deliveries row, and disabling a subscription whose deliveries have all failed for 5 days
// (db/subscription-health.ts).
import type { Job } from 'bullmq';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { outbox, programs, webhookDeliveries, webhookSubscriptions } from '../db/schema.js';
import { OutboundJobData, outboundJobId, outboundRetryDelay } from '../queue/queues.js';
import { eventBody } from './outbound-events.js';
import { disableIfFailing } from '../db/subscription-health.js';
import { sendSigned } from '../outbound/send.js';
import type { Resolver, UrlPolicy } from '../outbound/url-policy.js';

export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed' | 'cancelled';

export type DeliveryDeps = {
  db: Db;
  policy: UrlPolicy;
  /** The retry delays (the production schedule unless configured): decides `next_retry_at`. */
  schedule: readonly number[];
  resolver?: Resolver;
  timeoutMs?: number;
  now?: () => Date;
};

export type DeliveryJob = Pick<Job, 'id' | 'data' | 'attemptsMade' | 'opts'>;

/**
 * One attempt. A 2xx records the delivery as delivered; anything else records the failure (and
 * when BullMQ will try again) and throws, so the job is retried on the schedule and, after the last
 * attempt, left in the queue's failed set.
 */
export async function processDelivery(deps: DeliveryDeps, job: DeliveryJob): Promise<{ status: DeliveryStatus; responseCode?: number | null }> {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const { deliveryId } = OutboundJobData.parse(job.data);
  const id = BigInt(deliveryId);
  const [row] = await db
    .select({ delivery: webhookDeliveries, subscription: webhookSubscriptions, event: outbox, programType: programs.type })
    .from(webhookDeliveries)
    .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId))
    .innerJoin(outbox, eq(outbox.id, webhookDeliveries.outboxId))
    .innerJoin(programs, eq(programs.id, outbox.programId))
    .where(eq(webhookDeliveries.id, id));
  // gone (its program or subscription was removed for good), or already done by another attempt
  if (!row) return { status: 'cancelled' };
  const { delivery, subscription } = row;
  if (delivery.status === 'delivered' || delivery.status === 'cancelled') return { status: delivery.status };

  const inactive = subscription.deletedAt ? 'deleted' : subscription.disabledAt ? 'disabled' : !subscription.isActive ? 'inactive' : null;
  if (inactive) {
    await db
      .update(webhookDeliveries)
      .set({ status: 'cancelled', nextRetryAt: null, lastError: `not sent: the subscription is ${inactive}` })
      .where(eq(webhookDeliveries.id, id));
    return { status: 'cancelled' };
  }

  const body = JSON.stringify(await eventBody(db, row.event, row.programType, subscription));
  const result = await sendSigned({
    url: subscription.url,
    secret: subscription.secret,
    body,
    id: outboundJobId(deliveryId),
    event: delivery.event,
    policy: deps.policy,
    resolver: deps.resolver,
    timeoutMs: deps.timeoutMs,
    now,
  });
  const at = now();
  const recorded = { attempts: sql`${webhookDeliveries.attempts} + 1`, responseCode: result.status, durationMs: result.durationMs };
  if (result.ok) {
    await db
      .update(webhookDeliveries)
      .set({ ...recorded, status: 'delivered', deliveredAt: at, nextRetryAt: null, lastError: null })
      .where(eq(webhookDeliveries.id, id));
    return { status: 'delivered', responseCode: result.status };
  }
  // BullMQ retries while attemptsMade + 1 < attempts, after the schedule's delay for this attempt
  const willRetry = job.attemptsMade + 1 < (job.opts.attempts ?? 1);
  const nextRetryAt = willRetry ? new Date(at.getTime() + outboundRetryDelay(deps.schedule, job.attemptsMade + 1)) : null;
  await db
    .update(webhookDeliveries)
    .set({ ...recorded, status: willRetry ? 'retrying' : 'failed', nextRetryAt, lastError: result.error?.slice(0, 1000) ?? null })
    .where(eq(webhookDeliveries.id, id));
  await disableIfFailing(db, subscription.id, at, result.error);
  throw new Error(`delivery ${deliveryId} to ${hostOf(subscription.url)}: ${result.error}`);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}
