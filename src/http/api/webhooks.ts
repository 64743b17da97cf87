// /v1/webhooks: a program's outbound webhook subscriptions (Partnero's shape), their deliveries, and
// sending a delivery again. The signing secret (`signature`) is shown in full only when created.
import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Queue } from 'bullmq';
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { NEVER_EMITTED, OUTBOUND_EVENTS } from '../../db/outbox.js';
import { outbox, webhookDeliveries, webhookSubscriptions } from '../../db/schema.js';
import { outboundJobId, outboundJobOptions, type OutboundJobData } from '../../queue/queues.js';
import { failingSince } from '../../db/subscription-health.js';
import { checkUrl, UrlNotAllowed, type Resolver, type UrlPolicy } from '../../outbound/url-policy.js';
import { ApiError } from '../errors.js';
import { listParams, micros, sendRowPage } from './list-page.js';
import { notFound, ok, pagination, parse, parseQuery, timestamp } from './respond.js';

const EventName = z.enum(OUTBOUND_EVENTS, { error: () => `an unknown event; one of ${OUTBOUND_EVENTS.join(', ')}` });
export const CreateWebhook = z.object({
  name: z.string().trim().max(255).nullish(),
  url: z.string().trim().min(1).max(2048),
  events: z.array(EventName).min(1).max(50),
  is_active: z.boolean().nullish(),
});
export const UpdateWebhook = CreateWebhook.partial();
export const ListQuery = z.object(listParams());
export const DeliveriesQuery = z.object({
  ...pagination(50),
  status: z.enum(['pending', 'retrying', 'delivered', 'failed', 'cancelled']).optional(),
});

type Subscription = typeof webhookSubscriptions.$inferSelect;

/** `whsec_…` with the last four characters: enough to tell secrets apart, never enough to sign. */
export const maskSecret = (secret: string) => `${secret.slice(0, 6)}…${secret.slice(-4)}`;

export function webhookView(s: Subscription, opts: { revealSecret?: boolean } = {}) {
  return {
    key: s.key,
    name: s.name,
    url: s.url,
    events: s.events,
    is_active: s.isActive,
    signature: opts.revealSecret ? s.secret : maskSecret(s.secret),
    status: s.deletedAt ? 'deleted' : s.disabledAt ? 'disabled' : s.isActive ? 'active' : 'inactive',
    disabled_at: timestamp(s.disabledAt),
    disabled_reason: s.disabledReason,
    created_at: timestamp(s.createdAt),
    updated_at: timestamp(s.updatedAt),
    deleted_at: timestamp(s.deletedAt),
  };
}

type DeliveryRow = { d: typeof webhookDeliveries.$inferSelect; entityKey: string; eventCreatedAt: Date };
export const deliveryView = ({ d, entityKey, eventCreatedAt }: DeliveryRow) => ({
  id: d.id.toString(),
  event: d.event,
  entity_key: entityKey,
  status: d.status,
  attempts: d.attempts,
  response_code: d.responseCode,
  duration_ms: d.durationMs,
  last_error: d.lastError,
  next_retry_at: timestamp(d.nextRetryAt),
  event_created_at: timestamp(eventCreatedAt),
  created_at: timestamp(d.createdAt),
  delivered_at: timestamp(d.deliveredAt),
});

export type WebhooksDeps = {
  db: Db;
  outbound: {
    /** The outbound-webhooks queue, for sending a delivery again. */
    queue: Queue<OutboundJobData>;
    policy: UrlPolicy;
    schedule?: readonly number[];
    resolver?: Resolver;
  };
};

