// Stripe webhooks end to end: signed HTTP deliveries → inbox → queue → worker (with the real stripe SDK
// talking to a local fake of the Stripe API) → transactions and rewards in PostgreSQL.
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programs, transactions, webhookEvents } from '../../src/db/schema.js';
import { sweepInbox } from '../../src/worker/sweeper.js';
import { gatewayE2eContract } from '../gateway-e2e-contract.js';
import { fakeStripeApi, type FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { createPartner, stored } from '../support/ledger.js';
import { TEST_QUEUE_BACKEND } from '../support/env.js';
import { startTestService, type TestService } from '../support/service.js';

const SECRET = 'whsec_e2e_secret';
const stripe = new Stripe('sk_test_unused');
const objects = new Map<string, Record<string, unknown>>();
let api: FakeGatewayApi;
let svc: TestService;

const signed = (body: Buffer, secret = SECRET, ageSeconds = 0) => ({
  'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString('utf8'), secret, timestamp: Math.floor(Date.now() / 1000) - ageSeconds }),
});
async function deliver(body: Buffer, secret = SECRET) {
  return svc.post('/webhooks/stripe', body, signed(body, secret));
}
const eventId = (body: Buffer) => (JSON.parse(body.toString()) as { id: string }).id;

/** A fixture with every Stripe id in it made unique, so one scenario can run several times. */
function variant(name: string, suffix: string, change?: (e: any) => void): Buffer { // eslint-disable-line @typescript-eslint/no-explicit-any
  const text = fixture('stripe', name)
    .toString('utf8')
    .replace(/"((?:evt|pi|ch|in|re|dp|sub|cs_test|cs)_[A-Za-z0-9]+)"/g, (_m, id: string) => `"${id}${suffix}"`);
  const event = JSON.parse(text);
  change?.(event);
  return Buffer.from(JSON.stringify(event));
}

beforeAll(async () => {
  const customer = fixtureJson('stripe', 'api/customers.retrieve.json');
  objects.set(customer.id as string, customer);
  const sub = fixtureJson('stripe', 'api/subscriptions.retrieve.json');
  objects.set(sub.id as string, sub);
  api = await fakeStripeApi(objects).start();
  svc = await startTestService({ STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_e2e', STRIPE_API_BASE: api.url });
  for (const key of ['ptn_orbit_7f3k', 'ptn_lumen_5e0a', 'ptn_nova_22bd']) await createPartner(svc.db.db, svc.programId, key);
});
afterAll(async () => {
  await svc?.stop();
  await api?.stop();
});

describe('Stripe webhooks, end to end', () => {
  it('a subscription payment sent as invoice.paid + charge.succeeded + payment_intent.succeeded, in any order, is one transaction', async () => {
    const orders = [
      ['invoice', 'charge', 'intent'],
      ['charge', 'intent', 'invoice'],
      ['intent', 'invoice', 'charge'],
    ];
    for (const [i, order] of orders.entries()) {
      const s = `x${i}${randomBytes(2).toString('hex')}`;
      const bodies: Record<string, Buffer> = {
        invoice: variant('invoice.paid.2024-06-20.json', s),
        charge: variant('charge.succeeded.2024-06-20.json', s),
        intent: variant('payment_intent.succeeded.2024-06-20.invoice.json', s),
      };
      objects.set(`in_1RcA4kHk2QwLm9XaQw2Er3Ty${s}`, { id: `in_1RcA4kHk2QwLm9XaQw2Er3Ty${s}`, object: 'invoice', parent: { subscription_details: { subscription: 'sub_1RcA4kHk2QwLm9XaTn5Ue8Wz', metadata: { partner_key: 'ptn_lumen_5e0a' } } } });
      for (const name of order) expect((await deliver(bodies[name]!)).status).toBe(200);
      for (const name of order) expect((await svc.settled('stripe', eventId(bodies[name]!))).status).toBe('processed');
      const t = await stored(svc.db.db, svc.programId, `pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef${s}`);
      expect(t, order.join(' → ')).toMatchObject({ amountMinor: 2900n, currency: 'USD', partnerKey: 'ptn_lumen_5e0a' });
      expect(t?.rewards.map((r) => r.amount)).toEqual(['5.8']);
    }
    const all = await svc.db.db.select().from(transactions).where(eq(transactions.programId, svc.programId));
    expect(all.filter((t) => t.key.startsWith('pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef'))).toHaveLength(3);
  });

  it('a basil invoice (no payment intent on it) and its intent merge through Stripe\'s invoice payments', async () => {
    for (const first of ['invoice', 'intent']) {
      const s = `b${first}${randomBytes(2).toString('hex')}`;
      const invoice = variant('invoice.payment_succeeded.basil.json', s);
      const invoiceId = `in_1RdK2pHk2QwLm9XaZa1Sb2Dc${s}`;
      const intentId = `pi_basil${s}`;
      objects.set(`invoice_payments:${invoiceId}`, { id: `inpay_${s}`, object: 'invoice_payment', status: 'paid', payment: { type: 'payment_intent', payment_intent: intentId } });
      const intent = variant('payment_intent.succeeded.json', s, (e) => {
        Object.assign(e.data.object, { id: intentId, amount: 2900, amount_received: 2900, customer: 'cus_SYb2Qg4fLx8WcN', metadata: {} });
      });
      for (const b of first === 'invoice' ? [invoice, intent] : [intent, invoice]) {
        expect((await deliver(b)).status).toBe(200);
        await svc.settled('stripe', eventId(b));
      }
      const t = await stored(svc.db.db, svc.programId, intentId);
      expect(t?.partnerKey).toBe('ptn_orbit_7f3k');
      expect(await svc.db.db.select().from(transactions).where(eq(transactions.key, invoiceId))).toEqual([]);
    }
  });

  it('a partner key only on the Stripe customer is found through the API', async () => {
    const s = `c${randomBytes(3).toString('hex')}`;
    const body = variant('charge.succeeded.2024-06-20.json', s, (e) => (e.data.object.invoice = null));
    api.requests.length = 0;
    await deliver(body);
    await svc.settled('stripe', eventId(body));
    const t = await stored(svc.db.db, svc.programId, `pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef${s}`);
    expect(t?.partnerKey).toBe('ptn_lumen_5e0a');
    expect(t?.attribution).toMatchObject({ partner_key_place: 'stripe_customer_metadata' });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/customers/cus_SXa9Pf3eKw7VbM']);
    expect(api.requests[0]?.headers.authorization).toBe('Bearer sk_test_e2e');
  });

  it('a key on the charge wins over a different one on the customer', async () => {
    const s = `w${randomBytes(3).toString('hex')}`;
    objects.set(`cus_w${s}`, { id: `cus_w${s}`, object: 'customer', email: 'w@example.com', metadata: { partner_key: 'ptn_lumen_5e0a' } });
    const body = variant('charge.succeeded.2024-06-20.json', s, (e) => {
      Object.assign(e.data.object, { invoice: null, customer: `cus_w${s}`, metadata: { partner_key: 'ptn_nova_22bd' } });
      e.data.object.billing_details.email = `w${s}@example.com`;
    });
    api.requests.length = 0;
    await deliver(body);
    await svc.settled('stripe', eventId(body));
    const t = await stored(svc.db.db, svc.programId, `pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef${s}`);
    expect(t?.partnerKey).toBe('ptn_nova_22bd');
    expect(t?.attribution).toMatchObject({ partner_key_place: 'stripe_charge_metadata' });
    expect(api.requests).toEqual([]); // found on the charge, with an email: nothing to look up
  });

  it('a customer already linked keeps earning for its partner, whatever a later key says', async () => {
    const s = `k${randomBytes(3).toString('hex')}`;
    // cus_SXa9Pf3eKw7VbM was linked to ptn_lumen_5e0a by the first payments above
    const body = variant('charge.succeeded.2024-06-20.json', s, (e) => {
      Object.assign(e.data.object, { invoice: null, metadata: { partner_key: 'ptn_nova_22bd' } });
    });
    await deliver(body);
    await svc.settled('stripe', eventId(body));
    const t = await stored(svc.db.db, svc.programId, `pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef${s}`);
    expect(t?.partnerKey).toBe('ptn_lumen_5e0a');
    expect(t?.attribution).toMatchObject({ ignored_partner_key: 'ptn_nova_22bd', customer_match: 'gateway_id' });
  });

  it('a partial refund then a full refund reduce the reward, then delete it', async () => {
    const s = `r${randomBytes(3).toString('hex')}`;
    const key = `pi_3RbT7yHk2QwLm9Xa0c4VnE1s${s}`;
    const pay = variant('payment_intent.succeeded.json', s);
    await deliver(pay);
    await svc.settled('stripe', eventId(pay));
    expect((await stored(svc.db.db, svc.programId, key))?.rewards.map((r) => r.amount)).toEqual(['9.8']);

    // the same partial refund, told twice: as a running total and by its id
    const partial = variant('charge.refunded.partial.json', s);
    const byId = variant('refund.created.json', s);
    for (const b of [partial, byId]) {
      await deliver(b);
      await svc.settled('stripe', eventId(b));
    }
    let t = await stored(svc.db.db, svc.programId, key);
    expect(t?.refundedMinor).toBe(1500n);
    expect(t?.rewards.map((r) => r.amount)).toEqual(['6.8']);

    const full = variant('charge.refunded.partial.json', s, (e) => {
      e.id = `evt_full${s}`;
      Object.assign(e.data.object, { amount_refunded: 4900, refunded: true });
      e.data.previous_attributes = { amount_refunded: 1500, refunded: false };
    });
    await deliver(full);
    await svc.settled('stripe', eventId(full));
    t = await stored(svc.db.db, svc.programId, key);
    expect(t?.deletedAt).not.toBeNull();
    expect(t?.deletedReason).toBe('refunded');
    expect(t?.rewards.every((r) => r.deletedAt !== null)).toBe(true);
  });

  it('a lost dispute deletes the transaction and its reward', async () => {
    const s = `d${randomBytes(3).toString('hex')}`;
    const pay = variant('payment_intent.succeeded.json', s, (e) => {
      Object.assign(e.data.object, { id: `pi_3RfQ2bHk2QwLm9Xa0q3Rs4Tu${s}`, latest_charge: `ch_3RfQ2bHk2QwLm9Xa0l1Mn2Op${s}`, amount: 7900, amount_received: 7900 });
    });
    const lost = variant('charge.dispute.closed.lost.json', s);
    await deliver(pay);
    await svc.settled('stripe', eventId(pay));
    await deliver(lost);
    expect((await svc.settled('stripe', eventId(lost))).outcome).toEqual([
      { kind: 'dispute', result: 'applied', transactionKey: `pi_3RfQ2bHk2QwLm9Xa0q3Rs4Tu${s}`, status: 'lost' },
    ]);
    const t = await stored(svc.db.db, svc.programId, `pi_3RfQ2bHk2QwLm9Xa0q3Rs4Tu${s}`);
    expect(t?.deletedReason).toBe('dispute_lost');
  });

  it('test-mode events reaching a live program are acknowledged and ignored', async () => {
    const [live] = await svc.db.db
      .insert(programs)
      .values({ slug: `live_${randomBytes(3).toString('hex')}`, name: 'Live', commission: { type: 'percent', value: '20', rules: [], lifetime: { kind: 'all' } }, publicKey: `pk_${randomBytes(6).toString('hex')}`, signingSecret: 's', livemode: true, gateways: { stripe: { webhookSecrets: [SECRET] } } })
      .returning();
    const body = variant('payment_intent.succeeded.json', `l${randomBytes(3).toString('hex')}`);
    const res = await svc.post(`/webhooks/stripe/${live!.id}`, body, signed(body));
    expect(res).toMatchObject({ status: 200, body: { status: 'ignored', reason: 'a test-mode event reached a live program' } });
  });

  // a Redis connection cut and restored; the PostgreSQL backend's outage is the database's own (postgres-outage.reliability.ts)
  it.runIf(TEST_QUEUE_BACKEND === 'redis')('answers 503 when the queue is down, keeps the event, and the sweeper queues it once Redis is back', async () => {
    const body = variant('payment_intent.succeeded.json', `q${randomBytes(3).toString('hex')}`);
    const producer = svc.service.producer!;
    const connection = (producer as unknown as { connection: Redis }).connection;
    connection.disconnect();
    const res = await deliver(body);
    expect(res).toMatchObject({ status: 503, body: { error: { code: 'queue_unavailable' } } });
    const [kept] = await svc.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId(body)));
    expect(kept?.status).toBe('received');
    await connection.connect();
    const swept = await sweepInbox(svc.db.db, producer, { olderThanSeconds: 0 });
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    expect((await svc.settled('stripe', eventId(body))).status).toBe('processed');
  });
});

// forged → 4xx, redelivery, ignored events, per-program URL: the contract every gateway meets
gatewayE2eContract('stripe', () => ({
  env: () => ({ STRIPE_WEBHOOK_SECRET: SECRET, STRIPE_API_KEY: 'sk_test_e2e', STRIPE_API_BASE: api.url }),
  secret: SECRET,
  sign: (body, secret, opts) => signed(body, secret, opts?.ageSeconds),
  refused: { status: 400, invalid: 'invalid_signature', missing: 'missing_signature' },
  signsBody: true,
  staleAgeSeconds: 400,
  paid: ({ suffix }) => {
    const body = variant('payment_intent.succeeded.json', suffix);
    return { body, eventId: eventId(body), transactionKey: `pi_3RbT7yHk2QwLm9Xa0c4VnE1s${suffix}`, amountMinor: 4900n, currency: 'USD', partnerKey: 'ptn_orbit_7f3k' };
  },
  ignored: {
    'payment_method.attached': ({ suffix }) => {
      const body = variant('payment_method.attached.ignore.json', suffix);
      return { body, eventId: eventId(body), reason: 'not a payment event: payment_method.attached' };
    },
  },
  programSettings: (secret) => ({ webhook_secrets: [secret] }),
}));
