import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import { stripeAdapter } from '../../src/gateways/stripe/index.js';
import { stripeMinor } from '../../src/gateways/stripe/map.js';
import { gatewayContract } from '../gateway-contract.js';
import { fixture, stripeEvent } from '../support/fixtures.js';

const stripe = new Stripe('sk_test_unused');
const sign = (body: Buffer, secret: string, opts: { ageSeconds?: number } = {}) => ({
  'Stripe-Signature': stripe.webhooks.generateTestHeaderString({
    payload: body.toString('utf8'),
    secret,
    timestamp: Math.floor(Date.now() / 1000) - (opts.ageSeconds ?? 0),
  }),
});

const shared = [
  ['payment_intent.succeeded.json', 'payment'],
  ['payment_intent.succeeded.krw.json', 'payment'],
  ['charge.succeeded.2024-06-20.json', 'payment'],
  ['invoice.payment_succeeded.basil.json', 'payment'],
  ['checkout.session.completed.subscription.json', 'payment'],
  ['charge.refunded.partial.json', 'refund'],
  ['refund.created.json', 'refund'],
  ['charge.dispute.closed.lost.json', 'dispute'],
  ['charge.dispute.closed.won.json', 'dispute'],
  ['payment_method.attached.ignore.json', 'ignore'],
  ['invoice.paid.2024-06-20.json', 'payment'],
  ['checkout.session.completed.payment.json', 'payment'],
  ['checkout.session.completed.unpaid.json', 'ignore'],
  ['charge.dispute.created.json', 'dispute'],
  ['refund.updated.pending.json', 'ignore'],
  ['payment_intent.succeeded.2024-06-20.invoice.json', 'payment'],
  ['charge.succeeded.bhd.json', 'payment'],
] as const;

gatewayContract({
  adapter: stripeAdapter,
  settings: (secrets) => ({ webhookSecrets: secrets }),
  sign,
  signatureHeader: 'Stripe-Signature',
  signsBody: true,
  staleAgeSeconds: 301,
  fixtures: shared.map(([name, kind]) => ({ name, kind, body: fixture('stripe', name) })),
  unknownEvent: stripeEvent('payment_method.attached.ignore.json', (e) => (e.type = 'customer.tax_id.created')),
});

const verified = (body: Buffer) => {
  const v = stripeAdapter.verify({ rawBody: body, headers: { 'stripe-signature': sign(body, 'whsec_t')['Stripe-Signature'] }, now: new Date() }, { webhookSecrets: ['whsec_t'] });
  if (v.kind !== 'verified') throw new Error(JSON.stringify(v));
  return v;
};
const events = (name: string) => {
  const r = stripeAdapter.toEvents(verified(fixture('stripe', name)).payload);
  if (!Array.isArray(r)) throw new Error(r.reason);
  return r as (PaymentEventInput & Record<string, unknown>)[];
};

describe('Stripe verification', () => {
  it('refuses thin (v2) events with a clear code', () => {
    const body = Buffer.from(JSON.stringify({ id: 'evt_thin', object: 'v2.core.event', type: 'v1.billing.meter.error_report_triggered', created: '2026-11-01T00:00:00Z' }));
    const v = stripeAdapter.verify({ rawBody: body, headers: { 'stripe-signature': sign(body, 'whsec_t')['Stripe-Signature'] }, now: new Date() }, { webhookSecrets: ['whsec_t'] });
    expect(v).toMatchObject({ kind: 'rejected', code: 'thin_event_unsupported' });
  });

  it('refuses a signed body that is not a Stripe event', () => {
    for (const text of ['{"hello":"world"}', 'not json']) {
      const body = Buffer.from(text);
      const v = stripeAdapter.verify({ rawBody: body, headers: { 'stripe-signature': sign(body, 'whsec_t')['Stripe-Signature'] }, now: new Date() }, { webhookSecrets: ['whsec_t'] });
      expect(v).toMatchObject({ kind: 'rejected', code: 'invalid_payload' });
    }
  });

  it('reports the event id, type and mode for the inbox', () => {
    expect(verified(fixture('stripe', 'refund.created.json'))).toMatchObject({
      eventId: 'evt_3RbT7yHk2QwLm9Xa0h9Ij0Kl',
      eventType: 'refund.created',
      livemode: false,
    });
  });
});

