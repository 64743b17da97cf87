// Gateway webhooks: verify on the raw body, keep the delivery in the inbox, queue it, then answer.
// 2xx only once both PostgreSQL and Redis have the event; 503 (so the gateway retries) when not.
import express, { Router, type Request, type Response } from 'express';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import type { ProgramDirectory } from '../db/program-directory.js';
import { webhookEvents } from '../db/schema.js';
import { adapterFor } from '../gateways/registry.js';
import { normalize } from '../ingest/normalize.js';
import type { PaymentProducer } from '../queue/producer.js';
import { errorBody } from './errors.js';

export type WebhookDeps = { db: Db; producer: PaymentProducer; programs: ProgramDirectory; bodyLimit: number };

const DELIVERY_HEADERS = ['x-wc-webhook-delivery-id', 'x-wc-webhook-topic', 'x-wc-webhook-id', 'x-wc-webhook-source'];

export function webhooksRouter(deps: WebhookDeps): Router {
  const router = Router();
  router.post(
    '/webhooks/:gateway{/:programId}',
    express.raw({ type: () => true, limit: deps.bodyLimit }),
    async (req: Request, res: Response) => {
      const gateway = String(req.params.gateway);
      const adapter = adapterFor(gateway);
      if (!adapter) {
        res.status(404).json(errorBody('unknown_gateway', `no receiver for "${gateway}"`));
        return;
      }
      let program;
      try {
        program = await deps.programs.get(req.params.programId as string | undefined);
      } catch {
        res.status(503).json(errorBody('store_unavailable', 'the database is not answering; retry later'));
        return;
      }
      if (!program) {
        res.status(404).json(errorBody('program_not_found', 'no such program'));
        return;
      }
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verdict = adapter.verify({ rawBody, headers: req.headers, now: new Date() }, program.gateways[adapter.gateway] as never);
      if (verdict.kind === 'rejected') {
        req.log.warn({ gateway, code: verdict.code }, 'webhook rejected');
        res.status(verdict.status).json(errorBody(verdict.code, verdict.message));
        return;
      }
      if (verdict.kind === 'acknowledged') {
        res.json({ received: true, ignored: verdict.reason });
        return;
      }

      const normalized = normalize(adapter, verdict.payload, program, verdict.livemode);
      const meta: Record<string, string> = { ...verdict.meta };
      for (const h of DELIVERY_HEADERS) {
        const v = req.get(h);
        if (v) meta[h] = v.slice(0, 255);
      }
      let inboxId: bigint;
      let requeue = false;
      try {
        const [row] = await deps.db
          .insert(webhookEvents)
          .values({
            programId: program.id,
            gateway,
            eventId: verdict.eventId,
            eventType: verdict.eventType,
            livemode: verdict.livemode ?? null,
            rawBody: rawBody.toString('utf8'),
            headers: meta,
            status: normalized.status,
            outcome: normalized.status === 'ignored' ? { ignored: normalized.reason } : null,
            lastError: normalized.status === 'failed' ? normalized.reason : null,
            processedAt: normalized.status === 'queued' ? null : new Date(),
          })
          .onConflictDoNothing({ target: [webhookEvents.programId, webhookEvents.gateway, webhookEvents.eventId] })
          .returning({ id: webhookEvents.id });
        if (row) {
          inboxId = row.id;
        } else {
          // a redelivery: only one whose queueing failed earlier still needs the queue
          const [existing] = await deps.db
            .select({ id: webhookEvents.id, status: webhookEvents.status })
            .from(webhookEvents)
            .where(
              sql`${webhookEvents.programId} = ${program.id} and ${webhookEvents.gateway} = ${gateway} and ${webhookEvents.eventId} = ${verdict.eventId}`,
            );
          if (!existing || existing.status !== 'received' || normalized.status !== 'queued') {
            res.json({ received: true, duplicate: true });
            return;
          }
          inboxId = existing.id;
          requeue = true;
        }
      } catch (err) {
        req.log.error({ gateway, err: (err as Error).message }, 'inbox unavailable');
        res.status(503).json(errorBody('store_unavailable', 'the database is not answering; retry later'));
        return;
      }

      if (normalized.status !== 'queued') {
        res.json({ received: true, status: normalized.status, reason: normalized.reason });
        return;
      }
      try {
        await deps.producer.add(
          { programId: program.id, inboxId: inboxId.toString(), source: 'webhook', events: normalized.events },
          { gateway, eventId: verdict.eventId },
        );
      } catch (err) {
        // kept in the inbox as received: the gateway's retry (or the sweeper) queues it later
        await deps.db
          .update(webhookEvents)
          .set({ status: 'received' })
          .where(sql`${webhookEvents.id} = ${inboxId} and ${webhookEvents.status} = 'queued'`)
          .catch(() => {});
        req.log.error({ gateway, err: (err as Error).message }, 'queue unavailable');
        res.status(503).json(errorBody('queue_unavailable', 'the queue is not answering; retry later'));
        return;
      }
      if (requeue) {
        await deps.db
          .update(webhookEvents)
          .set({ status: 'queued' })
          .where(sql`${webhookEvents.id} = ${inboxId} and ${webhookEvents.status} = 'received'`)
          .catch(() => {}); // the job is queued; the sweeper tolerates a stale status
      }
      res.json({ received: true });
    },
  );
  return router;
}
