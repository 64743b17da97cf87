// Each gateway's mapping of the discount a payment used: the codes the payload carries (`coupons`) and
// the discounts it names by id only (`couponLookups`, read by the worker). Pure, from the fixtures.
import { describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import { chargebeeToEvents } from '../../src/gateways/chargebee/map.js';
import { paddleToEvents } from '../../src/gateways/paddle/map.js';
import { stripeToEvents } from '../../src/gateways/stripe/map.js';
import { wooToEvents } from '../../src/gateways/woocommerce/map.js';
import { fixtureJson } from '../support/fixtures.js';

type Payment = PaymentEventInput & { kind: 'payment' };
const only = (r: unknown): Payment => {
  expect(Array.isArray(r)).toBe(true);
  const [p] = r as Payment[];
  expect(p?.kind).toBe('payment');
  return p!;
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const changed = (gateway: string, name: string, change: (o: any) => void) => {
  const o = fixtureJson(gateway, name);
  change(o);
  return o;
};

describe('Stripe discounts', () => {
  it('an invoice naming its discounts by id: the invoice is read with them expanded', () => {
    const p = only(stripeToEvents(fixtureJson('stripe', 'invoice.paid.coupon.basil.json')));
    expect(p.coupons).toBeUndefined();
    expect(p.couponLookups).toEqual([{ gateway: 'stripe', object: 'invoice', id: 'in_1RfC0uHk2QwLm9XaCo3Up4Nv' }]);
  });

  it('expanded invoice discounts and the older `discount`: promotion codes by code or id, coupons by id', () => {
    const e = changed('stripe', 'invoice.paid.coupon.basil.json', (o) => {
      o.data.object.discounts = [
        { id: 'di_1', object: 'discount', promotion_code: { id: 'promo_1', object: 'promotion_code', code: 'ADA20' }, source: { coupon: 'Q4', type: 'coupon' } },
        { id: 'di_2', object: 'discount', promotion_code: 'promo_2', source: { coupon: { id: 'SUMMER', object: 'coupon' }, type: 'coupon' } },
      ];
      o.data.object.discount = { id: 'di_3', object: 'discount', coupon: { id: 'LEGACY', object: 'coupon' }, promotion_code: null };
    });
    const p = only(stripeToEvents(e));
    expect(p.coupons).toEqual(['ADA20', 'Q4', 'SUMMER', 'LEGACY']);
    expect(p.couponLookups).toEqual([{ gateway: 'stripe', object: 'promotion_code', id: 'promo_2' }]);
  });

  it('a Checkout Session: discounts[] and the expanded total_details.breakdown', () => {
    const p = only(stripeToEvents(fixtureJson('stripe', 'checkout.session.completed.coupon.json')));
    expect(p.couponLookups).toEqual([{ gateway: 'stripe', object: 'promotion_code', id: 'promo_1RfBzzHk2QwLm9XaPc1Nv2Aa' }]);
    const expanded = changed('stripe', 'checkout.session.completed.coupon.json', (o) => {
      o.data.object.discounts = [{ coupon: 'WINTER', promotion_code: null }];
      o.data.object.total_details.breakdown = { discounts: [{ amount: 500, discount: { id: 'di_9', object: 'discount', promotion_code: { id: 'promo_9', code: 'ADA20' }, source: { coupon: 'WINTER' } } }], taxes: [] };
    });
    const q = only(stripeToEvents(expanded));
    expect(q.coupons).toEqual(['WINTER', 'ADA20']);
    expect(q.couponLookups).toBeUndefined();
  });

  it('no discount: nothing to read', () => {
    const p = only(stripeToEvents(fixtureJson('stripe', 'invoice.payment_succeeded.basil.json')));
    expect([p.coupons, p.couponLookups]).toEqual([undefined, undefined]);
  });
});

describe('Paddle discounts', () => {
  it('discount_id is read through the API; a transaction carrying its discount gives the code', () => {
    const p = only(paddleToEvents(fixtureJson('paddle', 'transaction.completed.discount.json')));
    expect(p.couponLookups).toEqual([{ gateway: 'paddle', object: 'discount', id: 'dsc_01jz3w9y1a3c5e7g9j1l3n5q7s' }]);
    const included = changed('paddle', 'transaction.completed.discount.json', (o) => {
      o.data.discount = { id: 'dsc_01jz3w9y1a3c5e7g9j1l3n5q7s', code: 'NOVAPADDLE' };
    });
    const q = only(paddleToEvents(included));
    expect([q.coupons, q.couponLookups]).toEqual([['NOVAPADDLE'], undefined]);
  });
});

describe('WooCommerce coupon lines', () => {
  it('coupon_lines[].code, each once', () => {
    const o = changed('woocommerce', 'order.created.coupon.json', (x) => {
      x.coupon_lines.push({ id: 782, code: 'free-ship', discount: '0.00', discount_tax: '0.00', meta_data: [] }, { id: 783, code: 'nova-summer' });
    });
    expect(only(wooToEvents(o)).coupons).toEqual(['nova-summer', 'free-ship']);
    expect(only(wooToEvents(fixtureJson('woocommerce', 'order.created.processing.json'))).coupons).toBeUndefined();
  });
});

describe('Chargebee coupons', () => {
  it('invoice coupon discounts (a coupon-set code first), line item coupons, the subscription’s coupons; credits are no coupons', () => {
    const e = changed('chargebee', 'payment_succeeded.coupon.json', (x) => {
      x.content.invoice.discounts = [
        { amount: 100, entity_type: 'promotional_credits', entity_id: 'credits', object: 'discount' },
        { amount: 435, entity_type: 'document_level_coupon', entity_id: 'NOVA15', coupon_set_code: 'NOVA15-7XK2', object: 'discount' },
      ];
      x.content.invoice.line_item_discounts = [{ line_item_id: 'li_1', discount_type: 'item_level_coupon', coupon_id: 'ITEM10', discount_amount: 50 }];
      x.content.subscription.coupons = [{ coupon_id: 'SUB5', coupon_code: 'SUB5-AB', object: 'coupon' }];
    });
    expect(only(chargebeeToEvents(e)).coupons).toEqual(['NOVA15-7XK2', 'NOVA15', 'ITEM10', 'SUB5-AB', 'SUB5']);
    expect(only(chargebeeToEvents(fixtureJson('chargebee', 'payment_succeeded.coupon.json'))).coupons).toEqual(['NOVA15']);
    expect(only(chargebeeToEvents(fixtureJson('chargebee', 'payment_succeeded.no_cf.json'))).coupons).toBeUndefined();
  });
});
