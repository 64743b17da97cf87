// Browser tracking, off unless a program turns it on. GET /js/po.js keeps a referral link visit's code
// (`?ref=CODE`, the program's referral_parameter) in a first-party cookie for the program's
// cookie_lifetime_days (reporting the visit to POST /v1/js/visits, a link's click count), and defines
// po(): po('customers', 'signup', { data }) posts to POST
// /v1/js/customers with that code, po('transactions', 'create', { data }) to POST /v1/js/transactions,
// both with the program's public key. Browsers are not to be trusted: rewards start in review, dates
// are the server's, each client address is rate limited, and a customer a browser creates is never
// matched by email nor has an existing customer's partner set (anyone can read the public key off the
// page). docs/attribution.md says where a referral link stands among the other ways a sale is credited.
import express, { Router, type Request, type Response } from 'express';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { emit } from '../../db/outbox.js';
import type { ProgramRulesSource } from '../../db/programs.js';
import { customers, partnerReferralLinks, partners, programs } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { ok, parse } from './respond.js';
import { createTransaction } from './transactions.js';

/** The cookie po.js keeps the code in: Partnero's name, so a site moving over keeps its visitors' codes. */
export const REFERRAL_COOKIE = 'partnero_partner';
export const DEFAULT_REFERRAL = { parameter: 'ref', days: 30 };

/** The snippet, with a program's referral parameter and cookie lifetime (JSON-encoded: never code). */
export function snippet(settings: { parameter: string; days: number }): string {
  return `/* Partner Ledger browser tracking: <script src="https://HOST/js/po.js?key=PUBLIC_KEY" async></script> */
(function () {
  var script = document.currentScript;
  var src = new URL(script ? script.src : location.href, location.href);
  var key = (script && script.getAttribute('data-key')) || src.searchParams.get('key') || window.PO_PUBLIC_KEY;
  var queued = (window.po && window.po.q) || [];
  var PARAMETER = ${JSON.stringify(settings.parameter)}, DAYS = ${JSON.stringify(settings.days)}, COOKIE = ${JSON.stringify(REFERRAL_COOKIE)};
  function readCode() {
    var parts = document.cookie ? document.cookie.split('; ') : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === COOKIE) { try { return decodeURIComponent(parts[i].slice(eq + 1)); } catch (e) { return null; } }
    }
    return null;
  }
  // a visit through a referral link: the latest link's code is kept, for the program's cookie lifetime
  var visited = new URLSearchParams(location.search).get(PARAMETER);
  if (visited && visited.length <= 255) {
    document.cookie = COOKIE + '=' + encodeURIComponent(visited) + '; Max-Age=' + DAYS * 86400 + '; Path=/; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
    if (key) post('/v1/js/visits', { referral_code: visited }).catch(function () {});
  }
  function post(path, body) {
    return fetch(new URL(path, src).toString(), {
      method: 'POST',
      mode: 'cors',
      keepalive: true,
      headers: { 'content-type': 'application/json', 'x-public-key': key },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }
  function po(resource, action, options) {
    var data = (options && options.data) || {};
    if (resource === 'transactions' && action === 'create') return post('/v1/js/transactions', data);
    if (resource === 'customers' && action === 'signup') {
      var body = {};
      for (var k in data) if (Object.prototype.hasOwnProperty.call(data, k)) body[k] = data[k];
      body.referral_code = readCode();
      return post('/v1/js/customers', body);
    }
    return Promise.reject(new Error('po: unsupported call'));
  }
  window.po = po;
  queued.forEach(function (args) { po.apply(null, args); });
})();
`;
}

