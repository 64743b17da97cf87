import { createHmac } from 'node:crypto';
import { Paddle } from '@paddle/paddle-node-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import { EnrichmentError } from '../../src/gateways/gateway.js';
import { PaddleLookupClient, paddleLookupClient, paddleSdk } from '../../src/gateways/paddle/client.js';
import { paddleAdapter } from '../../src/gateways/paddle/index.js';
import { PADDLE_EVENT_TYPES, paddleMinor } from '../../src/gateways/paddle/map.js';
import { PADDLE_TOLERANCE_SECONDS } from '../../src/gateways/paddle/signature.js';
import { gatewayContract, type ContractFixture } from '../gateway-contract.js';
import type { FakeGatewayApi, FakeResponse } from '../support/fake-gateway-api.js';
import { fakePaddleApi, paddleError } from '../support/fake-paddle-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';

/** `ts=…;h1=…` made here with node:crypto alone, independent of the code under test. */
const h1 = (body: Buffer, secret: string, ts: number) =>
  createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${ts}:`), body])).digest('hex');
const nowSeconds = () => Math.floor(Date.now() / 1000);
const sign = (body: Buffer, secret: string, opts: { ageSeconds?: number } = {}) => {
  const ts = nowSeconds() - (opts.ageSeconds ?? 0);
  return { 'Paddle-Signature': `ts=${ts};h1=${h1(body, secret, ts)}` };
};

const FIXTURES: [string, ContractFixture['kind']][] = [
  // the shared set
  ['transaction.paid.json', 'payment'],
  ['transaction.completed.json', 'payment'],
  ['transaction.completed.renewal.no_custom_data.json', 'payment'],
  ['adjustment.created.refund.partial.json', 'refund'],
  ['customer.updated.ignore.json', 'ignore'],
  // written here
  ['transaction.paid.renewal.no_custom_data.json', 'payment'],
  ['transaction.paid.checkout.no_custom_data.json', 'ignore'],
  ['transaction.completed.jpy.json', 'payment'],
  ['adjustment.created.refund.full.pending_approval.json', 'ignore'],
  ['adjustment.updated.refund.full.approved.json', 'refund'],
  ['adjustment.created.chargeback.json', 'dispute'],
  ['subscription.created.ignore.json', 'ignore'],
];

gatewayContract({
  adapter: paddleAdapter,
  settings: (secrets) => ({ webhookSecrets: secrets }),
  sign,
  signatureHeader: 'Paddle-Signature',
  signsBody: true,
  staleAgeSeconds: PADDLE_TOLERANCE_SECONDS + 1,
  fixtures: FIXTURES.map(([name, kind]) => ({ name, kind, body: fixture('paddle', name) })),
  unknownEvent: fixture('paddle', 'subscription.created.ignore.json'),
});

const SECRET = 'pdl_ntfset_test_secret';
const verify = (body: Buffer, header: string | undefined, opts: { secrets?: string[]; now?: Date } = {}) =>
  paddleAdapter.verify(
    { rawBody: body, headers: header === undefined ? {} : { 'paddle-signature': header }, now: opts.now ?? new Date() },
    { webhookSecrets: opts.secrets ?? [SECRET] },
  );
const header = (body: Buffer, secrets: string[], ts = nowSeconds()) => [`ts=${ts}`, ...secrets.map((s) => `h1=${h1(body, s, ts)}`)].join(';');

/** A fixture with changes, as compact JSON (for the mapping only: not the bytes Paddle signed). */
function changed(name: string, change: (e: any) => void): unknown { // eslint-disable-line @typescript-eslint/no-explicit-any
  const event = fixtureJson('paddle', name);
  change(event);
  return event;
}
const events = (payload: unknown) => {
  const r = paddleAdapter.toEvents(payload);
  if (!Array.isArray(r)) throw new Error(`ignored: ${r.reason}`);
  return r as (PaymentEventInput & Record<string, unknown>)[];
};
const mapped = (name: string) => {
  const body = fixture('paddle', name);
  const v = verify(body, header(body, [SECRET]));
  if (v.kind !== 'verified') throw new Error(JSON.stringify(v));
  return paddleAdapter.toEvents(v.payload);
};
const fixtureEvents = (name: string) => events(fixtureJson('paddle', name));

describe('Paddle verification', () => {
  it('accepts the worked example of SIGNING.md (its secret, its timestamp) and reports the event', () => {
    const body = fixture('paddle', 'transaction.completed.json');
    const v = verify(body, 'ts=1751538116;h1=846892bf888ca0362ff3e375886322f11e5224956019bacc4c43a9252c2f45ea', {
      secrets: ['pdl_ntfset_01jy2w0000fixture0000000000_fixtureSecretDocsOnly'],
      now: new Date(1751538116_000),
    });
    expect(v).toEqual({
      kind: 'verified',
      payload: JSON.parse(body.toString()),
      eventId: 'evt_01jy2w8h5k7m9p1r3t5v7x9z1b',
      eventType: 'transaction.completed',
      meta: { notification_id: 'ntf_01jy2w8h8n0q2s4u6w8y0a2c4e' },
    });
    expect(v.kind === 'verified' && v.livemode).toBeUndefined();
  });

  it('agrees with the SDK on a fresh single signature; the SDK checks only the last h1 of a rotation', async () => {
    const sdk = new Paddle('unused');
    const body = fixture('paddle', 'transaction.paid.json');
    const single = header(body, [SECRET]);
    expect(await sdk.webhooks.isSignatureValid(body.toString(), SECRET, single)).toBe(true);
    expect(verify(body, single).kind).toBe('verified');
    // rotation: Paddle signs with the old and the new secret; a program that has only the old one
    const rotating = header(body, ['pdl_ntfset_old', 'pdl_ntfset_new']);
    expect(await sdk.webhooks.isSignatureValid(body.toString(), 'pdl_ntfset_old', rotating)).toBe(false);
    expect(verify(body, rotating, { secrets: ['pdl_ntfset_old'] }).kind).toBe('verified');
  });

  it('honours every h1 against every configured secret', () => {
    const body = fixture('paddle', 'adjustment.created.refund.partial.json');
    const both = header(body, ['s_old', 's_new']);
    for (const secrets of [['s_old'], ['s_new'], ['s_new', 's_old'], ['s_other', 's_old']]) {
      expect(verify(body, both, { secrets }).kind, secrets.join(',')).toBe('verified');
    }
    expect(verify(body, header(body, ['s_stranger', 's_new']), { secrets: ['s_new'] }).kind).toBe('verified');
    expect(verify(body, both, { secrets: ['s_other'] })).toMatchObject({ kind: 'rejected', code: 'invalid_signature' });
  });

  it(`allows ${PADDLE_TOLERANCE_SECONDS} s of clock difference both ways, not one second more`, () => {
    const body = fixture('paddle', 'transaction.paid.json');
    const now = new Date(1_760_000_000_000);
    const at = (ts: number) => verify(body, header(body, [SECRET], ts), { now });
    const t = now.getTime() / 1000;
    expect(at(t - PADDLE_TOLERANCE_SECONDS).kind).toBe('verified');
    expect(at(t + PADDLE_TOLERANCE_SECONDS).kind).toBe('verified');
    expect(at(t - PADDLE_TOLERANCE_SECONDS - 1)).toEqual({
      kind: 'rejected',
      status: 400,
      code: 'stale_timestamp',
      message: 'the signature timestamp is older than 5 minutes',
    });
    expect(at(t + PADDLE_TOLERANCE_SECONDS + 1)).toMatchObject({ code: 'stale_timestamp', message: 'the signature timestamp is more than 5 minutes ahead' });
    // the SDK's own window is 5 s: a delivery 30 s old (a retry, a slow proxy) still passes here
    expect(at(t - 30).kind).toBe('verified');
  });

  it('tells a forged delivery nothing about the clock: the signature is checked first', () => {
    const body = fixture('paddle', 'transaction.paid.json');
    const old = nowSeconds() - 3600;
    expect(verify(body, `ts=${old};h1=${h1(body, 'not_the_secret', old)}`)).toMatchObject({ code: 'invalid_signature' });
  });

  it('refuses a tampered or malformed signature', () => {
    const body = fixture('paddle', 'transaction.paid.json');
    const good = header(body, [SECRET]);
    const flipped = good.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0'));
    const cases: [string, string][] = [
      [flipped, 'no signature matches the notification secret'],
      [good.slice(0, -1), 'the Paddle-Signature header is malformed'], // 63 hex digits
      [good.replace(/ts=\d+;/, ''), 'the Paddle-Signature header is malformed'],
      [good.replace(/;h1=.*/, ''), 'the Paddle-Signature header is malformed'],
      [`${good};ts=${nowSeconds()}`, 'the Paddle-Signature header is malformed'],
      [good.replace('h1=', 'h1=zz'), 'the Paddle-Signature header is malformed'],
      ['garbage', 'the Paddle-Signature header is malformed'],
      [good.replace(/ts=(\d+)/, 'ts=-$1'), 'the Paddle-Signature header is malformed'],
    ];
    for (const [h, message] of cases) {
      expect(verify(body, h), h).toEqual({ kind: 'rejected', status: 400, code: 'invalid_signature', message });
    }
    expect(verify(body, '   ')).toMatchObject({ code: 'missing_signature' });
    expect(verify(body, undefined)).toMatchObject({ code: 'missing_signature' });
  });

  it('skips schemes it does not know next to h1, and stray semicolons', () => {
    const body = fixture('paddle', 'transaction.paid.json');
    expect(verify(body, `${header(body, [SECRET])};h2=cafe;`).kind).toBe('verified');
    expect(verify(body, header(body, [SECRET]).replace(';', ' ; ')).kind).toBe('verified');
  });

  it('refuses a signed body that is not a Paddle notification', () => {
    const bodies = [
      'not json',
      '{"hello":"world"}',
      '{"event_id":"evt_1","event_type":"transaction.paid","data":{}}', // no occurred_at
      '{"event_id":"evt_1","event_type":"transaction.paid","occurred_at":"yesterday","data":{}}',
      '{"event_id":"evt_1","event_type":"transaction.paid","occurred_at":"2025-07-03T10:21:48Z","data":[]}',
    ];
    for (const text of bodies) {
      const body = Buffer.from(text);
      expect(verify(body, header(body, [SECRET])), text).toMatchObject({ kind: 'rejected', status: 400, code: 'invalid_payload' });
    }
  });

  it('needs a secret: none, or only empty ones, is not configured', () => {
    const body = fixture('paddle', 'transaction.paid.json');
    for (const secrets of [[], ['']]) {
      expect(verify(body, header(body, [SECRET]), { secrets })).toMatchObject({ code: 'gateway_not_configured' });
    }
  });
});

describe('Paddle normalization: payments', () => {
  const GBP_TXN = 'txn_01jy2w6k9b3m7q4r8t1v5x0zcd';
  const GBP_CUSTOMER = 'ctm_01jy2w5p2h8d4f6g1k3m9n7qrs';
  const RENEWAL_TXN = 'txn_01k0m3x5z7b9d1f3h5k7m9p1rt';
  const RENEWAL_SUB = 'sub_01jw4e9k3m5p7r9t1v3x5z7b9d';
  const RENEWAL_CUSTOMER = 'ctm_01jw4e7g9j1l3n5q7s9u1w3y5a';

  it('lists the event types to enable', () => {
    expect(PADDLE_EVENT_TYPES).toEqual(['transaction.paid', 'transaction.completed', 'adjustment.created', 'adjustment.updated']);
  });

  it('transaction.paid: grand total and tax, the key from custom_data, the email looked up', () => {
    expect(mapped('transaction.paid.json')).toEqual([
      {
        gateway: 'paddle',
        eventId: 'evt_01jy2w7m3p5r7t9v1x3z5b7d9f',
        eventType: 'transaction.paid',
        occurredAt: '2025-07-03T10:21:48.377Z',
        kind: 'payment',
        transactionKey: GBP_TXN,
        amount: { minor: '2880', currency: 'GBP' },
        tax: '480',
        customer: { id: GBP_CUSTOMER },
        product: { id: 'pro_01jhq3b2k5m8p1r4t7v0x3zcde', type: 'month' },
        partnerKey: { value: 'ptn_orbit_7f3k', place: 'paddle_transaction_custom_data' },
        lookups: [{ gateway: 'paddle', object: 'customer', id: GBP_CUSTOMER, place: 'paddle_transaction_custom_data' }],
      },
    ]);
  });

  it('transaction.completed of the same transaction carries the same key, so the two merge', () => {
    const [paid] = fixtureEvents('transaction.paid.json');
    const [completed] = fixtureEvents('transaction.completed.json');
    expect(completed).toMatchObject({ eventType: 'transaction.completed', transactionKey: GBP_TXN });
    expect({ ...completed, eventId: '', eventType: '', occurredAt: '' }).toEqual({ ...paid, eventId: '', eventType: '', occurredAt: '' });
  });

  it('a renewal (paid and completed) with the key on its subscription only: the subscription, then the customer, are looked up', () => {
    for (const name of ['transaction.paid.renewal.no_custom_data.json', 'transaction.completed.renewal.no_custom_data.json']) {
      const [e] = fixtureEvents(name);
      expect(e, name).toMatchObject({
        kind: 'payment',
        transactionKey: RENEWAL_TXN,
        amount: { minor: '5292', currency: 'USD' },
        tax: '392',
        customer: { id: RENEWAL_CUSTOMER },
        product: { id: 'pro_01jhq3b2k5m8p1r4t7v0x3zcde', type: 'month' },
        lookups: [
          { gateway: 'paddle', object: 'subscription', id: RENEWAL_SUB, place: 'paddle_subscription_custom_data' },
          { gateway: 'paddle', object: 'customer', id: RENEWAL_CUSTOMER, place: 'paddle_transaction_custom_data' },
        ],
      });
      expect(e?.partnerKey).toBeUndefined();
    }
  });

  it('JPY is counted in whole yen, as Paddle sends it; a one-time price has no product type', () => {
    expect(mapped('transaction.completed.jpy.json')).toEqual([
      expect.objectContaining({
        transactionKey: 'txn_01k2b7a4c6e8g0j2m4p6r8t0vw',
        amount: { minor: '5280', currency: 'JPY' },
        tax: '480',
        product: { id: 'pro_01k1z9w7a9c1e3g5j7m9p1r3tv' },
        partnerKey: { value: 'ptn_seoul_91ac', place: 'paddle_transaction_custom_data' },
        lookups: [{ gateway: 'paddle', object: 'customer', id: 'ctm_01k2b79s7v9x1z3b5d7f9h1k3m', place: 'paddle_transaction_custom_data' }],
      }),
    ]);
    expect(paddleMinor('0100', 'usd')).toEqual({ minor: '100', currency: 'USD' });
  });

  it('transaction.paid of a new subscription without a key waits for transaction.completed, which names the subscription', () => {
    expect(mapped('transaction.paid.checkout.no_custom_data.json')).toEqual({
      kind: 'ignore',
      reason: 'transaction.paid before its subscription exists: booked from transaction.completed',
    });
    const withKey = changed('transaction.paid.checkout.no_custom_data.json', (e) => (e.data.custom_data = { partner_key: 'ptn_nova_22bd' }));
    expect(events(withKey)[0]).toMatchObject({ partnerKey: { value: 'ptn_nova_22bd' } });
    const completed = changed('transaction.paid.checkout.no_custom_data.json', (e) => {
      Object.assign(e, { event_type: 'transaction.completed' });
      Object.assign(e.data, { status: 'completed', subscription_id: 'sub_01k3f8r5a7c9e1g3j5m7p9r1t3' });
    });
    expect(events(completed)[0]?.lookups).toEqual([
      { gateway: 'paddle', object: 'subscription', id: 'sub_01k3f8r5a7c9e1g3j5m7p9r1t3', place: 'paddle_subscription_custom_data' },
      { gateway: 'paddle', object: 'customer', id: 'ctm_01k3f8m1z3b5d7f9h1k3m5p7rs', place: 'paddle_transaction_custom_data' },
    ]);
    // a one-time purchase will never have a subscription: its paid event books it at once
    const oneTime = changed('transaction.paid.checkout.no_custom_data.json', (e) => (e.data.items[0].price.billing_cycle = null));
    expect(events(oneTime)[0]).toMatchObject({ transactionKey: 'txn_01k3f8n4p6r8t0v2x4z6b8d0fg', lookups: [{ object: 'customer' }] });
  });

  it('reads partner_key as a trimmed non-empty string only', () => {
    const key = (value: unknown) =>
      events(changed('transaction.completed.json', (e) => (e.data.custom_data = { partner_key: value })))[0]?.partnerKey;
    expect(key('  ptn_orbit_7f3k ')).toEqual({ value: 'ptn_orbit_7f3k', place: 'paddle_transaction_custom_data' });
    for (const v of ['', '   ', 42, null, { id: 'x' }]) expect(key(v), JSON.stringify(v)).toBeUndefined();
    expect(() => key('k'.repeat(256))).toThrow('payload: transaction.custom_data.partner_key: longer than 255 characters');
    const none = events(changed('transaction.completed.json', (e) => (e.data.custom_data = null)))[0];
    expect(none?.lookups).toEqual([
      { gateway: 'paddle', object: 'subscription', id: 'sub_01jy2w8e4h6j8k0m2n4p6q8rst', place: 'paddle_subscription_custom_data' },
      { gateway: 'paddle', object: 'customer', id: GBP_CUSTOMER, place: 'paddle_transaction_custom_data' },
    ]);
  });

  it('an email in the payload (a transaction fetched with include=customer) needs no customer lookup', () => {
    const e = events(changed('transaction.completed.json', (x) => (x.data.customer = { id: GBP_CUSTOMER, email: 'hannah.weber@example.com' })))[0];
    expect(e).toMatchObject({ customer: { id: GBP_CUSTOMER, email: 'hannah.weber@example.com' }, lookups: [] });
  });

  it('a transaction of 0 (a trial start, a full discount) is not a payment', () => {
    const zero = changed('transaction.completed.json', (e) => (e.data.details.totals.grand_total = '0'));
    expect(paddleAdapter.toEvents(zero)).toEqual({ kind: 'ignore', reason: 'nothing was paid (grand_total 0)' });
  });

  it('other events are ignored, with the reason', () => {
    expect(mapped('customer.updated.ignore.json')).toEqual({ kind: 'ignore', reason: 'not a payment event: customer.updated' });
    expect(mapped('subscription.created.ignore.json')).toEqual({ kind: 'ignore', reason: 'not a payment event: subscription.created' });
  });

  it('a payment payload Paddle never sends this way is a payload error, not a crash', () => {
    const cases: [(e: any) => void, string | RegExp][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
      [(e) => (e.data.details.totals.grand_total = '28.80'), /^payload: transaction\.details\.totals\.grand_total: /],
      [(e) => (e.data.details.totals.grand_total = 2880), /^payload: transaction\.details\.totals\.grand_total: /],
      [(e) => delete e.data.details, /^payload: transaction\.details: /],
      [(e) => (e.data.currency_code = 'ZZZ'), 'payload: unknown currency code "ZZZ"'],
      [(e) => delete e.data.id, /^payload: transaction\.id: /],
    ];
    for (const [change, error] of cases) {
      expect(() => paddleAdapter.toEvents(changed('transaction.completed.json', change))).toThrow(error);
    }
    expect(() => paddleAdapter.toEvents({ event_type: 'transaction.paid' })).toThrow(/^payload: notification\./);
  });
});

describe('Paddle normalization: adjustments', () => {
  const JPY_TXN = 'txn_01k2b7a4c6e8g0j2m4p6r8t0vw';

  it('an approved partial refund: its own id, the adjusted total', () => {
    expect(mapped('adjustment.created.refund.partial.json')).toEqual([
      {
        gateway: 'paddle',
        eventId: 'evt_01jz9c4sa2c4e6g8j0l2n4q6s8',
        eventType: 'adjustment.created',
        occurredAt: '2025-07-18T14:02:10.044Z',
        kind: 'refund',
        refundId: 'adj_01jz9c4r6t8v0x2z4b6d8f0h2k',
        paymentRefs: ['txn_01jy2w6k9b3m7q4r8t1v5x0zcd'],
        amount: { minor: '1440', currency: 'GBP' },
      },
    ]);
  });

  it('a full refund counts once approved, and refunds the whole payment', () => {
    expect(mapped('adjustment.created.refund.full.pending_approval.json')).toEqual({
      kind: 'ignore',
      reason: 'refund adjustment pending_approval: booked once Paddle approves it',
    });
    expect(mapped('adjustment.updated.refund.full.approved.json')).toEqual([
      {
        gateway: 'paddle',
        eventId: 'evt_01k0v1h8m0p2r4t6v8x0z2b4d6',
        eventType: 'adjustment.updated',
        occurredAt: '2025-08-07T15:40:27.931Z',
        kind: 'refund',
        refundId: 'adj_01k0t6v2x4z6b8d0f2h4k6m8pq',
        paymentRefs: ['txn_01k0m3x5z7b9d1f3h5k7m9p1rt'],
      },
    ]);
  });

  it('a refund without a type (older adjustments) counts by its totals', () => {
    const legacy = changed('adjustment.updated.refund.full.approved.json', (e) => delete e.data.type);
    expect(events(legacy)[0]?.amount).toEqual({ minor: '5292', currency: 'USD' });
    const noTotals = changed('adjustment.created.refund.partial.json', (e) => delete e.data.totals);
    expect(() => paddleAdapter.toEvents(noTotals)).toThrow('payload: adjustment.totals: a partial refund without totals');
  });

  it('a chargeback is a lost dispute of its transaction', () => {
    expect(mapped('adjustment.created.chargeback.json')).toEqual([
      {
        gateway: 'paddle',
        eventId: 'evt_01k3a4d6f8h0k2m4p6r8t0v2x4',
        eventType: 'adjustment.created',
        occurredAt: '2025-09-04T11:27:15.480Z',
        kind: 'dispute',
        disputeId: `chargeback/${JPY_TXN}`,
        paymentRefs: [JPY_TXN],
        status: 'lost',
      },
    ]);
  });

  it.each([
    ['chargeback_reverse', { kind: 'dispute', disputeId: `chargeback/${JPY_TXN}`, status: 'won' }],
    ['chargeback_warning', { kind: 'dispute', disputeId: `chargeback_warning/${JPY_TXN}`, status: 'opened' }],
    ['chargeback_warning_reverse', { kind: 'dispute', disputeId: `chargeback_warning/${JPY_TXN}`, status: 'won' }],
  ])('%s → %o', (action, expected) => {
    expect(events(changed('adjustment.created.chargeback.json', (e) => (e.data.action = action)))).toEqual([expect.objectContaining(expected)]);
  });

  it.each([
    ['credit', 'approved', 'credit adjustment: not a refund or chargeback'],
    ['credit_reverse', 'approved', 'credit_reverse adjustment: not a refund or chargeback'],
    ['goodwill_bonus', 'approved', 'goodwill_bonus adjustment: not a refund or chargeback'],
    ['refund', 'rejected', 'refund adjustment rejected: only approved adjustments are booked'],
    ['chargeback', 'pending_approval', 'chargeback adjustment pending_approval: booked once Paddle approves it'],
  ])('%s %s is ignored', (action, status, reason) => {
    const body = changed('adjustment.created.refund.partial.json', (e) => Object.assign(e.data, { action, status }));
    expect(paddleAdapter.toEvents(body)).toEqual({ kind: 'ignore', reason });
  });
});

describe('Paddle normalization: reversed adjustments', () => {
  it('a refund adjustment moved to reversed restores what it took: a reversal of the same adjustment id', () => {
    const body = changed('adjustment.created.refund.partial.json', (e) => Object.assign(e, { event_type: 'adjustment.updated' }) && Object.assign(e.data, { status: 'reversed' }));
    const e = events(body)[0];
    const approved = events(fixtureJson('paddle', 'adjustment.created.refund.partial.json'))[0]!;
    expect(e).toMatchObject({ kind: 'refund', reversed: true, refundId: approved.refundId, amount: approved.amount });
  });

  it('a chargeback moved to reversed counts as won, as its chargeback_reverse does', () => {
    const body = changed('adjustment.created.chargeback.json', (e) => Object.assign(e.data, { status: 'reversed' }));
    const lost = events(fixtureJson('paddle', 'adjustment.created.chargeback.json'))[0]!;
    expect(events(body)).toEqual([{ ...lost, status: 'won' }]);
  });
});

describe('Paddle API lookups through the SDK', () => {
  const objects = new Map<string, Record<string, unknown>>();
  const answers = new Map<string, FakeResponse>();
  let api: FakeGatewayApi;
  let client: PaddleLookupClient;
  const sub = (id: string) => ({ gateway: 'paddle' as const, object: 'subscription' as const, id, place: 'paddle_subscription_custom_data' as const });
  const lookupError = async (p: Promise<unknown>) => {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(EnrichmentError);
    return err as EnrichmentError;
  };

  beforeAll(async () => {
    for (const name of ['api/subscriptions.get.json', 'api/customers.get.json']) {
      const { data } = fixtureJson<{ data: Record<string, unknown> }>('paddle', name);
      objects.set(data.id as string, data);
    }
    api = await fakePaddleApi(objects, answers).start();
    client = new PaddleLookupClient(() => paddleSdk('pdl_sdbx_apikey_test', `${api.url}/`), 300);
  });
  afterAll(async () => {
    await api?.stop();
  });

  it('a subscription gives its custom_data partner key; the request is authenticated', async () => {
    api.requests.length = 0;
    expect(await client.lookup(sub('sub_01jw4e9k3m5p7r9t1v3x5z7b9d'))).toEqual({ partnerKey: 'ptn_delta_3c9e' });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /subscriptions/sub_01jw4e9k3m5p7r9t1v3x5z7b9d']);
    expect(api.requests[0]?.headers.authorization).toBe('bearer pdl_sdbx_apikey_test');
  });

  it('a customer gives its email, never a partner key', async () => {
    objects.set('ctm_with_data', { ...objects.get('ctm_01jw4e7g9j1l3n5q7s9u1w3y5a'), id: 'ctm_with_data', custom_data: { partner_key: 'ptn_x' } });
    const customer = { gateway: 'paddle' as const, object: 'customer' as const, place: 'paddle_transaction_custom_data' as const };
    expect(await client.lookup({ ...customer, id: 'ctm_01jw4e7g9j1l3n5q7s9u1w3y5a' })).toEqual({ email: 'diego.alvarez@example.org' });
    expect(await client.lookup({ ...customer, id: 'ctm_with_data' })).toEqual({ email: 'diego.alvarez@example.org' });
  });

  it('a subscription without a key says so; one Paddle does not know is null (404)', async () => {
    objects.set('sub_nokey', { ...objects.get('sub_01jw4e9k3m5p7r9t1v3x5z7b9d'), id: 'sub_nokey', custom_data: null });
    expect(await client.lookup(sub('sub_nokey'))).toEqual({ partnerKey: undefined });
    expect(await client.lookup(sub('sub_01k9zzzzzzzzzzzzzzzzzzzzzz'))).toBeNull();
  });

  it('ids are escaped into the path', async () => {
    api.requests.length = 0;
    expect(await client.lookup(sub('sub_a/../b'))).toBeNull();
    expect(api.requests.map((r) => r.path)).toEqual(['/subscriptions/sub_a%2F..%2Fb']);
  });

  it('an outage (503), a rate limit (429) or a timeout is transient: the job retries', async () => {
    answers.set('/subscriptions/sub_503', paddleError(503, 'service_unavailable'));
    answers.set('/subscriptions/sub_429', paddleError(429, 'too_many_requests'));
    answers.set('/subscriptions/sub_slow', { status: 200, body: { data: objects.get('sub_01jw4e9k3m5p7r9t1v3x5z7b9d') }, delayMs: 1500 });
    answers.set('/subscriptions/sub_html', { status: 502, body: '<html>502 Bad Gateway</html>' });
    const expected: [string, string][] = [
      ['sub_503', 'partner lookup: Paddle API 503 service_unavailable on GET /subscriptions/sub_503'],
      ['sub_429', 'partner lookup: Paddle API 429 too_many_requests on GET /subscriptions/sub_429'],
      ['sub_slow', 'partner lookup: Paddle API timeout after 300 ms on GET /subscriptions/sub_slow'],
      ['sub_html', 'partner lookup: Paddle API unreadable response on GET /subscriptions/sub_html'],
    ];
    for (const [id, message] of expected) {
      const err = await lookupError(client.lookup(sub(id)));
      expect({ message: err.message, transient: err.transient }).toEqual({ message, transient: true });
    }
    api.outage = 503; // the shared fake's own outage body: an api_error without a code
    try {
      const err = await lookupError(client.lookup(sub('sub_01jw4e9k3m5p7r9t1v3x5z7b9d')));
      expect(err).toMatchObject({ transient: true, message: expect.stringMatching(/^partner lookup: Paddle API 5xx /) });
    } finally {
      api.outage = null;
    }
  });

  it('an API that cannot be reached is transient too', async () => {
    const closed = await fakePaddleApi(objects).start();
    await closed.stop();
    const err = await lookupError(new PaddleLookupClient(() => paddleSdk('k', closed.url), 1000).lookup(sub('sub_x')));
    expect(err).toMatchObject({ transient: true, message: 'partner lookup: Paddle API unreachable on GET /subscriptions/sub_x (ECONNREFUSED)' });
  });

  it('other 4xx (a bad key, missing permissions) are not retried', async () => {
    answers.set('/customers/ctm_forbidden', paddleError(403, 'authentication_malformed'));
    answers.set('/customers/ctm_denied', paddleError(403, 'forbidden'));
    const customer = (id: string) => ({ gateway: 'paddle' as const, object: 'customer' as const, id, place: 'paddle_transaction_custom_data' as const });
    expect(await lookupError(client.lookup(customer('ctm_forbidden')))).toMatchObject({
      transient: false,
      message: 'partner lookup: Paddle API 403 authentication_malformed on GET /customers/ctm_forbidden',
    });
    expect(await lookupError(client.lookup(customer('ctm_denied')))).toMatchObject({
      transient: false,
      message: 'partner lookup: Paddle API 4xx forbidden on GET /customers/ctm_denied',
    });
  });

  it('only subscriptions and customers are looked up; no API key, no client', async () => {
    expect(await client.lookup({ gateway: 'paddle', object: 'transaction', id: 'txn_1', place: 'paddle_transaction_custom_data' })).toBeNull();
    expect(paddleLookupClient(undefined)).toBeNull();
    expect(paddleLookupClient({ webhookSecrets: ['s'] })).toBeNull();
    expect(paddleLookupClient({ webhookSecrets: ['s'], apiKey: 'pdl_live_apikey_x' })).toBeInstanceOf(PaddleLookupClient);
  });
});
