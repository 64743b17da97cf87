// The queue dashboard (bull-board) at /admin/queues: every queue of the service, failed jobs with
// their reason, retry one or all. Behind HTTP Basic auth, closed until DASHBOARD_USER and
// DASHBOARD_PASSWORD are set; a program API key does not open it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import {
  BULK_RUNS_QUEUE,
  CALLBACKS_QUEUE,
  MAINTENANCE_QUEUE,
  OUTBOUND_WEBHOOKS_QUEUE,
  PAYMENT_EVENTS_QUEUE,
  QUEUE_NAMES,
  queueDefaults,
} from '../queue/queues.js';
import { errorBody } from './errors.js';

export const DASHBOARD_PATH = '/admin/queues';

const DESCRIPTIONS: Record<string, string> = {
  [PAYMENT_EVENTS_QUEUE]:
    'One job per gateway event (named "gateway event-type"): enrich from the gateway API, attribute, book. Retrying is safe: the ledger books a payment once.',
  [BULK_RUNS_QUEUE]: 'Bulk transaction runs from POST /v1/transactions/bulk.',
  [CALLBACKS_QUEUE]: 'Completion callbacks of bulk runs.',
  [MAINTENANCE_QUEUE]: 'Periodic work: rewards leaving review, the inbox sweeper, pruning.',
  [OUTBOUND_WEBHOOKS_QUEUE]: "One job per delivery of a commission event to a merchant's webhook subscription.",
};

/**
 * A Queue object for each name (default: every queue in src/queue/queues.ts), for the dashboard and
 * the metrics. They share the given connection and only read or retry: adding is the producers' job.
 */
export function openQueues(
  connection: Redis,
  prefix: string,
  opts: { names?: readonly string[]; failedRetentionDays?: number } = {},
): Queue[] {
  return (opts.names ?? QUEUE_NAMES).map((name) => {
    const q = new Queue(name, { connection, prefix, defaultJobOptions: queueDefaults(opts.failedRetentionDays) });
    q.on('error', () => {}); // surfaces in the dashboard's answers and in /readyz
    return q;
  });
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Equal strings, compared in constant time (digests first, so their lengths leak nothing). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The user and password of an `Authorization: Basic …` header, or null. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** HTTP Basic auth against the configured pair; closed (401, no prompt) while either is unset. */
export function dashboardAuth(user: string | undefined, password: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (!user || !password) {
      res
        .status(401)
        .json(errorBody('dashboard_closed', 'the queue dashboard is closed: set DASHBOARD_USER and DASHBOARD_PASSWORD to open it'));
      return;
    }
    const given = basicCredentials(req.get('authorization'));
    // both compared every time, so the answer time says nothing about which one was wrong
    const userOk = safeEqual(given?.user ?? '', user);
    const passwordOk = safeEqual(given?.password ?? '', password);
    if (!given || !userOk || !passwordOk) {
      res.setHeader('WWW-Authenticate', 'Basic realm="Partner Ledger queues", charset="UTF-8"');
      res.status(401).json(errorBody('unauthorized', 'the queue dashboard needs its HTTP Basic credentials'));
      return;
    }
    next();
  };
}

/**
 * Browsers send Basic credentials with any request to this origin, a forged cross-site form post
 * included: actions (retry, clean, remove) must come from the dashboard's own pages.
 */
const sameOriginActions: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  let crossSite = site !== undefined && site !== 'same-origin' && site !== 'none';
  if (!crossSite && origin && origin !== 'null') {
    try {
      crossSite = new URL(origin).host !== req.get('host');
    } catch {
      crossSite = true;
    }
  }
  if (crossSite) {
    res.status(403).json(errorBody('cross_site_request', 'dashboard actions are accepted from the dashboard only'));
    return;
  }
  next();
};

/**
 * The dashboard loads only what it serves itself (its page links a web font from a third party: not
 * fetched), and no other site may frame it.
 */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  next();
};

export function dashboardRouter(deps: { queues: readonly Queue[]; user: string | undefined; password: string | undefined }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: deps.queues.map(
      (q) =>
        new BullMQAdapter(q, {
          description: DESCRIPTIONS[q.name] ?? '',
          allowRetries: true,
        }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Partner Ledger queues', hideDocsLink: true } },
  });
  const router = Router();
  router.use(DASHBOARD_PATH, dashboardAuth(deps.user, deps.password), sameOriginActions, securityHeaders, serverAdapter.getRouter() as RequestHandler);
  return router;
}
