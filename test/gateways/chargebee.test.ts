import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Lookup, PaymentEventInput } from '../../src/core/payment-event.js';
import { EnrichmentError } from '../../src/gateways/gateway.js';
import { chargebeeLookupClient, ChargebeeLookupClient, chargebeeSdk } from '../../src/gateways/chargebee/client.js';
import { chargebeeAdapter } from '../../src/gateways/chargebee/index.js';
import { CHARGEBEE_EVENT_TYPES, chargebeeMinor } from '../../src/gateways/chargebee/map.js';
import { gatewayContract } from '../gateway-contract.js';
import { fakeChargebeeApi } from '../support/fake-chargebee-api.js';
import type { FakeGatewayApi } from '../support/fake-gateway-api.js';
import { fixture, fixtureJson } from '../support/fixtures.js';
import { freePort } from '../support/ports.js';

const USER = 'cb_webhook_user';
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

const fixtures = [
  ['payment_succeeded.cf_partnero_partner.json', 'payment'],
  ['payment_succeeded.cf_referral_code.json', 'payment'],
  ['payment_refunded.partial.json', 'refund'],
  ['subscription_renewed.json', 'ignore'],
  ['customer_changed.ignore.json', 'ignore'],
  ['payment_refunded.full.json', 'refund'],
  ['payment_succeeded.jpy.json', 'payment'],
  ['payment_succeeded.no_cf.json', 'payment'],
  ['coupon_created.unknown.json', 'ignore'],
] as const;


gatewayContract({
  adapter: chargebeeAdapter,
  settings: (secrets) => ({ username: USER, password: secrets[0] }),
  sign: (_body, secret) => basic(USER, secret),
  signatureHeader: 'Authorization',
  // one username/password pair per program: rotating them is changing both at once
  // (Chargebee retries what fails in between)
  rotatesSecrets: false,
  signsBody: false,
  fixtures: fixtures.map(([name, kind]) => ({ name, kind, body: fixture('chargebee', name) })),
  unknownEvent: fixture('chargebee', 'coupon_created.unknown.json'),
});

// the worked example of SIGNING.md
const DOCS = { username: 'cb_webhook_user', password: 'fixture-pass-docs-only' };
const DOCS_HEADER = 'Basic Y2Jfd2ViaG9va191c2VyOmZpeHR1cmUtcGFzcy1kb2NzLW9ubHk=';

const verify = (body: Buffer | string, authorization?: string, settings: { username?: string; password?: string } = DOCS) =>
  chargebeeAdapter.verify(
    { rawBody: Buffer.from(body), headers: authorization === undefined ? {} : { authorization }, now: new Date() },
    settings,
  );

/** A Chargebee fixture changed (as parsed JSON), for cases the fixture files do not cover. */
function event(name: string, change?: (e: any) => void): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const e = fixtureJson('chargebee', name);
  change?.(e);
  return e;
}
const events = (payload: unknown) => {
  const r = chargebeeAdapter.toEvents(payload);
  if (!Array.isArray(r)) throw new Error(r.reason);
  return r as (PaymentEventInput & Record<string, unknown>)[];
};

