// GET /v1/integrations warnings name the real cause: a wrong Chargebee password is about Basic
// credentials, a stale Paddle or Stripe timestamp about a clock or a late resend (not the secret), a
// forged signature about the secret; and new warnings for partner keys naming no partner, lookups
// skipped for want of API access, and failed events. Driven by signed deliveries, read over REST.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayEnv, paymentDelivery, send, type Sale } from '../support/deliveries.js';
import { fixture } from '../support/fixtures.js';
import { signedDelivery } from '../support/deliveries.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';

const API_KEY = 'pl_integration_warnings_key';
let svc: TestService;
const s = randomBytes(3).toString('hex');
const sale = (over: Partial<Sale>): Sale => ({ gateway: 'stripe', id: `w${s}${over.n ?? 1}`, n: 1, amountMinor: 4900n, currency: 'USD', partnerKey: 'ptn_known', customer: 1, ...over });

async function status(): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${svc.url}/v1/integrations`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: unknown }).data;
}
const gatewayOf = (data: { gateways: { gateway: string }[] }, name: string): any => data.gateways.find((g) => g.gateway === name); // eslint-disable-line @typescript-eslint/no-explicit-any
const warningsOf = (data: { warnings: string[] }, gateway: string) => data.warnings.filter((w) => w.startsWith(`${gateway}: `));

beforeAll(async () => {
  // webhook secrets for every gateway; no gateway API key at all
  svc = await startTestService({ ...gatewayEnv(), API_KEY });
  await createPartner(svc.db.db, svc.programId, 'ptn_known');

  // refused: Chargebee with a wrong password, Paddle and Stripe with a 15-minute-old timestamp, Stripe forged
  expect((await send(svc.url, paymentDelivery(sale({ gateway: 'chargebee', n: 2 })), { secret: 'not-the-password' })).status).toBe(401);
  expect((await send(svc.url, paymentDelivery(sale({ gateway: 'paddle', n: 3 })), { ageSeconds: 900 })).status).toBe(400);
  expect((await send(svc.url, paymentDelivery(sale({ n: 4 })), { ageSeconds: 900 })).status).toBe(400);
  expect((await send(svc.url, paymentDelivery(sale({ n: 5 })), { secret: 'whsec_forged' })).status).toBe(400);

  // booked: two payments naming a partner nobody created, one naming a real one
  for (const [n, key] of [[6, 'ptn_nobody'], [7, 'ptn_nobody'], [8, 'ptn_known']] as const) {
    const d = paymentDelivery(sale({ n, partnerKey: key }));
    expect((await send(svc.url, d)).status).toBe(200);
    expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');
  }

  // booked: the key would be on the Stripe customer, but no Stripe API key is set to look it up
  const charge = JSON.parse(fixture('stripe', 'charge.succeeded.2024-06-20.json').toString('utf8').replace(/"((?:evt|pi|ch|in)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${s}"`));
  Object.assign(charge.data.object, { invoice: null, customer: `cus_w${s}`, metadata: {} });
  const lookup = signedDelivery('stripe', charge.id, Buffer.from(JSON.stringify(charge)));
  expect((await send(svc.url, lookup)).status).toBe(200);
  expect((await svc.settled('stripe', lookup.eventId)).status).toBe('processed');

  // failed: bad data
  const bad = JSON.parse(fixture('stripe', 'payment_intent.succeeded.json').toString('utf8').replace(/"((?:evt|pi|ch)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}z${s}"`));
  bad.data.object.currency = 'zzz';
  const failed = signedDelivery('stripe', bad.id, Buffer.from(JSON.stringify(bad)));
  expect((await send(svc.url, failed)).status).toBe(200);
  expect((await svc.settled('stripe', failed.eventId)).status).toBe('failed');
});
afterAll(async () => {
  await svc?.stop();
});

describe('GET /v1/integrations warnings', () => {
  it('a wrong Chargebee password is about the Basic credentials, not a webhook secret', async () => {
    // refused deliveries are written about a second later, off the receiver's path
    await expect.poll(async () => gatewayOf(await status(), 'chargebee').last_24h.rejected_signature, { timeout: 5000, interval: 200 }).toBe(1);
    const warnings = warningsOf(await status(), 'chargebee');
    expect(warnings).toEqual([
      expect.stringMatching(/^chargebee: 1 delivery refused in the last 24 hours: the HTTP Basic username or password does not match/),
    ]);
    expect(warnings[0]).toContain('CHARGEBEE_WEBHOOK_USERNAME and CHARGEBEE_WEBHOOK_PASSWORD');
    expect(warnings[0]).not.toMatch(/secret|signature/);
  });

  it('a stale Paddle or Stripe timestamp is about a clock or a late resend, a forged signature about the secret', async () => {
    await expect.poll(async () => gatewayOf(await status(), 'stripe').last_24h.rejected_signature, { timeout: 5000, interval: 200 }).toBe(2);
    const data = await status();
    const paddle = warningsOf(data, 'paddle');
    expect(paddle).toEqual([expect.stringMatching(/^paddle: 1 delivery refused in the last 24 hours: the signature timestamp is more than 5 minutes off: this host's clock is wrong/)]);
    expect(paddle[0]).toContain('the secret is not the cause');
    expect(paddle[0]).not.toContain('check the webhook secret');
    const stripe = warningsOf(data, 'stripe');
    expect(stripe).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stripe: 1 delivery refused in the last 24 hours: the signature does not match \(or is missing\): check the webhook secret \(STRIPE_WEBHOOK_SECRET/),
        expect.stringMatching(/^stripe: 1 delivery refused in the last 24 hours: the signature timestamp is more than 5 minutes off/),
      ]),
    );
  });

  it('names the partner keys that name no partner, with how many payments', async () => {
    const data = await status();
    expect(gatewayOf(data, 'stripe').unknown_partner_keys).toEqual({
      window_days: 7,
      payments: 2,
      keys: [{ key: 'ptn_nobody', payments: 2, last_at: expect.stringMatching(/Z$/) }],
    });
    expect(warningsOf(data, 'stripe')).toContainEqual(
      expect.stringMatching(/^stripe: 2 payments in the last 7 days named a partner key no partner has \(ptn_nobody ×2\): create those partners/),
    );
    // once the partner exists, the key is no longer one that names nobody
    await createPartner(svc.db.db, svc.programId, 'ptn_nobody');
    const after = await status();
    expect(gatewayOf(after, 'stripe').unknown_partner_keys.payments).toBe(0);
    expect(after.warnings.join('\n')).not.toContain('no partner has');
  });

  it('says lookups were skipped because the gateway API access is not set', async () => {
    const data = await status();
    expect(gatewayOf(data, 'stripe')).toMatchObject({ api_access: false, lookups_not_configured: { window_days: 7, payments: 1 } });
    expect(warningsOf(data, 'stripe')).toContainEqual(
      expect.stringMatching(/^stripe: 1 payment in the last 7 days had partner_key lookups skipped .* because the stripe API access is not set: set STRIPE_API_KEY/),
    );
  });

  it('warns about failed events with the latest reason', async () => {
    const data = await status();
    expect(warningsOf(data, 'stripe')).toContainEqual(
      'stripe: 1 event failed in the last 24 hours (latest: payload: unknown currency code "zzz"): see recent_failures; once the cause is fixed, `replay --gateway stripe` books them',
    );
    // gateways with nothing wrong have no warnings
    expect(warningsOf(data, 'woocommerce')).toEqual([]);
  });
});
