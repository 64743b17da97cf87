// Gateway webhooks: verify on the raw body, keep the delivery in the inbox, queue it, then answer.
// 2xx only once both PostgreSQL and Redis have the event; 503 (so the gateway retries) when not.
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Db } from '../db/client.js';
import type { ProgramDirectory } from '../db/program-directory.js';
import { arrivalState, findDelivery, markQueued, markReceived } from '../db/inbox.js';
import { webhookRejections } from '../db/schema.js';
import { dataException, sqlState, storeUnavailable } from '../db/store-errors.js';
import { adapterFor } from '../gateways/registry.js';
import { normalize } from '../ingest/normalize.js';
import type { InboxRow } from '../ingest/grouped-writes.js';
import type { Group } from '../write-group.js';
import type { Metrics, WebhookOutcome } from '../metrics.js';
import type { PaymentProducer } from '../queue/producer.js';
import { errorBody } from './errors.js';

export type WebhookDeps = {
  db: Db;
  /** Inbox inserts, grouped across concurrent requests. */
  inbox: Group<InboxRow, bigint | null>;
  producer: PaymentProducer;
  programs: ProgramDirectory;
  bodyLimit: number;
  metrics?: Metrics;
  /** Where refused deliveries are noted for the integration status. */
  rejections?: RejectionRecorder;
  /** The service's clock, which signature timestamps are judged by (default: the host's). */
  now?: () => Date;
};

type Rejection = { programId: string; gateway: string; code: string; message: string; receivedAt: Date };

/**
 * Notes refused deliveries (bad signature, wrong credentials ...) in webhook_rejections without
 * touching the receiver's answer: rows are buffered and written in one insert a second later, at
 * most `maxPerFlush` of them, so a flood of forged requests costs one small write a second. A
 * database error loses the rows, never the response.
 */
export class RejectionRecorder {
  private pending: Rejection[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly opts: { flushMs?: number; maxPerFlush?: number; onUnrecorded?: (n: number) => void } = {},
  ) {}

  record(r: Omit<Rejection, 'receivedAt'>): void {
    if (this.pending.length >= (this.opts.maxPerFlush ?? 100)) {
      this.opts.onUnrecorded?.(1);
      return;
    }
    this.pending.push({ ...r, message: r.message.slice(0, 500), receivedAt: new Date() });
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.opts.flushMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Write what is buffered now (close, tests). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.pending.splice(0);
    if (!rows.length) return this.flushing;
    this.flushing = this.flushing.then(() =>
      this.db
        .insert(webhookRejections)
        .values(rows)
        .then(() => undefined)
        .catch(() => this.opts.onUnrecorded?.(rows.length)),
    );
    return this.flushing;
  }

  close(): Promise<void> {
    return this.flush();
  }
}

const DELIVERY_HEADERS = ['x-wc-webhook-delivery-id', 'x-wc-webhook-topic', 'x-wc-webhook-id', 'x-wc-webhook-source'];

const QUEUED_BODY = Buffer.from(JSON.stringify({ received: true }));

/**
 * The answer to nearly every delivery, written as it is (no serializing, no ETag: nobody caches it);
 * the content type exactly as every other JSON answer of the service (src/http/app.ts).
 */
function answerQueued(res: Response) {
  res.status(200).setHeader('content-type', 'application/json');
  res.setHeader('content-length', QUEUED_BODY.length);
  res.end(QUEUED_BODY);
}

/** What became of this delivery, for the metrics. */
const settle = (res: Response, outcome: WebhookOutcome) => void (res.locals.webhookOutcome = outcome);

/** Seconds a 503 asks the gateway to wait before it retries (most retry on their own schedule anyway). */
export const RETRY_AFTER_SECONDS = 30;

/** 503 with Retry-After: nothing of this delivery was kept that the retry will not find, so "send it again". */
function unavailable(res: Response, code: 'store_unavailable' | 'queue_unavailable') {
  const message = code === 'store_unavailable' ? 'the database is not answering; retry later' : 'the queue is not answering; retry later';
  res.status(503).setHeader('retry-after', String(RETRY_AFTER_SECONDS));
  res.json(errorBody(code, message));
}