describe('Chargebee verification (HTTP Basic)', () => {
  it('accepts the documented credentials and reports the event id and type, no mode', () => {
    const v = verify(fixture('chargebee', 'payment_succeeded.cf_partnero_partner.json'), DOCS_HEADER);
    expect(v).toMatchObject({ kind: 'verified', eventId: 'ev_AzyvQ1Uq8Mn7Ef8', eventType: 'payment_succeeded' });
    expect(v).not.toHaveProperty('livemode');
  });

  it('answers 401 with a stable code for missing, wrong or malformed credentials', () => {
    const body = fixture('chargebee', 'payment_succeeded.cf_partnero_partner.json');
    expect(verify(body)).toEqual({ kind: 'rejected', status: 401, code: 'missing_credentials', message: expect.any(String) });
    expect(verify(body, '  ')).toMatchObject({ status: 401, code: 'missing_credentials' });
    for (const header of [
      basic('someone_else', DOCS.password).Authorization,
      basic(DOCS.username, 'fixture-pass-docs-onl').Authorization,
      basic(DOCS.username, `${DOCS.password}x`).Authorization,
      basic('', '').Authorization,
      'Bearer Y2Jfd2ViaG9va191c2VyOmZpeHR1cmUtcGFzcy1kb2NzLW9ubHk=',
      'Basic not*base64',
      `Basic ${Buffer.from('no colon here').toString('base64')}`,
    ]) {
      expect(verify(body, header), header).toMatchObject({ kind: 'rejected', status: 401, code: 'invalid_credentials' });
    }
  });

  it('splits user and password at the first colon, and takes the scheme in any case', () => {
    const body = fixture('chargebee', 'customer_changed.ignore.json');
    const settings = { username: 'hooks', password: 'pa:ss:word' };
    expect(verify(body, basic('hooks', 'pa:ss:word').Authorization, settings).kind).toBe('verified');
    expect(verify(body, `basic   ${Buffer.from('hooks:pa:ss:word').toString('base64')}`, settings).kind).toBe('verified');
  });

  it('is not configured until both a username and a password are set', () => {
    const body = fixture('chargebee', 'customer_changed.ignore.json');
    for (const settings of [undefined, {}, { username: 'u' }, { password: 'p' }, { username: '', password: 'p' }]) {
      const v = chargebeeAdapter.verify({ rawBody: body, headers: { authorization: DOCS_HEADER }, now: new Date() }, settings);
      expect(v).toMatchObject({ kind: 'rejected', status: 400, code: 'gateway_not_configured' });
    }
  });

  it('checks the credentials before reading the body', () => {
    expect(verify('not json', basic('x', 'y').Authorization)).toMatchObject({ code: 'invalid_credentials' });
  });

  it('refuses an authenticated body that is not a Chargebee event', () => {
    const noContent = JSON.stringify({ ...event('customer_changed.ignore.json'), content: undefined });
    const textDate = JSON.stringify({ ...event('customer_changed.ignore.json'), occurred_at: '2025-08-16T00:00:01Z' });
    for (const body of ['not json', '{"hello":"world"}', '[]', noContent, textDate]) {
      expect(verify(body, DOCS_HEADER), body.slice(0, 40)).toMatchObject({ kind: 'rejected', status: 400, code: 'invalid_payload' });
    }
  });
});

