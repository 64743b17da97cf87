// Gateway API outage (the enrich step): Stripe payments whose partner key lives only on the Stripe
// customer, while the (fake) Stripe API answers 500, then hangs past the SDK's timeout, then heals.
// The jobs retry with backoff and succeed, credited to the right partner. Payments whose lookups keep
// failing use up their retry budget and sit in the failed set with a reason a person can read (on the
// job and on the inbox row); replayed once the API is back, they succeed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentJobId } from '../../src/queue/queues.js';
import { delivery, pool, send, type Delivery } from '../support/deliveries.js';
import { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { createPartner, stored } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { gatewayEnv } from '../support/deliveries.js';
import { report } from './harness.js';

const ATTEMPTS = 6;
const BACKOFF_MS = 1000; // 1, 2, 4, 8, 16 s: a 31-second budget
const RECOVERING = 60;
const DOOMED = 12;
/** The outage as the recovering payments see it: 500s, then hangs past the SDK's 10 s timeout. */
const ERRORS_UNTIL_MS = 2500;
const HANGS_UNTIL_MS = 5000;

let svc: TestService;
let api: FakeGatewayApi;
let outageStart = 0;
let healed = false;
const counts = { ok: 0, error500: 0, hung: 0, doomed500: 0 };

const now = () => Date.now() - outageStart;
beforeAll(async () => {
  api = await new FakeGatewayApi(({ method, path }) => {
    const m = /^\/v1\/customers\/([^/]+)$/.exec(path);
    if (method !== 'GET' || !m) return undefined;
    const id = decodeURIComponent(m[1]!);
    // the outage's clock starts at the first lookup, not when the test starts sending: on a loaded
    // machine the worker's first attempts could come after both phases were over (no 500, no hang)
    outageStart ||= Date.now();
    const customer = { id, object: 'customer', email: `${id}@example.com`, metadata: { partner_key: 'ptn_api_outage' } };
    if (id.startsWith('cus_doomed') && !healed) {
      counts.doomed500++;
      return { status: 500, body: { error: { type: 'api_error', message: 'fake outage' } } };
    }
    if (now() < ERRORS_UNTIL_MS || counts.error500 === 0) {
      counts.error500++;
      return { status: 500, body: { error: { type: 'api_error', message: 'fake outage' } } };
    }
    // each phase lasts until a recovering payment's lookup has met it: with every job in its backoff,
    // none may ask within 2.5 s
    if (now() < HANGS_UNTIL_MS || counts.hung === 0) {
      counts.hung++;
      return { status: 200, body: customer, delayMs: 11_000 };
    }
    counts.ok++;
    return { status: 200, body: customer };
  }).start();
  svc = await startTestService(
    { ...gatewayEnv(), STRIPE_API_KEY: 'sk_test_reliability', STRIPE_API_BASE: api.url },
    { paymentJobs: { attempts: ATTEMPTS, backoffMs: BACKOFF_MS } },
  );
  await createPartner(svc.db.db, svc.programId, 'ptn_api_outage');
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

/** A Stripe payment with no partner key of its own: it is on the customer, behind the API. */
function payment(customer: string): Delivery {
  const id = `${customer}_${randomBytes(4).toString('hex')}`;
  return delivery('stripe', `evt_${id}`, {
    id: `evt_${id}`,
    object: 'event',
    api_version: '2025-03-31.basil',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'payment_intent.succeeded',
    data: {
      object: { id: `pi_${id}`, object: 'payment_intent', amount: 5000, amount_received: 5000, currency: 'usd', customer, receipt_email: 'buyer@example.com', status: 'succeeded', metadata: {} },
    },
  });
}

const jobOf = (e: Delivery) => svc.service.producer!.queue.getJob(paymentJobId(svc.programId, 'stripe', e.eventId));
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('gateway API outage during enrichment', () => {
  it('retries through 500s and timeouts, then succeeds; past the retry budget a job fails readably, and a replay succeeds', { timeout: 180_000 }, async () => {
    const tag = randomBytes(3).toString('hex');
    const recovering = Array.from({ length: RECOVERING }, (_, i) => payment(`cus_r${tag}${i}`));
    const doomed = Array.from({ length: DOOMED }, (_, i) => payment(`cus_doomed${tag}${i}`));
    const sendingStarted = Date.now();
    const answers = await pool([...recovering, ...doomed], 8, (e) => send(svc.url, e));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));

    // the recovering ones: processed, credited through the customer's metadata, after retries
    const rows = await Promise.all(recovering.map((e) => svc.settled('stripe', e.eventId, 90_000)));
    expect(rows.map((r) => r.status)).toEqual(rows.map(() => 'processed'));
    const recoveredAfter = (Date.now() - sendingStarted) / 1000;
    const tries = await Promise.all(recovering.map(async (e) => (await jobOf(e))?.attemptsMade ?? 0));
    for (const e of recovering) {
      const t = await stored(svc.db.db, svc.programId, `pi_${e.eventId.slice(4)}`);
      expect(t?.partnerKey).toBe('ptn_api_outage');
      expect(t?.attribution).toMatchObject({ partner_key_place: 'stripe_customer_metadata' });
    }

    // the doomed ones: failed after the whole budget, with a readable reason on the job and the inbox
    const failed = await Promise.all(doomed.map((e) => svc.settled('stripe', e.eventId, 90_000)));
    const failedAfter = (Date.now() - sendingStarted) / 1000;
    const reason = /^partner lookup: Stripe API 500 on GET \/v1\/customers\/cus_doomed\w+ \(after 6 attempts\)$/;
    for (const row of failed) {
      expect(row.status).toBe('failed');
      expect(row.lastError).toMatch(reason);
    }
    for (const e of doomed) {
      const job = (await jobOf(e))!;
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(ATTEMPTS);
      expect(job.failedReason).toMatch(reason);
    }
    expect(await stored(svc.db.db, svc.programId, `pi_${doomed[0]!.eventId.slice(4)}`)).toBeNull();

    // the API heals; an operator replays the failed jobs (the dashboard's retry), and they succeed
    healed = true;
    for (const e of doomed) await (await jobOf(e))!.retry('failed');
    const replayed = await Promise.all(
      doomed.map((e) =>
        until(`replay of ${e.eventId}`, 30_000, async () => {
          const [row] = await svc.db.pool
            .query<{ status: string; last_error: string | null }>('select status::text, last_error from webhook_events where event_id = $1', [e.eventId])
            .then((r) => r.rows);
          return row?.status === 'processed' ? row : undefined;
        }),
      ),
    );
    expect(replayed.every((r) => r.last_error === null)).toBe(true);
    for (const e of doomed) expect((await stored(svc.db.db, svc.programId, `pi_${e.eventId.slice(4)}`))?.partnerKey).toBe('ptn_api_outage');
    const counts2 = await svc.service.producer!.queue.getJobCounts('failed', 'completed');

    report('gateway-api-outage', {
      attemptsAllowed: ATTEMPTS,
      backoffSeconds: `${BACKOFF_MS / 1000}, doubling`,
      apiAnswers: counts,
      recovering: RECOVERING,
      recoveredAfterSeconds: recoveredAfter,
      attemptsOfRecovered: { max: Math.max(...tries), min: Math.min(...tries), retried: tries.filter((n) => n > 1).length },
      doomed: DOOMED,
      failedAfterSeconds: failedAfter,
      failedReason: failed[0]!.lastError,
      replayed: replayed.length,
      jobs: counts2,
    });
    expect(counts.error500).toBeGreaterThan(0);
    expect(counts.hung).toBeGreaterThan(0);
    expect(tries.filter((n) => n > 1).length).toBeGreaterThan(0);
    expect(counts2.failed).toBe(0);
  });
});
