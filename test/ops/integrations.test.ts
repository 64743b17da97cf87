// GET /v1/integrations on the real PostgreSQL: per gateway, configured or not, last events, the last
// 24 hours by outcome, refused deliveries and why, where partner_key was found, silent gateways, and
// disabled outbound webhooks. Refused deliveries are recorded off the receiver's path and pruned.
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { webhookEvents, webhookRejections, webhookSubscriptions } from '../../src/db/schema.js';
import { RejectionRecorder } from '../../src/http/webhooks.js';
import { pruneRejections } from '../../src/worker/maintenance.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture } from '../support/fixtures.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_integrations_test';
const API_KEY = 'pl_integrations_test_key';
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

function variant(name: string, suffix: string, change?: (e: any) => void): { body: Buffer; id: string } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = fixture('stripe', name)
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in|re|dp|sub|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  change?.(event);
  return { body: Buffer.from(JSON.stringify(event)), id: event.id };
}
const signed = (body: Buffer, secret = SECRET) => ({ 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret }) });
async function status(): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${svc.url}/v1/integrations`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: unknown }).data;
}

beforeAll(async () => {
  api = await fakeStripeApi(objects).start();
  svc = await startTestService({
    STRIPE_WEBHOOK_SECRET: SECRET,
    STRIPE_API_KEY: 'sk_test_integrations',
    STRIPE_API_BASE: api.url,
    PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_integrations',
    API_KEY,
    INTEGRATION_SILENCE_HOURS: '12',
  });
  await createPartner(svc.db.db, svc.programId, 'ptn_int');
  const s = randomBytes(3).toString('hex');
  // processed: partner key on the payment intent
  const onIntent = variant('payment_intent.succeeded.json', `i${s}`, (e) => (e.data.object.metadata = { partner_key: 'ptn_int' }));
  // processed: partner key found on the Stripe customer through the API
  objects.set(`cus_int${s}`, { id: `cus_int${s}`, object: 'customer', email: 'i@example.com', metadata: { partner_key: 'ptn_int' } });
  const onCustomer = variant('charge.succeeded.2024-06-20.json', `c${s}`, (e) => Object.assign(e.data.object, { invoice: null, customer: `cus_int${s}` }));
  // processed, no partner key anywhere
  const none = variant('payment_intent.succeeded.json', `n${s}`, (e) => Object.assign(e.data.object, { metadata: {}, customer: null }));
  const ignored = variant('payment_method.attached.ignore.json', `g${s}`);
  const failed = variant('payment_intent.succeeded.json', `f${s}`, (e) => (e.data.object.currency = 'zzz'));
  for (const v of [onIntent, onCustomer, none, ignored, failed]) {
    expect((await svc.post('/webhooks/stripe', v.body, signed(v.body))).status).toBe(200);
    await svc.settled('stripe', v.id);
  }
  // refused at the door: two forged, one stale
  const forged = variant('payment_intent.succeeded.json', `x${s}`);
  for (let i = 0; i < 2; i++) expect((await svc.post('/webhooks/stripe', forged.body, signed(forged.body, 'whsec_forged'))).status).toBe(400);
  const stale = stripe.webhooks.generateTestHeaderString({ payload: forged.body.toString(), secret: SECRET, timestamp: Math.floor(Date.now() / 1000) - 900 });
  expect((await svc.post('/webhooks/stripe', forged.body, { 'stripe-signature': stale })).status).toBe(400);

  // Paddle used to send events, but not for 30 hours
  await svc.db.db.insert(webhookEvents).values({
    programId: svc.programId,
    gateway: 'paddle',
    eventId: `evt_paddle_old${s}`,
    eventType: 'transaction.completed',
    rawBody: '{}',
    status: 'processed',
    receivedAt: new Date(Date.now() - 30 * 3600_000),
    processedAt: new Date(Date.now() - 30 * 3600_000),
  });
  // an outbound webhook subscription the service disabled
  await svc.db.db.insert(webhookSubscriptions).values({
    programId: svc.programId,
    key: `whs_${s}`,
    url: 'https://merchant.example/hooks',
    events: ['transaction.created'],
    isActive: false,
    secret: 'whsec_outbound',
    disabledAt: new Date(),
    disabledReason: 'every delivery failed for 3 days (last: HTTP 410)',
  });
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('GET /v1/integrations', () => {
  it('needs the program API key', async () => {
    expect((await fetch(`${svc.url}/v1/integrations`)).status).toBe(401);
    const basic = `Basic ${Buffer.from('ops:pw').toString('base64')}`;
    expect((await fetch(`${svc.url}/v1/integrations`, { headers: { authorization: basic } })).status).toBe(401);
  });

  it('tells per gateway what is configured, received, processed, refused and where partner_key was found', async () => {
    // refused deliveries are written about a second later, off the receiver's path
    await expect.poll(async () => (await status()).gateways[0].last_24h.rejected_signature, { timeout: 5000, interval: 200 }).toBe(3);
    const data = await status();
    if (process.env.SHOW_STATUS) console.log(JSON.stringify(data, null, 2));
    expect(data.gateways.map((g: { gateway: string }) => g.gateway)).toEqual(['stripe', 'paddle', 'woocommerce', 'chargebee']);
    const [stripeStatus, paddle, woo, chargebee] = data.gateways;

    expect(stripeStatus).toMatchObject({
      gateway: 'stripe',
      configured: true,
      webhook_secret_set: true,
      api_access: true,
      webhook_url: `${svc.url}/webhooks/stripe/${svc.programId}`,
      silent: false,
      last_24h: {
        received: 5,
        processed: 3,
        ignored: 1,
        failed: 1,
        pending: 0,
        rejected_signature: 3,
        rejected_other: 0,
        rejected_by_code: { invalid_signature: 2, stale_timestamp: 1 },
      },
      partner_key_places: {
        window_days: 30,
        counts: expect.objectContaining({ stripe_payment_intent_metadata: 1, stripe_customer_metadata: 1, stripe_charge_metadata: 0, none: 1 }),
      },
    });
    expect(stripeStatus.last_event).toMatchObject({ event_type: 'payment_intent.succeeded', status: 'failed' });
    expect(stripeStatus.last_processed).toMatchObject({ event_type: 'payment_intent.succeeded', processed_at: expect.stringMatching(/Z$/) });
    expect(stripeStatus.recent_rejections).toHaveLength(3);
    expect(stripeStatus.recent_rejections[0]).toEqual({ code: 'stale_timestamp', message: 'the signature timestamp is older than 5 minutes', received_at: expect.any(String) });
    expect(stripeStatus.recent_rejections.slice(1).map((r: { code: string }) => r.code)).toEqual(['invalid_signature', 'invalid_signature']);
    expect(stripeStatus.recent_failures).toEqual([expect.objectContaining({ reason: 'payload: unknown currency code "zzz"' })]);
    expect(Object.keys(stripeStatus.partner_key_places.counts).every((k) => k === 'none' || k.startsWith('stripe_'))).toBe(true);
    // secrets are never part of it
    expect(JSON.stringify(data)).not.toContain(SECRET);
    expect(JSON.stringify(data)).not.toContain('sk_test_integrations');

    expect(paddle).toMatchObject({ configured: true, api_access: false, silent: true, silent_for_hours: 30, last_processed: { event_type: 'transaction.completed' } });
    expect(paddle.partner_key_places.counts).toEqual({ paddle_transaction_custom_data: 0, paddle_subscription_custom_data: 0, none: 0 });
    expect(woo).toMatchObject({ configured: false, api_access: false, last_event: null, silent: false, last_24h: { received: 0 } });
    expect(chargebee.partner_key_places.counts).toEqual({ chargebee_cf_partnero_partner: 0, chargebee_cf_referral_code: 0, none: 0 });

    expect(data.silence_hours).toBe(12);
    expect(data.outbound_webhooks.disabled).toEqual([
      expect.objectContaining({ url: 'https://merchant.example/hooks', disabled_reason: 'every delivery failed for 3 days (last: HTTP 410)', disabled_at: expect.any(String) }),
    ]);
    expect(data.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^paddle: no event received for 30 hours/),
        expect.stringMatching(/^stripe: 2 deliveries refused in the last 24 hours: the signature does not match/),
        expect.stringMatching(/^stripe: 1 delivery refused in the last 24 hours: the signature timestamp is more than 5 minutes off/),
        expect.stringMatching(/^outbound webhook whs_\w+ \(https:\/\/merchant\.example\/hooks\) is disabled/),
      ]),
    );
  });
});

describe('recording refused deliveries', () => {
  it('never fails or waits on the database, caps what a flood writes, and prunes after 7 days', async () => {
    let unrecorded = 0;
    const broken = { insert: () => ({ values: () => Promise.reject(new Error('database down')) }) } as unknown as Db;
    const r = new RejectionRecorder(broken, { maxPerFlush: 2, onUnrecorded: (n) => (unrecorded += n) });
    for (let i = 0; i < 5; i++) r.record({ programId: svc.programId, gateway: 'stripe', code: 'invalid_signature', message: 'x' });
    expect(unrecorded).toBe(3); // beyond the cap
    await r.close();
    expect(unrecorded).toBe(5); // and the database refused the rest: counted, never thrown

    const real = new RejectionRecorder(svc.db.db, { flushMs: 10_000 });
    real.record({ programId: svc.programId, gateway: 'chargebee', code: 'invalid_credentials', message: 'm'.repeat(2000) });
    await real.close();
    const rows = await svc.db.db.select().from(webhookRejections);
    expect(rows.find((x) => x.gateway === 'chargebee')?.message).toHaveLength(500);

    expect(await pruneRejections(svc.db.db, new Date(Date.now() + 6 * 86_400_000))).toBe(0);
    expect(await pruneRejections(svc.db.db, new Date(Date.now() + 8 * 86_400_000))).toBe(rows.length);
    expect(await svc.db.db.select().from(webhookRejections)).toEqual([]);
  });
});