describe('Chargebee normalization', () => {
  it('payment_succeeded: the transaction is the key, its sole invoice an alias, cf_partnero_partner the key', () => {
    expect(chargebeeAdapter.toEvents(event('payment_succeeded.cf_partnero_partner.json'))).toEqual([
      {
        gateway: 'chargebee',
        eventId: 'ev_AzyvQ1Uq8Mn7Ef8',
        eventType: 'payment_succeeded',
        occurredAt: '2025-08-03T00:00:06.000Z',
        kind: 'payment',
        transactionKey: 'txn_AzyvQ1Uq8Mn4Cd6',
        aliases: ['chargebee_invoice_INV-2025-00871'],
        amount: { minor: '4900', currency: 'USD' },
        tax: '0',
        customer: { id: 'AzyvQ1Uq7Xk1Ab2', email: 'ines.moreau@example.com' },
        product: { id: 'growth-plan-USD-Monthly', type: 'plan_item_price' },
        partnerKey: { value: 'ptn_orbit_7f3k', place: 'chargebee_cf_partnero_partner' },
        lookups: [
          { gateway: 'chargebee', object: 'customer', id: 'AzyvQ1Uq7Xk1Ab2', place: 'chargebee_cf_partnero_partner' },
          { gateway: 'chargebee', object: 'customer', id: 'AzyvQ1Uq7Xk1Ab2', place: 'chargebee_cf_referral_code' },
        ],
        details: { invoice_id: 'INV-2025-00871', subscription_id: 'AzyvQ1Uq7XkSub9' },
      },
    ]);
  });

  it('cf_referral_code is reported at its own place (the ledger matches it against referral codes)', () => {
    expect(events(event('payment_succeeded.cf_referral_code.json'))[0]).toMatchObject({
      transactionKey: 'txn_BTkLp3Vr0Zx5Ef7',
      amount: { minor: '9900', currency: 'USD' },
      customer: { id: 'BTkLp3Vr9Yw2Cd4', email: 'tomasz.nowak@example.org' },
      partnerKey: { value: 'NOVA-22BD', place: 'chargebee_cf_referral_code' },
    });
  });

  it('cf_partnero_partner wins over cf_referral_code; blank fields are no key', () => {
    const both = event('payment_succeeded.cf_referral_code.json', (e) => (e.content.customer.cf_partnero_partner = ' ptn_delta_3c9e '));
    expect(events(both)[0]?.partnerKey).toEqual({ value: 'ptn_delta_3c9e', place: 'chargebee_cf_partnero_partner' });
    const blank = event('payment_succeeded.cf_referral_code.json', (e) => {
      e.content.customer.cf_partnero_partner = '  ';
      e.content.customer.cf_referral_code = null;
    });
    expect(events(blank)[0]?.partnerKey).toBeUndefined();
  });

  it('zero-decimal JPY is in whole yen, with the invoice tax', () => {
    expect(events(event('payment_succeeded.jpy.json'))[0]).toMatchObject({
      transactionKey: 'txn_CjpYq4Ws3Uc1Jk7',
      aliases: ['chargebee_invoice_INV-2025-01022'],
      amount: { minor: '5500', currency: 'JPY' },
      tax: '500',
      product: { id: 'growth-plan-JPY-Monthly', type: 'plan_item_price' },
      partnerKey: { value: 'ptn_seoul_91ac', place: 'chargebee_cf_partnero_partner' },
    });
  });

  it('Chargebee counts every other currency in hundredths: three-decimal currencies gain a digit', () => {
    expect(chargebeeMinor(4900, 'usd')).toEqual({ minor: '4900', currency: 'USD' });
    expect(chargebeeMinor(5500, 'JPY')).toEqual({ minor: '5500', currency: 'JPY' });
    expect(chargebeeMinor(39000, 'KRW')).toEqual({ minor: '39000', currency: 'KRW' });
    expect(chargebeeMinor(1235, 'BHD')).toEqual({ minor: '12350', currency: 'BHD' });
    expect(chargebeeMinor(1000, 'MGA')).toEqual({ minor: '1000', currency: 'MGA' });
    expect(() => chargebeeMinor(1, 'ZZZ')).toThrow('payload: unknown currency code "ZZZ"');
  });

  it('without custom fields on the customer, the customer is looked up, field by field', () => {
    const [e] = events(event('payment_succeeded.no_cf.json'));
    expect(e?.partnerKey).toBeUndefined();
    expect(e).toMatchObject({
      transactionKey: 'txn_DnoCf5Xt4Wd2Rs3',
      amount: { minor: '2900', currency: 'USD' },
      customer: { id: 'DnoCf5Xt3Vc9Pq1', email: 'dana.kim@example.org' },
      lookups: [
        { gateway: 'chargebee', object: 'customer', id: 'DnoCf5Xt3Vc9Pq1', place: 'chargebee_cf_partnero_partner' },
        { gateway: 'chargebee', object: 'customer', id: 'DnoCf5Xt3Vc9Pq1', place: 'chargebee_cf_referral_code' },
      ],
    });
  });

  it('without the customer object, its id comes from the transaction', () => {
    const e = event('payment_succeeded.no_cf.json', (x) => delete x.content.customer);
    expect(events(e)[0]).toMatchObject({ customer: { id: 'DnoCf5Xt3Vc9Pq1' }, lookups: [{ id: 'DnoCf5Xt3Vc9Pq1' }, { id: 'DnoCf5Xt3Vc9Pq1' }] });
  });

  it('an invoice paid in parts is no alias of either part, and its tax is not this payment\'s', () => {
    const split = event('payment_succeeded.cf_partnero_partner.json', (e) => {
      e.content.transaction.amount = 2000;
      e.content.transaction.linked_invoices[0].applied_amount = 2000;
      e.content.invoice.linked_payments.push({ txn_id: 'txn_other', applied_amount: 2900, applied_at: 1754179204, txn_status: 'success', txn_date: 1754179204, txn_amount: 2900 });
    });
    const [e] = events(split);
    expect(e).toMatchObject({ transactionKey: 'txn_AzyvQ1Uq8Mn4Cd6', aliases: [], amount: { minor: '2000', currency: 'USD' } });
    expect(e?.tax).toBeUndefined();
    // one payment covering two invoices: both name it (the one not in the event by its applied amount)
    const two = event('payment_succeeded.cf_partnero_partner.json', (x) => {
      x.content.transaction.linked_invoices.push({ invoice_id: 'INV-2025-00872', applied_amount: 100, invoice_total: 100, invoice_status: 'paid' });
      x.content.transaction.linked_invoices.push({ invoice_id: 'INV-2025-00873', applied_amount: 100, invoice_total: 300, invoice_status: 'partially_paid' });
    });
    expect(events(two)[0]?.aliases).toEqual(['chargebee_invoice_INV-2025-00871', 'chargebee_invoice_INV-2025-00872']);
  });

  it('payment_refunded (partial): the refund transaction, the payment it names, its own amount', () => {
    expect(chargebeeAdapter.toEvents(event('payment_refunded.partial.json'))).toEqual([
      {
        gateway: 'chargebee',
        eventId: 'ev_AzyvQ1Uq9Pq5Jk6',
        eventType: 'payment_refunded',
        occurredAt: '2025-08-13T00:00:03.000Z',
        kind: 'refund',
        refundId: 'txn_AzyvQ1Uq9Pq2Gh3',
        paymentRefs: ['txn_AzyvQ1Uq8Mn4Cd6'],
        amount: { minor: '2000', currency: 'USD' },
      },
    ]);
  });

  it('payment_refunded (full)', () => {
    expect(events(event('payment_refunded.full.json'))).toEqual([
      expect.objectContaining({ kind: 'refund', refundId: 'txn_BTkLp3Vr2Rf6Kl8', paymentRefs: ['txn_BTkLp3Vr0Zx5Ef7'], amount: { minor: '9900', currency: 'USD' } }),
    ]);
  });

  it('a refund naming no transaction falls back to the invoice its credit note refunds', () => {
    const e = event('payment_refunded.partial.json', (x) => {
      delete x.content.transaction.refunded_txn_id;
      delete x.content.transaction.reference_transaction_id;
    });
    expect(events(e)[0]?.paymentRefs).toEqual(['chargebee_invoice_INV-2025-00871']);
    const bare = event('payment_refunded.partial.json', (x) => {
      x.content.transaction.refunded_txn_id = null;
      x.content.transaction.reference_transaction_id = null;
      x.content.transaction.linked_credit_notes = [];
      delete x.content.credit_note;
    });
    expect(chargebeeAdapter.toEvents(bare)).toEqual({ kind: 'ignore', reason: 'refund names no payment transaction or invoice' });
  });

  it('a voided refund, or a refund transaction deleted, is a reversal of that refund', () => {
    const refund = events(event('payment_refunded.partial.json'))[0]!;
    const voided = events(event('payment_refunded.partial.json', (e) => (e.content.transaction.status = 'voided')));
    expect(voided).toEqual([{ ...refund, eventId: expect.any(String), reversed: true }]);
    const deleted = events(event('payment_refunded.partial.json', (e) => (e.event_type = 'transaction_deleted')));
    expect(deleted).toEqual([{ ...refund, eventType: 'transaction_deleted', reversed: true }]);
    // a deleted payment transaction is no refund's
    const payment = event('payment_succeeded.cf_partnero_partner.json', (e) => (e.event_type = 'transaction_deleted'));
    expect(chargebeeAdapter.toEvents(payment)).toEqual({ kind: 'ignore', reason: 'transaction_deleted of a payment: only a deleted refund is booked' });
  });

  it('what is not settled money is ignored, with the reason', () => {
    const cases: [unknown, string][] = [
      [event('subscription_renewed.json'), 'subscription_renewed carries no transaction: its money arrives as payment_succeeded'],
      [event('customer_changed.ignore.json'), 'not a payment event: customer_changed'],
      [event('coupon_created.unknown.json'), 'not a payment event: coupon_created'],
      [event('payment_succeeded.cf_partnero_partner.json', (e) => (e.event_type = 'payment_failed')), 'payment failed: nothing was paid'],
      [event('payment_succeeded.cf_partnero_partner.json', (e) => (e.content.transaction.status = 'in_progress')), 'payment in_progress: not settled'],
      [event('payment_succeeded.cf_partnero_partner.json', (e) => (e.content.transaction.type = 'authorization')), 'transaction type authorization: not a payment'],
      [event('payment_succeeded.cf_partnero_partner.json', (e) => (e.content.transaction.amount = 0)), 'nothing was paid (amount 0)'],
      [event('payment_refunded.partial.json', (e) => (e.content.transaction.status = 'in_progress')), 'refund in_progress: not settled'],
      [event('payment_refunded.partial.json', (e) => (e.event_type = 'refund_initiated')), 'refund initiated, not settled: payment_refunded will follow'],
    ];
    for (const [payload, reason] of cases) expect(chargebeeAdapter.toEvents(payload)).toEqual({ kind: 'ignore', reason });
  });

  it('a payment Chargebee never sends this way is a payload error, not a crash', () => {
    expect(() => chargebeeAdapter.toEvents(event('payment_succeeded.cf_partnero_partner.json', (e) => (e.content.transaction.amount = 'lots')))).toThrow(
      /^payload: transaction\.amount: /,
    );
    expect(() => chargebeeAdapter.toEvents(event('payment_succeeded.cf_partnero_partner.json', (e) => (e.content.transaction.currency_code = 'ZZZ')))).toThrow(
      'payload: unknown currency code "ZZZ"',
    );
    expect(() => chargebeeAdapter.toEvents(event('payment_succeeded.cf_partnero_partner.json', (e) => delete e.content.transaction))).toThrow(/^payload: transaction\./);
  });

  it('names the event types to enable', () => {
    expect(CHARGEBEE_EVENT_TYPES).toEqual(['payment_succeeded', 'payment_refunded', 'transaction_deleted']);
  });
});