const text = (max = 255) => z.string().trim().min(1).max(max);
/** The body of po('customers', 'signup'): Partnero's fields; `tags` and others are accepted and not kept. */
export const BrowserSignup = z.object({
  key: text()
    .regex(/^[^/?#\s]+$/, 'no spaces, slashes, ? or #')
    // the name of a transaction-based record ({customer_key}__pkey_{partner_key}): never a browser's to take
    .refine((k) => !k.includes('__pkey_'), 'a customer key without "__pkey_"'),
  email: z.email().max(320).nullish(),
  name: text().nullish(),
  surname: text().nullish(),
  /** The referral link visit's code the snippet read from its cookie. */
  referral_code: text().nullish(),
});

/** A visit through a referral link, as po.js reports it. */
export const BrowserVisit = z.object({ referral_code: text() });

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

/**
 * What a referral code names: a partner's key, a referral link's key, a partner's referral code
 * (affiliate programs); a customer's key (refer-a-friend). Unknown or deleted: nobody.
 */
async function referrerOf(db: Db, program: { id: string; type: string }, code: string): Promise<{ partnerId: string | null; referringCustomerId: string | null }> {
  const none = { partnerId: null, referringCustomerId: null };
  if (program.type === 'refer_a_friend') {
    const [c] = await db
      .select({ id: customers.id })
      .from(customers)
      .where(and(eq(customers.programId, program.id), eq(customers.key, code), eq(customers.perPartner, false), isNull(customers.deletedAt)));
    return c ? { partnerId: null, referringCustomerId: c.id } : none;
  }
  const byColumn = async (column: typeof partners.key | typeof partners.referralCode) =>
    (await db.select({ id: partners.id }).from(partners).where(and(eq(partners.programId, program.id), eq(column, code), isNull(partners.deletedAt))))[0];
  const link = async () =>
    (
      await db
        .select({ id: partners.id })
        .from(partnerReferralLinks)
        .innerJoin(partners, eq(partners.id, partnerReferralLinks.partnerId))
        .where(and(eq(partnerReferralLinks.programId, program.id), eq(partnerReferralLinks.key, code), isNull(partners.deletedAt)))
    )[0];
  // the order a payment's partner key is read in (core/plan.ts referrerByKey), the referral code last
  const p = (await byColumn(partners.key)) ?? (await link()) ?? (await byColumn(partners.referralCode));
  if (p) return { partnerId: p.id, referringCustomerId: null };
  return none;
}

export function jsTrackingRouter(deps: { db: Db; programs: ProgramRulesSource; bodyLimit: number; perMinute: number }) {
  const router = Router();
  const limited = rateLimiter(deps.perMinute);
  const json = express.json({ limit: Math.min(deps.bodyLimit, 65_536), type: () => true });

  router.get('/js/po.js', async (req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    // with ?key= the snippet carries that program's referral parameter and cookie lifetime
    const publicKey = typeof req.query.key === 'string' && req.query.key.length <= 100 ? req.query.key : null;
    const [row] = publicKey
      ? await deps.db
          .select({ parameter: programs.referralParameter, days: programs.cookieLifetimeDays })
          .from(programs)
          .where(eq(programs.publicKey, publicKey))
      : [];
    res.setHeader('cache-control', row ? 'public, max-age=300' : 'public, max-age=3600');
    res.type('application/javascript').send(snippet(row ?? DEFAULT_REFERRAL));
  });

  for (const path of ['/v1/js/transactions', '/v1/js/customers', '/v1/js/visits']) {
    router.options(path, (_req, res) => {
      cors(res);
      res.status(204).end();
    });
  }

  /** The program of the public key a browser sent, after the rate limit and the program's switch. */
  async function publicProgram(req: Request, res: Response) {
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
    return program;
  }

  router.post('/v1/js/transactions', json, async (req: Request, res: Response) => {
    const program = await publicProgram(req, res);
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

  // A visit through a referral link: its click count grows (a code that names no link counts nothing).
  // Anyone with the public key can report visits, so the count is rough and decides nothing.
  router.post('/v1/js/visits', json, async (req: Request, res: Response) => {
    const program = await publicProgram(req, res);
    const { public_key: _k, ...raw } = (req.body ?? {}) as Record<string, unknown>;
    const body = parse(BrowserVisit, raw, 'visit');
    await deps.db
      .update(partnerReferralLinks)
      .set({ clicks: sql`${partnerReferralLinks.clicks} + 1` })
      .where(and(eq(partnerReferralLinks.programId, program.id), eq(partnerReferralLinks.key, body.referral_code)));
    ok(res, { received: true }, 202);
  });

  // A signup: the customer is created under the key the merchant's site names (the key its backend
  // later gives the gateway), linked to whoever the visit's referral code names. A customer that
  // exists is left as it is (a browser never links nor re-links one); an unknown or absent code
  // records the customer linked to nobody. The answer is the same either way: the page learns
  // neither whether the key existed nor who was credited.
  router.post('/v1/js/customers', json, async (req: Request, res: Response) => {
    const program = await publicProgram(req, res);
    const { public_key: _k, ...raw } = (req.body ?? {}) as Record<string, unknown>;
    const body = parse(BrowserSignup, raw, 'customer');
    const link = body.referral_code ? await referrerOf(deps.db, program, body.referral_code) : { partnerId: null, referringCustomerId: null };
    const linked = !!(link.partnerId || link.referringCustomerId);
    await deps.db.transaction(async (tx) => {
      const made = await tx
        .insert(customers)
        .values({
          programId: program.id,
          key: body.key,
          email: body.email ?? null,
          name: body.name ?? null,
          surname: body.surname ?? null,
          partnerId: link.partnerId,
          referringCustomerId: link.referringCustomerId,
          origin: 'browser',
          linkedBy: linked ? 'referral_link' : null,
        })
        .onConflictDoNothing({ target: [customers.programId, customers.key] })
        .returning({ key: customers.key });
      if (made.length) await emit(tx, program.id, [{ event: 'customer.created', entityKey: body.key }]);
    });
    ok(res, { key: body.key, received: true }, 201);
  });
  return router;
}