describe('Stripe normalization', () => {
  it('payment_intent.succeeded: the intent is the key, its metadata the partner key', () => {
    expect(events('payment_intent.succeeded.json')).toEqual([
      expect.objectContaining({
        kind: 'payment',
        transactionKey: 'pi_3RbT7yHk2QwLm9Xa0c4VnE1s',
        aliases: ['ch_3RbT7yHk2QwLm9Xa0k8PdQ2r'],
        amount: { minor: '4900', currency: 'USD' },
        customer: { id: 'cus_SWq4Nc8dTf2LhA', email: 'morgan.lee@example.com' },
        partnerKey: { value: 'ptn_orbit_7f3k', place: 'stripe_payment_intent_metadata' },
        lookups: [{ gateway: 'stripe', object: 'customer', id: 'cus_SWq4Nc8dTf2LhA', place: 'stripe_customer_metadata' }],
      }),
    ]);
  });

  it('zero-decimal currencies are whole units: 39000 KRW is ₩39,000', () => {
    expect(events('payment_intent.succeeded.krw.json')[0]?.amount).toEqual({ minor: '39000', currency: 'KRW' });
  });

  it('three-decimal currencies keep Stripe integer amounts: 12340 BHD fils', () => {
    expect(events('charge.succeeded.bhd.json')[0]?.amount).toEqual({ minor: '12340', currency: 'BHD' });
  });

  it('MGA is zero-decimal at Stripe and two-decimal in ISO 4217', () => {
    expect(stripeMinor(5000, 'mga')).toEqual({ minor: '500000', currency: 'MGA' });
    expect(stripeMinor(5000, 'jpy')).toEqual({ minor: '5000', currency: 'JPY' });
  });

  it('charge.succeeded (2024): keyed by its intent, found by charge and invoice, key looked up', () => {
    expect(events('charge.succeeded.2024-06-20.json')[0]).toMatchObject({
      transactionKey: 'pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef',
      aliases: ['ch_3RcA4mHk2QwLm9Xa1d2Fg3Hi', 'in_1RcA4kHk2QwLm9XaQw2Er3Ty'],
      amount: { minor: '2900', currency: 'USD' },
      customer: { id: 'cus_SXa9Pf3eKw7VbM', email: 'priya.nair@example.com' },
      lookups: [
        { object: 'invoice', id: 'in_1RcA4kHk2QwLm9XaQw2Er3Ty', place: 'stripe_subscription_metadata' },
        { object: 'customer', id: 'cus_SXa9Pf3eKw7VbM', place: 'stripe_customer_metadata' },
      ],
    });
    expect(events('charge.succeeded.2024-06-20.json')[0]?.partnerKey).toBeUndefined();
  });

  it('invoice.payment_succeeded (basil): subscription snapshot metadata, the intent looked up by invoice', () => {
    expect(events('invoice.payment_succeeded.basil.json')[0]).toMatchObject({
      transactionKey: 'in_1RdK2pHk2QwLm9XaZa1Sb2Dc',
      keyFrom: { gateway: 'stripe', object: 'invoice', id: 'in_1RdK2pHk2QwLm9XaZa1Sb2Dc' },
      amount: { minor: '2900', currency: 'USD' },
      customer: { id: 'cus_SYb2Qg4fLx8WcN', email: 'jonas.berg@example.org' },
      partnerKey: { value: 'ptn_orbit_7f3k', place: 'stripe_subscription_metadata' },
      lookups: [
        { object: 'subscription', id: 'sub_1RdK2pHk2QwLm9XaGh8Jk9Lm' },
        { object: 'customer', id: 'cus_SYb2Qg4fLx8WcN' },
      ],
    });
  });

  it('invoice.paid (2024): the intent on the invoice is the key, subscription_details the partner key', () => {
    expect(events('invoice.paid.2024-06-20.json')[0]).toMatchObject({
      transactionKey: 'pi_3RcA4mHk2QwLm9Xa1b7Cd9Ef',
      aliases: ['in_1RcA4kHk2QwLm9XaQw2Er3Ty', 'ch_3RcA4mHk2QwLm9Xa1d2Fg3Hi'],
      partnerKey: { value: 'ptn_lumen_5e0a', place: 'stripe_subscription_metadata' },
      product: { id: 'prod_Growth01', type: 'month' },
    });
    expect(events('invoice.paid.2024-06-20.json')[0]?.keyFrom).toBeUndefined();
  });

  it('invoice metadata wins over the subscription snapshot', () => {
    const body = stripeEvent('invoice.payment_succeeded.basil.json', (e) => (e.data.object.metadata = { partner_key: 'ptn_invoice' }));
    const r = stripeAdapter.toEvents(JSON.parse(body.toString()));
    expect(Array.isArray(r) && r[0]).toMatchObject({ partnerKey: { value: 'ptn_invoice', place: 'stripe_invoice_metadata' } });
  });

  it('checkout.session.completed (subscription): session metadata, keyed by its invoice until the intent is known', () => {
    expect(events('checkout.session.completed.subscription.json')[0]).toMatchObject({
      transactionKey: 'in_1ReM5tHk2QwLm9XaVw9Xy0Za',
      aliases: ['cs_test_a1Q9wErT5yUiOp3AsDfGhJkLzXcVbNm2QwErTyUiOpAsDfGh', 'in_1ReM5tHk2QwLm9XaVw9Xy0Za'],
      keyFrom: { object: 'invoice', id: 'in_1ReM5tHk2QwLm9XaVw9Xy0Za' },
      customer: { email: 'aisha.khan@example.com' },
      partnerKey: { value: 'ptn_nova_22bd', place: 'stripe_checkout_session_metadata' },
    });
  });

  it('checkout.session.completed (payment): keyed by its intent', () => {
    expect(events('checkout.session.completed.payment.json')[0]).toMatchObject({
      transactionKey: 'pi_3RkU1aHk2QwLm9Xa0m1Nn2Oo',
      amount: { minor: '5000', currency: 'JPY' },
    });
  });

  it('checkout.session.completed while unpaid waits for async_payment_succeeded', () => {
    const r = stripeAdapter.toEvents(verified(fixture('stripe', 'checkout.session.completed.unpaid.json')).payload);
    expect(r).toEqual({ kind: 'ignore', reason: 'checkout session unpaid: its payment is not made yet' });
  });

  it('charge.refunded: the running refunded total, keyed by it', () => {
    expect(events('charge.refunded.partial.json')).toEqual([
      expect.objectContaining({
        kind: 'refund',
        refundId: 'ch_3RbT7yHk2QwLm9Xa0k8PdQ2r@1500',
        paymentRefs: ['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 'ch_3RbT7yHk2QwLm9Xa0k8PdQ2r'],
        amount: { minor: '1500', currency: 'USD' },
        cumulative: true,
      }),
    ]);
  });

  it('refund.created: one refund by its id; a pending one waits', () => {
    expect(events('refund.created.json')[0]).toMatchObject({
      kind: 'refund',
      refundId: 're_3RbT7yHk2QwLm9Xa0x5Yz6Ab',
      paymentRefs: ['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 'ch_3RbT7yHk2QwLm9Xa0k8PdQ2r'],
      amount: { minor: '1500', currency: 'USD' },
    });
    expect(stripeAdapter.toEvents(verified(fixture('stripe', 'refund.updated.pending.json')).payload)).toMatchObject({ kind: 'ignore' });
  });

  it.each([
    ['refund.failed', 'failed'],
    ['refund.updated', 'canceled'],
    ['charge.refund.updated', 'failed'],
  ])('%s with status %s: a reversal of the refund, by its id and amount', (type, status) => {
    const body = stripeEvent('refund.created.json', (e) => Object.assign(e, { type }) && Object.assign(e.data.object, { status }));
    const r = stripeAdapter.toEvents(JSON.parse(body.toString()));
    expect(r).toEqual([expect.objectContaining({ kind: 'refund', reversed: true, refundId: 're_3RbT7yHk2QwLm9Xa0x5Yz6Ab', amount: { minor: '1500', currency: 'USD' } })]);
    // a succeeded one is the refund itself, never a reversal
    const ok = stripeAdapter.toEvents(JSON.parse(stripeEvent('refund.created.json', (e) => (e.type = type)).toString()));
    expect(ok).toEqual([expect.not.objectContaining({ reversed: true })]);
  });

  it('a dispute whose funds are reinstated, or closed warning_closed, is won', () => {
    const reinstated = stripeEvent('charge.dispute.closed.lost.json', (e) => Object.assign(e, { type: 'charge.dispute.funds_reinstated' }) && (e.data.object.status = 'won'));
    expect(stripeAdapter.toEvents(JSON.parse(reinstated.toString()))).toEqual([expect.objectContaining({ kind: 'dispute', status: 'won', disputeId: 'dp_1RgN1aHk2QwLm9XaLo5St6Uv' })]);
    const warning = stripeEvent('charge.dispute.closed.lost.json', (e) => (e.data.object.status = 'warning_closed'));
    expect(stripeAdapter.toEvents(JSON.parse(warning.toString()))).toEqual([expect.objectContaining({ kind: 'dispute', status: 'won' })]);
  });

  it('disputes: created holds, closed lost deletes, closed won restores', () => {
    expect(events('charge.dispute.created.json')[0]).toMatchObject({ kind: 'dispute', status: 'opened', paymentRefs: ['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 'ch_3RbT7yHk2QwLm9Xa0k8PdQ2r'] });
    expect(events('charge.dispute.closed.lost.json')[0]).toMatchObject({ kind: 'dispute', status: 'lost', disputeId: 'dp_1RgN1aHk2QwLm9XaLo5St6Uv' });
    expect(events('charge.dispute.closed.won.json')[0]).toMatchObject({ kind: 'dispute', status: 'won' });
  });

  it('a payment object Stripe never sends this way is a payload error, not a crash', () => {
    const body = stripeEvent('payment_intent.succeeded.json', (e) => (e.data.object.amount_received = 'lots'));
    expect(() => stripeAdapter.toEvents(JSON.parse(body.toString()))).toThrow(/^payload: payment_intent\.amount_received: /);
    const cur = stripeEvent('payment_intent.succeeded.json', (e) => (e.data.object.currency = 'zzz'));
    expect(() => stripeAdapter.toEvents(JSON.parse(cur.toString()))).toThrow('payload: unknown currency code "zzz"');
  });
});