describe('Chargebee customer lookup (the chargebee SDK against a local fake)', () => {
  const customers = new Map<string, Record<string, unknown>>();
  let api: FakeGatewayApi;
  const at = (id: string, place: Lookup['place']): Lookup => ({ gateway: 'chargebee', object: 'customer', id, place });
  const client = (timeoutMs?: number) => new ChargebeeLookupClient(chargebeeSdk({ site: 'acme-test', apiKey: 'test_key_abc', apiBase: api.url }, timeoutMs));

  beforeAll(async () => {
    const body = fixtureJson<{ customer: Record<string, unknown> }>('chargebee', 'api/customers.retrieve.json');
    customers.set(body.customer.id as string, body.customer);
    customers.set('cus_code', { id: 'cus_code', email: 'code@example.com', cf_referral_code: 'NOVA-22BD' });
    api = await fakeChargebeeApi(customers).start();
  });
  afterAll(async () => {
    await api?.stop();
  });
  beforeEach(() => {
    api.requests.length = 0;
    api.outage = null;
  });

  it('reads the custom field of the lookup\'s place, and the email, with one request per customer', async () => {
    const c = client();
    expect(await c.lookup(at('DnoCf5Xt3Vc9Pq1', 'chargebee_cf_partnero_partner'))).toEqual({ partnerKey: 'ptn_lumen_5e0a', email: 'dana.kim@example.org' });
    expect(await c.lookup(at('cus_code', 'chargebee_cf_partnero_partner'))).toEqual({ partnerKey: undefined, email: 'code@example.com' });
    expect(await c.lookup(at('cus_code', 'chargebee_cf_referral_code'))).toEqual({ partnerKey: 'NOVA-22BD', email: 'code@example.com' });
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v2/customers/DnoCf5Xt3Vc9Pq1', 'GET /api/v2/customers/cus_code']);
    expect(api.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('test_key_abc:').toString('base64')}`);
  });

  it('a customer Chargebee does not have is null', async () => {
    expect(await client().lookup(at('nobody', 'chargebee_cf_partnero_partner'))).toBeNull();
  });

  it('timeouts, 429 and 5xx are transient; other errors are not', async () => {
    const failure = async (c: ChargebeeLookupClient, id = 'cus_code') => {
      const err = await c.lookup(at(id, 'chargebee_cf_partnero_partner')).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(EnrichmentError);
      return { message: (err as EnrichmentError).message, transient: (err as EnrichmentError).transient };
    };
    api.outage = 503;
    expect(await failure(client())).toEqual({ message: 'partner lookup: Chargebee API 503 on GET /api/v2/customers/cus_code', transient: true });
    api.outage = 429;
    expect((await failure(client())).transient).toBe(true);
    api.outage = 401;
    expect((await failure(client())).transient).toBe(false);
    api.outage = null;

    const slow = await fakeChargebeeApi(customers, { delayMs: 500 }).start();
    try {
      const c = new ChargebeeLookupClient(chargebeeSdk({ site: 'acme-test', apiKey: 'k', apiBase: slow.url }, 100));
      expect(await failure(c)).toEqual({ message: 'partner lookup: Chargebee API 504 on GET /api/v2/customers/cus_code (timeout)', transient: true });
    } finally {
      await slow.stop();
    }

    const closed = new ChargebeeLookupClient(chargebeeSdk({ site: 'acme-test', apiKey: 'k', apiBase: `http://127.0.0.1:${await freePort()}` }));
    expect(await failure(closed)).toEqual({ message: 'partner lookup: Chargebee API unreachable on GET /api/v2/customers/cus_code', transient: true });
  });

  it('a failed lookup is not remembered: the retry asks again', async () => {
    const c = client();
    api.outage = 503;
    await expect(c.lookup(at('cus_code', 'chargebee_cf_referral_code'))).rejects.toThrow(EnrichmentError);
    api.outage = null;
    expect(await c.lookup(at('cus_code', 'chargebee_cf_referral_code'))).toMatchObject({ partnerKey: 'NOVA-22BD' });
    expect(api.requests).toHaveLength(2);
  });

  it('needs an API key and a site (or an API base)', () => {
    expect(chargebeeLookupClient(undefined)).toBeNull();
    expect(chargebeeLookupClient({ username: 'u', password: 'p', site: 'acme' })).toBeNull();
    expect(chargebeeLookupClient({ apiKey: 'k' })).toBeNull();
    expect(chargebeeLookupClient({ apiKey: 'k', site: 'acme' })).toBeInstanceOf(ChargebeeLookupClient);
  });
});
