// The contract every gateway adapter meets, run by each gateway's test file: verification on the raw
// body (valid passes; tampered, wrong secret, stale and unsigned fail), and normalization (every
// fixture maps to schema-valid events of the expected kind, or to an explicit Ignored).
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { PaymentEvent } from '../src/core/payment-event.js';
import type { GatewaySettings } from '../src/db/schema.js';
import type { GatewayAdapter } from '../src/gateways/gateway.js';

export type ContractFixture = {
  name: string;
  body: Buffer;
  /** What the delivery is: the kinds of events it must map to, or `ignore`. */
  kind: 'payment' | 'refund' | 'dispute' | 'ignore';
  /** Extra delivery headers the gateway sends with it (topic ...). */
  headers?: Record<string, string>;
};

export type ContractSpec<G extends keyof GatewaySettings> = {
  adapter: GatewayAdapter<G>;
  /** The program's settings of this gateway, with these secrets active (several: rotation). */
  settings(secrets: string[]): GatewaySettings[G];
  /** Headers of a delivery as the gateway signs it; `ageSeconds` back-dates the signature. */
  sign(body: Buffer, secret: string, opts?: { ageSeconds?: number }): Record<string, string>;
  /** The header carrying the signature (or credentials), to test a delivery without it. */
  signatureHeader: string;
  /** Whether the signature covers the body (HTTP Basic auth does not). */
  signsBody: boolean;
  /** Whether several secrets can be active at once (false: one credential pair, as Chargebee's). */
  rotatesSecrets?: boolean;
  /** An age past the gateway's tolerance, when signatures carry a timestamp. */
  staleAgeSeconds?: number;
  fixtures: ContractFixture[];
  /** A verified delivery of an event type the adapter does not know. */
  unknownEvent: Buffer;
};

const SECRET = 'contract_secret_current';
const OLD_SECRET = 'contract_secret_previous';