export function webhooksRouter(deps: WebhookDeps): Router {
  const router = Router();
  // timed from the first byte, before the body is read; counted when the answer is sent
  const measure: RequestHandler = (req, res, next) => {
    const done = deps.metrics?.webhook(String(req.params.gateway));
    if (done) {
      res.once('finish', () => {
        const given = res.locals.webhookOutcome as WebhookOutcome | undefined;
        done(given ?? (res.statusCode >= 500 ? 'unavailable' : 'rejected'));
      });
    }
    next();
  };
  router.post(
    '/webhooks/:gateway{/:programId}',
    measure,
    express.raw({ type: () => true, limit: deps.bodyLimit }),
    async (req: Request, res: Response) => {
      const gateway = String(req.params.gateway);
      const adapter = adapterFor(gateway);
      if (!adapter) {
        settle(res, 'not_found');
        res.status(404).json(errorBody('unknown_gateway', `no receiver for "${gateway}"`));
        return;
      }
      let program;
      try {
        program = await deps.programs.get(req.params.programId as string | undefined);
      } catch {
        unavailable(res, 'store_unavailable');
        return;
      }
      if (!program) {
        settle(res, 'not_found');
        res.status(404).json(errorBody('program_not_found', 'no such program'));
        return;
      }
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const verdict = adapter.verify({ rawBody, headers: req.headers, now: deps.now?.() ?? new Date() }, program.gateways[adapter.gateway] as never);
      if (verdict.kind === 'rejected') {
        settle(res, 'rejected');
        req.log.warn({ gateway, code: verdict.code }, 'webhook rejected');
        deps.metrics?.rejections.inc({ gateway: adapter.gateway, code: verdict.code });
        // never awaited: noting a refusal must not slow or fail the answer
        deps.rejections?.record({ programId: program.id, gateway: adapter.gateway, code: verdict.code, message: verdict.message });
        res.status(verdict.status).json(errorBody(verdict.code, verdict.message));
        return;
      }
      if (verdict.kind === 'acknowledged') {
        settle(res, 'acknowledged');
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
        const id = await deps.inbox.add({
          programId: program.id,
          gateway,
          eventId: verdict.eventId,
          eventType: verdict.eventType,
          livemode: verdict.livemode ?? null,
          rawBody: rawBody.toString('utf8'),
          headers: meta,
          ...arrivalState(normalized),
        });
        if (id !== null) {
          inboxId = id;
        } else {
          // a redelivery: only one whose queueing failed earlier still needs the queue
          const existing = await findDelivery(deps.db, program.id, gateway, verdict.eventId);
          // done already (processed, ignored, failed): nothing to do
          if (!existing || (existing.status !== 'received' && existing.status !== 'queued') || normalized.status !== 'queued') {
            settle(res, 'duplicate');
            res.json({ received: true, duplicate: true });
            return;
          }
          // not done yet: its queueing may have failed (or be failing now, in another request), so
          // this copy is answered 2xx only once the queue surely has the job (adding it is idempotent)
          inboxId = existing.id;
          requeue = true;
        }
      } catch (err) {
        const sqlstate = sqlState(err);
        if (storeUnavailable(err)) {
          // disk full, out of memory, shutting down, read-only, connection lost: the insert was one
          // statement, so nothing of it was kept; the gateway retries once told 503
          req.log.error({ gateway, err: (err as Error).message, sqlstate }, 'inbox unavailable');
          unavailable(res, 'store_unavailable');
          return;
        }
        // PostgreSQL answered and refused this row for good: a 503 would have the gateway retry for days
        if (dataException(err)) {
          settle(res, 'rejected');
          req.log.warn({ gateway, err: (err as Error).message, sqlstate }, 'inbox refused the delivery');
          res.status(400).json(errorBody('invalid_payload', `the delivery holds a value the store cannot keep (SQLSTATE ${sqlstate})`));
          return;
        }
        settle(res, 'error');
        req.log.error({ gateway, err: (err as Error).message, sqlstate }, 'inbox insert failed');
        res.status(500).json(errorBody('internal_error', 'an internal error occurred; it has been logged'));
        return;
      }

      if (normalized.status === 'failed') {
        // bad data never succeeds: its job fails at once (not retried), so the dashboard's failed set shows
        // it with its reason. Best effort: the inbox row says failed with the reason either way
        await deps.producer
          .addUnreadable({ programId: program.id, inboxId: inboxId.toString(), source: 'webhook' }, normalized.reason, {
            gateway,
            eventId: verdict.eventId,
            eventType: verdict.eventType,
          })
          .catch((err: unknown) => req.log.warn({ gateway, err: (err as Error).message }, 'unreadable delivery not put in the failed set'));
      }
      if (normalized.status !== 'queued') {
        settle(res, normalized.status);
        res.json({ received: true, status: normalized.status, reason: normalized.reason });
        return;
      }
      try {
        await deps.producer.add(
          { programId: program.id, inboxId: inboxId.toString(), source: 'webhook', events: normalized.events },
          { gateway, eventId: verdict.eventId, eventType: verdict.eventType },
        );
      } catch (err) {
        // kept in the inbox as received: the gateway's retry (or the sweeper) queues it later
        await markReceived(deps.db, inboxId, { from: 'queued' }).catch(() => {});
        req.log.error({ gateway, err: (err as Error).message }, 'queue unavailable');
        unavailable(res, 'queue_unavailable');
        return;
      }
      if (requeue) {
        await markQueued(deps.db, inboxId).catch(() => {}); // the job is queued; the sweeper tolerates a stale status
      }
      // a copy of an event not done yet: the queue has it now, and it is still a duplicate
      settle(res, requeue ? 'duplicate' : 'queued');
      if (requeue) res.json({ received: true, duplicate: true });
      else answerQueued(res);
    },
  );
  return router;
}
