// Failures carry their kind as a property; the message people read still says `<kind>: <detail>`.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { detailOf, KindedError } from '../../src/core/errors.js';
import { LedgerDataError } from '../../src/core/plan.js';
import { EnrichmentError, PayloadError, parsePayload } from '../../src/gateways/gateway.js';

describe('kinded errors', () => {
  it('a payload error from a schema: kind payload, the detail without it, the message with it', () => {
    let caught: unknown;
    try {
      parsePayload(z.object({ currency: z.string().length(3) }), { currency: 'zzzz' }, 'order');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PayloadError);
    expect(caught).toBeInstanceOf(KindedError);
    expect((caught as PayloadError).kind).toBe('payload');
    expect((caught as PayloadError).detail).toMatch(/^order\.currency: /);
    expect((caught as Error).message).toBe(`payload: ${(caught as PayloadError).detail}`);
  });

  it('ledger data and enrichment failures say their kind; detailOf reads any error', () => {
    const ledger = new LedgerDataError('refund re_1 is in EUR, its payment pi_1 in USD');
    expect([ledger.kind, ledger.message]).toEqual(['payload', 'payload: refund re_1 is in EUR, its payment pi_1 in USD']);
    expect(new EnrichmentError('partner lookup: Stripe API 500', true).kind).toBe('enrichment');
    expect(detailOf(ledger)).toBe('refund re_1 is in EUR, its payment pi_1 in USD');
    expect(detailOf(new Error('plain'))).toBe('plain');
  });
});