export function webhooksRouter(deps: WebhooksDeps) {
  const { db } = deps;
  const { policy, resolver } = deps.outbound;
  const router = Router();
  const programId = (res: Response) => (res.locals.program as ProgramRules).id;

  const byKey = async (pid: string, key: string) => {
    const [row] = await db
      .select()
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.programId, pid), eq(webhookSubscriptions.key, key), isNull(webhookSubscriptions.deletedAt)));
    if (!row) throw notFound('webhook', key);
    return row;
  };

  async function allowedUrl(url: string): Promise<string> {
    try {
      await checkUrl(url, policy, resolver);
      return url;
    } catch (err) {
      if (!(err instanceof UrlNotAllowed)) throw err;
      const code = err.reason === 'invalid' ? 'validation_failed' : 'url_not_allowed';
      throw new ApiError(422, code, `url: ${err.message}`, { url: err.message });
    }
  }

  router.post('/v1/webhooks', async (req, res) => {
    const body = parse(CreateWebhook, req.body, 'webhook');
    const url = await allowedUrl(body.url);
    const [row] = await db
      .insert(webhookSubscriptions)
      .values({
        programId: programId(res),
        key: `wh_${randomBytes(8).toString('hex')}`,
        name: body.name ?? '',
        url,
        events: [...new Set(body.events)],
        isActive: body.is_active ?? true,
        secret: `whsec_${randomBytes(24).toString('base64url')}`,
      })
      .returning();
    ok(res, webhookView(row!, { revealSecret: true }), 201);
  });

  router.get('/v1/webhooks', async (req, res) => {
    const q = parseQuery(ListQuery, req.query);
    const listed = and(eq(webhookSubscriptions.programId, programId(res)), isNull(webhookSubscriptions.deletedAt));
    await sendRowPage(req, res, q, {
      db,
      table: webhookSubscriptions,
      createdAt: webhookSubscriptions.createdAt,
      id: webhookSubscriptions.id,
      listed,
      rows: (where, orderBy, limit, offset) =>
        db
          .select({ s: webhookSubscriptions, micros: micros(webhookSubscriptions.createdAt) })
          .from(webhookSubscriptions)
          .where(where)
          .orderBy(...orderBy)
          .limit(limit)
          .offset(offset),
      idOf: (r) => r.s.id,
      data: (served) => served.map((r) => webhookView(r.s)),
    });
  });

  // every event name a subscription accepts, and whether this service ever sends it
  router.get('/v1/webhooks/events', (_req, res) => {
    ok(
      res,
      OUTBOUND_EVENTS.map((name) => ({ name, emitted: !NEVER_EMITTED[name], ...(NEVER_EMITTED[name] ? { why_never: NEVER_EMITTED[name] } : {}) })),
    );
  });

  router.get('/v1/webhooks/:key', async (req, res) => {
    const row = await byKey(programId(res), String(req.params.key));
    const health = await failingSince(db, row.id);
    ok(res, {
      ...webhookView(row),
      last_success_at: timestamp(health.lastSuccessAt),
      // set while every delivery since then has failed: 5 days of it disable the subscription
      failing_since: timestamp(health.failingSince),
    });
  });

  // PATCH, and PUT as the PHP SDK's Webhooks::update sends it
  router.patch('/v1/webhooks/:key', (req, res) => change(req, res));
  router.put('/v1/webhooks/:key', (req, res) => change(req, res));
  async function change(req: Request, res: Response) {
    const body = parse(UpdateWebhook, req.body, 'webhook');
    const row = await byKey(programId(res), String(req.params.key));
    const set: Partial<typeof webhookSubscriptions.$inferInsert> = { updatedAt: new Date() };
    if (body.name !== undefined) set.name = body.name ?? '';
    if (body.url !== undefined) set.url = await allowedUrl(body.url);
    if (body.events !== undefined) set.events = [...new Set(body.events)];
    if (body.is_active !== undefined && body.is_active !== null) {
      set.isActive = body.is_active;
      // turning a disabled subscription on again clears the flag
      if (body.is_active) Object.assign(set, { disabledAt: null, disabledReason: null });
    }
    const [updated] = await db.update(webhookSubscriptions).set(set).where(eq(webhookSubscriptions.id, row.id)).returning();
    ok(res, webhookView(updated!));
  }

  router.delete('/v1/webhooks/:key', async (req, res) => {
    const row = await byKey(programId(res), String(req.params.key));
    const now = new Date();
    const [deleted] = await db
      .update(webhookSubscriptions)
      .set({ deletedAt: now, updatedAt: now })
      .where(eq(webhookSubscriptions.id, row.id))
      .returning();
    ok(res, webhookView(deleted!));
  });

  const selectDeliveries = () =>
    db
      .select({ d: webhookDeliveries, entityKey: outbox.entityKey, eventCreatedAt: outbox.createdAt })
      .from(webhookDeliveries)
      .innerJoin(outbox, eq(outbox.id, webhookDeliveries.outboxId));

  router.get('/v1/webhooks/:key/deliveries', async (req, res) => {
    const q = parseQuery(DeliveriesQuery, req.query);
    const row = await byKey(programId(res), String(req.params.key));
    const where = and(eq(webhookDeliveries.subscriptionId, row.id), q.status ? eq(webhookDeliveries.status, q.status) : undefined);
    const [rows, [counted]] = await Promise.all([
      selectDeliveries()
        .where(where)
        .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
        .limit(q.limit)
        .offset((q.page - 1) * q.limit),
      db.select({ n: sql<number>`count(*)::int` }).from(webhookDeliveries).where(where),
    ]);
    const total = counted?.n ?? 0;
    res.json({
      data: rows.map(deliveryView),
      meta: { current_page: q.page, last_page: Math.max(1, Math.ceil(total / q.limit)), per_page: q.limit, total },
      status: 1,
    });
  });

  // Send a delivery again now, with the same delivery id (whatever its state: failed, delivered ...).
  router.post('/v1/webhooks/:key/deliveries/:id/retry', async (req, res) => {
    const sub = await byKey(programId(res), String(req.params.key));
    const id = String(req.params.id);
    const [found] = /^\d{1,18}$/.test(id)
      ? await selectDeliveries().where(and(eq(webhookDeliveries.id, BigInt(id)), eq(webhookDeliveries.subscriptionId, sub.id)))
      : [];
    if (!found) throw new ApiError(404, 'not_found', `no delivery "${id}" of webhook "${sub.key}"`);
    if (!sub.isActive || sub.disabledAt) {
      throw new ApiError(409, 'webhook_inactive', 'the webhook is inactive or disabled; turn it on (PATCH is_active: true) first');
    }
    const { queue } = deps.outbound;
    const jobId = outboundJobId(found.d.id);
    let state: string;
    try {
      const job = await queue.getJob(jobId);
      state = job ? await job.getState() : 'missing';
      if (state === 'active') throw new ApiError(409, 'delivery_in_progress', 'the delivery is being sent right now');
      await db.update(webhookDeliveries).set({ status: 'pending', nextRetryAt: null }).where(eq(webhookDeliveries.id, found.d.id));
      if (job && (state === 'failed' || state === 'completed')) {
        // the same job again, with a fresh retry schedule; it leaves the failed set
        await job.retry(state, { resetAttemptsMade: true, resetAttemptsStarted: true });
      } else if (job && state === 'delayed') {
        await job.promote();
      } else if (!job || state === 'unknown') {
        await queue.add(found.d.event, { deliveryId: found.d.id.toString() }, { ...outboundJobOptions(deps.outbound.schedule), jobId });
      } // waiting: it is about to be sent anyway
    } catch (err) {
      if (err instanceof ApiError) throw err;
      // the delivery stays pending: the dispatcher queues it again once the queue answers
      throw new ApiError(503, 'queue_unavailable', 'the queue is not answering; the delivery will be sent when it is back');
    }
    const [after] = await selectDeliveries().where(eq(webhookDeliveries.id, found.d.id));
    ok(res, deliveryView(after!), 202);
  });

  return router;
}
