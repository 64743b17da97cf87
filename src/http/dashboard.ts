// The queue dashboard (bull-board) at /admin/queues: every queue of the service, failed jobs with
// their reason, retry one or all. Behind HTTP Basic auth, closed until DASHBOARD_USER and
// DASHBOARD_PASSWORD are set; a program API key does not open it.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Request, type RequestHandler } from 'express';
import { openQueue, type QueueConnection } from '../queue/backend.js';
import {
  BULK_RUNS_QUEUE,
  CALLBACKS_QUEUE,
  MAINTENANCE_QUEUE,
  OUTBOUND_WEBHOOKS_QUEUE,
  PAYMENT_EVENTS_QUEUE,
  QUEUE_NAMES,
  queueDefaults,
} from '../queue/queues.js';
import { basicCredentials, sameText } from '../gateways/signing.js';
import { errorBody } from './errors.js';

export const DASHBOARD_PATH = '/admin/queues';

const DESCRIPTIONS: Record<string, string> = {
  [PAYMENT_EVENTS_QUEUE]:
    'One job per gateway event (named "gateway event-type"): enrich from the gateway API, attribute, book. Retrying is safe: the ledger books a payment once.',
  [BULK_RUNS_QUEUE]: 'Bulk transaction runs from POST /v1/transactions/bulk.',
  [CALLBACKS_QUEUE]: 'Completion callbacks of bulk runs.',
  [MAINTENANCE_QUEUE]: 'Periodic work: rewards leaving review, the inbox sweeper, the scheduled reconcile, pruning.',
  [OUTBOUND_WEBHOOKS_QUEUE]: "One job per delivery of a commission event to a merchant's webhook subscription.",
};

/**
 * A Queue object for each name (default: every queue in src/queue/queues.ts), for the dashboard and
 * the metrics. They share the given connection and only read or retry: adding is the producers' job.
 */
export function openQueues(
  connection: QueueConnection,
  prefix: string,
  opts: { names?: readonly string[]; failedRetentionDays?: number } = {},
): Queue[] {
  return (opts.names ?? QUEUE_NAMES).map((name) => {
    const q = openQueue(name, connection, prefix, { defaultJobOptions: queueDefaults(opts.failedRetentionDays) });
    q.on('error', () => {}); // surfaces in the dashboard's answers and in /readyz
    return q;
  });
}

/**
 * Whether the request carries the dashboard's configured Basic credentials (never while either is
 * unset). Both parts compared every time, so the answer time says nothing about which one was wrong.
 */
export function hasDashboardCredentials(authorization: string | undefined, user: string | undefined, password: string | undefined): boolean {
  if (!user || !password) return false;
  const given = basicCredentials(authorization);
  const userOk = sameText(given?.user ?? '', user);
  const passwordOk = sameText(given?.password ?? '', password);
  return !!given && userOk && passwordOk;
}

/** Most addresses the failed-login limiter remembers at once (bounded memory under a flood of addresses). */
const MAX_TRACKED_ADDRESSES = 50_000;

/**
 * Failed logins per client address in one-minute windows (fixed, like js-tracking's rateLimiter).
 * Only failures count; once an address has `maxFailures` in its window, it waits for the window's end
 * whatever it sends, the right credentials included.
 */
export function failedLoginLimiter(maxFailures: number, windowMs = 60_000) {
  // in the order their windows started (a new window is re-inserted), so the oldest go first
  const windows = new Map<string, { start: number; failures: number }>();
  const current = (client: string, now: number) => {
    const w = windows.get(client);
    return w && now - w.start < windowMs ? w : null;
  };
  return {
    /** Seconds until this address may try again, or null when it may try now. */
    retryAfter(client: string, now = Date.now()): number | null {
      const w = current(client, now);
      return w && w.failures >= maxFailures ? Math.max(1, Math.ceil((w.start + windowMs - now) / 1000)) : null;
    },
    failed(client: string, now = Date.now()): void {
      const w = current(client, now);
      if (w) {
        w.failures++;
        return;
      }
      windows.delete(client);
      for (const [k, old] of windows) {
        // ended windows first; when none has ended, the oldest window is forgotten
        if (windows.size < MAX_TRACKED_ADDRESSES && now - old.start < windowMs) break;
        windows.delete(k);
      }
      windows.set(client, { start: now, failures: 1 });
    },
  };
}

export const DASHBOARD_FAILED_LOGINS_PER_MINUTE = 10;

type LimitOptions = { failuresPerMinute?: number; now?: () => number };

const clientAddress = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

/**
 * The dashboard's credentials checked for another route (/readyz's details): true only for the right
 * pair. It has a failed-login limit of its own, so it is no way around the dashboard's: a limited
 * address is refused whatever it sends.
 */
export function dashboardCredentialCheck(user: string | undefined, password: string | undefined, opts: LimitOptions = {}) {
  const limiter = failedLoginLimiter(opts.failuresPerMinute ?? DASHBOARD_FAILED_LOGINS_PER_MINUTE);
  const now = opts.now ?? Date.now;
  return (req: Request): boolean => {
    const authorization = req.get('authorization');
    if (authorization === undefined || !user || !password) return false;
    const client = clientAddress(req);
    if (limiter.retryAfter(client, now()) !== null) return false;
    if (hasDashboardCredentials(authorization, user, password)) return true;
    limiter.failed(client, now());
    return false;
  };
}

/**
 * HTTP Basic auth against the configured pair; closed (401, no prompt) while either is unset. An
 * address with 10 failed logins within a minute is answered 429 until its minute is over.
 */
export function dashboardAuth(
  user: string | undefined,
  password: string | undefined,
  opts: LimitOptions = {},
): RequestHandler {
  const limiter = failedLoginLimiter(opts.failuresPerMinute ?? DASHBOARD_FAILED_LOGINS_PER_MINUTE);
  const now = opts.now ?? Date.now;
  return (req, res, next) => {
    if (!user || !password) {
      res
        .status(401)
        .json(errorBody('dashboard_closed', 'the queue dashboard is closed: set DASHBOARD_USER and DASHBOARD_PASSWORD to open it'));
      return;
    }
    const client = clientAddress(req);
    const wait = limiter.retryAfter(client, now());
    if (wait !== null) {
      // checked before the credentials: a limited address learns nothing about its guesses
      res.setHeader('Retry-After', String(wait));
      res.status(429).json(errorBody('too_many_attempts', `too many failed logins from this address; retry in ${wait} s`));
      return;
    }
    const authorization = req.get('authorization');
    if (!hasDashboardCredentials(authorization, user, password)) {
      // a request without credentials (a browser's first one, before its prompt) guesses nothing
      if (authorization !== undefined) limiter.failed(client, now());
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