export function gatewayContract<G extends keyof GatewaySettings>(spec: ContractSpec<G>) {
  const { adapter } = spec;
  const verify = (body: Buffer, headers: Record<string, string>, secrets = [SECRET]) =>
    adapter.verify({ rawBody: body, headers: lower(headers), now: new Date() }, spec.settings(secrets));

  describe(`${adapter.gateway} adapter contract`, () => {
    it.each(spec.fixtures.map((f) => [f.name, f] as const))('verifies a correctly signed delivery: %s', (_n, f) => {
      const v = verify(f.body, { ...f.headers, ...spec.sign(f.body, SECRET) });
      expect(v.kind).toBe('verified');
      if (v.kind === 'verified') {
        expect(v.eventId.length).toBeGreaterThan(0);
        expect(v.eventType.length).toBeGreaterThan(0);
      }
    });

    it.skipIf(spec.rotatesSecrets === false)('accepts every active secret while one is being rotated', () => {
      const f = spec.fixtures[0]!;
      expect(verify(f.body, { ...f.headers, ...spec.sign(f.body, OLD_SECRET) }, [SECRET, OLD_SECRET]).kind).toBe('verified');
      expect(verify(f.body, { ...f.headers, ...spec.sign(f.body, SECRET) }, [OLD_SECRET, SECRET]).kind).toBe('verified');
    });

    it('refuses a wrong secret', () => {
      const f = spec.fixtures[0]!;
      const v = verify(f.body, { ...f.headers, ...spec.sign(f.body, 'not_the_secret') });
      expect(v).toMatchObject({ kind: 'rejected', code: expect.stringMatching(/^(invalid_signature|invalid_credentials)$/) });
    });

    it('refuses a delivery without its signature', () => {
      const f = spec.fixtures[0]!;
      const headers = { ...f.headers, ...spec.sign(f.body, SECRET) };
      delete headers[spec.signatureHeader];
      expect(verify(f.body, headers)).toMatchObject({ kind: 'rejected', code: expect.stringMatching(/^missing_/) });
    });

    it('refuses when the program has no secret for this gateway', () => {
      const f = spec.fixtures[0]!;
      const v = adapter.verify(
        { rawBody: f.body, headers: lower({ ...f.headers, ...spec.sign(f.body, SECRET) }), now: new Date() },
        undefined,
      );
      expect(v).toMatchObject({ kind: 'rejected', code: 'gateway_not_configured' });
    });

    // signature first, then shape: a signed body that is JSON but no object is the payload's fault
    it.each(['null', '[]', '42', '"x"', 'true', '[{}]'])('refuses a correctly signed body that is not a JSON object: %s', (text) => {
      const f = spec.fixtures[0]!;
      const body = Buffer.from(text);
      expect(verify(body, { ...f.headers, ...spec.sign(body, SECRET) })).toMatchObject({ kind: 'rejected', status: 400, code: 'invalid_payload' });
      expect(verify(body, { ...f.headers, ...spec.sign(body, 'not_the_secret') })).toMatchObject({
        kind: 'rejected',
        code: expect.stringMatching(/^(invalid_signature|invalid_credentials)$/),
      });
      if (spec.signsBody) {
        expect(verify(body, { ...f.headers, ...spec.sign(Buffer.from('{}'), SECRET) })).toMatchObject({ kind: 'rejected', code: 'invalid_signature' });
      }
    });

    if (spec.signsBody) {
      it.each(spec.fixtures.map((f) => [f.name, f] as const))('refuses a tampered body: %s', (_n, f) => {
        const headers = { ...f.headers, ...spec.sign(f.body, SECRET) };
        const tampered = Buffer.from(f.body.toString('utf8').replace(/\d(?=[^\d]*$)/, (d) => String((Number(d) + 1) % 10)));
        expect(tampered.equals(f.body)).toBe(false);
        expect(verify(tampered, headers)).toMatchObject({ kind: 'rejected', code: 'invalid_signature' });
        expect(verify(Buffer.concat([f.body, Buffer.from(' ')]), headers)).toMatchObject({ kind: 'rejected' });
      });
    }

    if (spec.staleAgeSeconds !== undefined) {
      it('refuses a stale signature timestamp, and one far in the future', () => {
        const f = spec.fixtures[0]!;
        expect(verify(f.body, { ...f.headers, ...spec.sign(f.body, SECRET, { ageSeconds: spec.staleAgeSeconds }) })).toMatchObject({
          kind: 'rejected',
          code: 'stale_timestamp',
        });
        expect(verify(f.body, { ...f.headers, ...spec.sign(f.body, SECRET, { ageSeconds: -3600 }) })).toMatchObject({
          kind: 'rejected',
          code: 'stale_timestamp',
        });
      });
    }

    it.each(spec.fixtures.map((f) => [f.name, f] as const))('maps to schema-valid events or an explicit Ignored: %s', (_n, f) => {
      const v = verify(f.body, { ...f.headers, ...spec.sign(f.body, SECRET) });
      if (v.kind !== 'verified') throw new Error(`not verified: ${JSON.stringify(v)}`);
      const result = adapter.toEvents(v.payload);
      if (f.kind === 'ignore') {
        expect(Array.isArray(result)).toBe(false);
        expect(result).toMatchObject({ kind: 'ignore', reason: expect.any(String) });
        return;
      }
      if (!Array.isArray(result)) throw new Error(`ignored: ${result.reason}`);
      expect(result.length).toBeGreaterThan(0);
      // a store's order also lists the refunds it has now (refunds_standing), beside its payment or refunds
      expect(result.some((e) => e.kind === f.kind)).toBe(true);
      for (const e of result) {
        const parsed = PaymentEvent.safeParse(e);
        expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
        expect([f.kind, 'refunds_standing']).toContain(parsed.data?.kind);
        expect(parsed.data?.gateway).toBe(adapter.gateway);
      }
    });

    it('answers an unknown event type with Ignored, never an exception', () => {
      const v = verify(spec.unknownEvent, spec.sign(spec.unknownEvent, SECRET));
      if (v.kind !== 'verified') throw new Error(`not verified: ${JSON.stringify(v)}`);
      expect(adapter.toEvents(v.payload)).toMatchObject({ kind: 'ignore', reason: expect.any(String) });
    });
  });
}

function lower(headers: Record<string, string>): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
