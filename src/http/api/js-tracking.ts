// Browser tracking, off unless a program turns it on: GET /js/po.js defines
// po('transactions', 'create', { data }) which posts to POST /v1/js/transactions with the program's
// public key. Browsers are not to be trusted: rewards start in review, dates are the server's, each
// client address is rate limited, and a customer a browser creates is never matched by email nor has
// an existing customer's partner set (anyone can read the public key off the page).
import express, { Router, type Request, type Response } from 'express';
import { eq } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import type { ProgramRulesSource } from '../../db/programs.js';
import { programs } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { ok } from './respond.js';
import { createTransaction } from './transactions.js';

const SNIPPET = `/* Partner Ledger browser tracking: <script src="https://HOST/js/po.js" data-key="PUBLIC_KEY" async></script> */
(function () {
  var script = document.currentScript;
  var endpoint = new URL('/v1/js/transactions', script ? script.src : location.href).toString();
  var key = (script && script.getAttribute('data-key')) || window.PO_PUBLIC_KEY;
  var queued = (window.po && window.po.q) || [];
  function po(resource, action, options) {
    if (resource !== 'transactions' || action !== 'create') return Promise.reject(new Error('po: unsupported call'));
    return fetch(endpoint, {
      method: 'POST',
      mode: 'cors',
      keepalive: true,
      headers: { 'content-type': 'application/json', 'x-public-key': key },
      body: JSON.stringify((options && options.data) || {})
    }).then(function (r) { return r.json(); });
  }
  window.po = po;
  queued.forEach(function (args) { po.apply(null, args); });
})();
`;

/** A fixed window per client address, in this process's memory. */
export function rateLimiter(perMinute: number) {
  const windows = new Map<string, { start: number; count: number }>();
  return (client: string, now = Date.now()): number | null => {
    const w = windows.get(client);
    if (!w || now - w.start >= 60_000) {
      if (windows.size > 50_000) windows.clear(); // bounded memory under a flood of addresses
      windows.set(client, { start: now, count: 1 });
      return null;
    }
    w.count++;
    return w.count > perMinute ? Math.ceil((w.start + 60_000 - now) / 1000) : null;
  };
}

function cors(res: Response) {
  res.setHeader('access-control-allow-origin', '*');
  res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
  res.setHeader('access-control-allow-headers', 'content-type, x-public-key');
  res.setHeader('access-control-max-age', '600');
}

export function jsTrackingRouter(deps: { db: Db; programs: ProgramRulesSource; bodyLimit: number; perMinute: number }) {
  const router = Router();
  const limited = rateLimiter(deps.perMinute);

  router.get('/js/po.js', (_req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('cache-control', 'public, max-age=3600');
    res.type('application/javascript').send(SNIPPET);
  });

  router.options('/v1/js/transactions', (_req, res) => {
    cors(res);
    res.status(204).end();
  });

  router.post('/v1/js/transactions', express.json({ limit: Math.min(deps.bodyLimit, 65_536), type: () => true }), async (req: Request, res: Response) => {
    cors(res);
    const wait = limited(req.ip ?? 'unknown');
    if (wait !== null) {
      res.setHeader('retry-after', String(wait));
      throw new ApiError(429, 'rate_limited', 'too many requests from this address; retry later');
    }
    const publicKey = req.get('x-public-key') ?? (req.body as { public_key?: unknown })?.public_key;
    const [row] =
      typeof publicKey === 'string' && publicKey.length <= 100
        ? await deps.db.select({ id: programs.id, jsTracking: programs.jsTracking }).from(programs).where(eq(programs.publicKey, publicKey))
        : [];
    if (!row) throw new ApiError(401, 'invalid_public_key', 'the public key is not valid');
    if (!row.jsTracking) throw new ApiError(403, 'js_tracking_disabled', 'browser tracking is off for this program');
    const program = await deps.programs(row.id);
    if (!program) throw new ApiError(401, 'invalid_public_key', 'the public key is not valid');
    // a browser may not back-date a sale or declare it unrewarded
    const { created_at: _c, rewardable: _r, public_key: _k, ...body } = (req.body ?? {}) as Record<string, unknown>;
    const { key, created } = await createTransaction(deps.db, program, body, {
      eventType: 'js.transactions.create',
      holdForReview: true,
      fromBrowser: true,
    });
    // the browser learns that the sale was received, not who earned what
    ok(res, { key, received: true }, created ? 201 : 200);
  });
  return router;
}
