// The end-to-end contract every gateway's receiver meets, run by each gateway's *-e2e.test.ts file
// against its own service (real HTTP receiver, PostgreSQL inbox, BullMQ queue and worker): a forged
// delivery is a 4xx and leaves nothing behind; a redelivery changes nothing; an event the gateway
// does not book is kept as ignored and books nothing; a program's own URL verifies with that
// program's secret and books into that program only. The unit-level twin is test/gateway-contract.ts.
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_COMMISSION } from '../src/core/program.js';
import { createProgram } from '../src/db/programs.js';
import { rewards, transactions, webhookEvents } from '../src/db/schema.js';
import { callApi } from './support/api.js';
import { count, createPartner, stored } from './support/ledger.js';
import { startTestService, type TestService } from './support/service.js';

/** What makes one scenario's ids unique: a text suffix and a number (for gateways whose ids are numbers). */
export type Unique = { suffix: string; n: number };

/** A delivery's bytes, the event id the inbox keys it by, and the headers the gateway sends that are not its signature. */
export type E2eDelivery = { body: Buffer; eventId: string; headers?: Record<string, string> };

/** A delivery of a paid sale, and the transaction it must book. */
export type E2ePaid = E2eDelivery & { transactionKey: string; amountMinor: bigint; currency: string; partnerKey: string };

/** A delivery the gateway sends that books nothing, and the reason the service gives. */
export type E2eIgnored = E2eDelivery & { reason: string };

/** A gateway-specific forgery (besides a wrong secret, no signature, a tampered body, a stale one): its headers for these bytes. */
export type E2eForgery = { name: string; headers(body: Buffer): Record<string, string>; status: number; code: string };

export type E2eGateway = {
  /** The service's environment for this gateway: its secret is `secret` (and any API base the paid delivery needs). */
  env(): Record<string, string>;
  /** The default program's secret (for Chargebee, the webhook password). */
  secret: string;
  /** The headers carrying the signature (or credentials) for these bytes and this secret; `ageSeconds` back-dates it. */
  sign(body: Buffer, secret: string, opts?: { ageSeconds?: number }): Record<string, string>;
  /** How a refused signature is answered: its status, and the codes for a wrong and a missing one. */
  refused: { status: number; invalid: string; missing: string };
  /** Whether the signature covers the body (HTTP Basic credentials do not). */
  signsBody: boolean;
  /** An age past the tolerance, when signatures carry a timestamp. */
  staleAgeSeconds?: number;
  /** Further forgeries the gateway's authentication allows. */
  forgeries?: E2eForgery[];
  /** A paid sale, with every id in it made unique by `u`. */
  paid(u: Unique): E2ePaid;
  /** Deliveries this gateway sends that book nothing, by name; `u` is the paid sale's, delivered just before. */
  ignored: Record<string, (u: Unique) => E2eIgnored>;
  /** A correctly signed body that is no event of this gateway, answered 400 invalid_payload (default: `{"hello":"world"}`). */
  unreadable?: Buffer;
  /** PATCH /v1/program's `gateways.<name>` that gives a program this secret. */
  programSettings(secret: string): Record<string, unknown>;
};

const DEFAULT_API_KEY = 'pl_test_e2e_contract_default_key';
const OTHER_SECRET = 'e2e_contract_other_program_secret';
const EXPONENT: Record<string, number> = { JPY: 0, KRW: 0, BHD: 3, KWD: 3 };

/** `percent`% of an amount in minor units, as the ledger writes a reward (exact decimal, no trailing zeros). */
export function percentOf(amountMinor: bigint, currency: string, percent: number): string {
  const scale = (EXPONENT[currency] ?? 2) + 2;
  const digits = (amountMinor * BigInt(percent)).toString().padStart(scale + 1, '0');
  const [whole, fraction] = [digits.slice(0, -scale), digits.slice(-scale).replace(/0+$/, '')];
  return fraction ? `${whole}.${fraction}` : whole;
}

export function gatewayE2eContract(name: 'stripe' | 'paddle' | 'woocommerce' | 'chargebee', makeGateway: () => E2eGateway) {
  const gw = makeGateway();
  let svc: TestService;
  let n = 0;
  const unique = (): Unique => ({ suffix: `e2e${n}${randomBytes(3).toString('hex')}`, n: 880_000_000 + n++ });

  const post = (d: E2eDelivery, headers: Record<string, string>, path = `/webhooks/${name}`) => svc.post(path, d.body, { ...headers, ...d.headers });
  const deliver = (d: E2eDelivery, secret = gw.secret, path?: string) => post(d, gw.sign(d.body, secret), path);
  const inbox = (programId: string, eventId: string) =>
    svc.db.db
      .select()
      .from(webhookEvents)
      .where(and(eq(webhookEvents.programId, programId), eq(webhookEvents.gateway, name), eq(webhookEvents.eventId, eventId)));
  /** Every delivery kept, of any program. */
  const inboxSize = async () => (await svc.db.db.select({ id: webhookEvents.id }).from(webhookEvents)).length;
  /** What the ledger holds for a program: its transactions and rewards. */
  const ledger = async (programId: string) => ({
    transactions: await count(svc.db.db, transactions, programId),
    rewards: await count(svc.db.db, rewards, programId),
  });
  /** Deliver a paid sale to the default program and wait until it is booked. */
  async function book(paid: E2ePaid) {
    expect(await deliver(paid)).toMatchObject({ status: 200, body: { received: true } });
    expect(await svc.settled(name, paid.eventId)).toMatchObject({ status: 'processed', lastError: null });
    const t = await stored(svc.db.db, svc.programId, paid.transactionKey);
    expect(t).toMatchObject({ amountMinor: paid.amountMinor, currency: paid.currency, gateway: name, partnerKey: paid.partnerKey, deletedAt: null });
    expect(t?.rewards.map((r) => [r.amount, r.units])).toEqual([[percentOf(paid.amountMinor, paid.currency, 20), paid.currency]]);
    return t!;
  }

  describe(`${name} webhooks end-to-end contract`, () => {
    beforeAll(async () => {
      svc = await startTestService({ ...gw.env(), API_KEY: DEFAULT_API_KEY });
      await createPartner(svc.db.db, svc.programId, gw.paid(unique()).partnerKey);
    });
    afterAll(async () => {
      await svc?.stop();
    });

    describe('a forged delivery is refused with a 4xx and nothing is stored', () => {
      type Forgery = { name: string; forge(body: Buffer): { body: Buffer; headers: Record<string, string> }; status: number; code: string };
      const { status, invalid, missing } = gw.refused;
      const forgeries: Forgery[] = [
        { name: 'signed with another secret', forge: (body) => ({ body, headers: gw.sign(body, 'not_the_secret_e2e') }), status, code: invalid },
        { name: 'without its signature', forge: (body) => ({ body, headers: {} }), status, code: missing },
      ];
      if (gw.signsBody) {
        forgeries.push({ name: 'with a tampered body', forge: (body) => ({ body: tamper(body), headers: gw.sign(body, gw.secret) }), status: 400, code: 'invalid_signature' });
      }
      const age = gw.staleAgeSeconds;
      if (age !== undefined) {
        forgeries.push(
          { name: 'with a stale signature', forge: (body) => ({ body, headers: gw.sign(body, gw.secret, { ageSeconds: age }) }), status: 400, code: 'stale_timestamp' },
          { name: 'signed in the future', forge: (body) => ({ body, headers: gw.sign(body, gw.secret, { ageSeconds: -age }) }), status: 400, code: 'stale_timestamp' },
        );
      }
      for (const f of gw.forgeries ?? []) forgeries.push({ name: f.name, forge: (body) => ({ body, headers: f.headers(body) }), status: f.status, code: f.code });

      it.each(forgeries.map((f) => [f.name, f] as const))('%s', async (_n, f) => {
        const paid = gw.paid(unique());
        const before = { ledger: await ledger(svc.programId), inbox: await inboxSize() };
        const forged = f.forge(paid.body);
        expect(await post({ ...paid, body: forged.body }, forged.headers)).toMatchObject({ status: f.status, body: { status: 0, error: { code: f.code } } });
        expect(await inbox(svc.programId, paid.eventId)).toEqual([]);
        expect(await stored(svc.db.db, svc.programId, paid.transactionKey)).toBeNull();
        expect({ ledger: await ledger(svc.programId), inbox: await inboxSize() }).toEqual(before);
        // the same sale, signed as the gateway signs it, is booked: only the forgery was refused
        await book(paid);
      });

      it('a correctly signed body that is no event of this gateway is a 400 invalid_payload', async () => {
        const before = await inboxSize();
        const d = { body: gw.unreadable ?? Buffer.from('{"hello":"world"}'), eventId: '' };
        expect(await deliver(d)).toMatchObject({ status: 400, body: { status: 0, error: { code: 'invalid_payload' } } });
        expect(await inboxSize()).toBe(before);
      });
    });

    it('a redelivery is answered as a duplicate and changes nothing: one transaction, one reward', async () => {
      const paid = gw.paid(unique());
      const booked = await book(paid);
      const [row] = await inbox(svc.programId, paid.eventId);
      const before = { ledger: await ledger(svc.programId), inbox: await inboxSize() };

      // signed again, as a gateway's retry is (a new timestamp or delivery id), the same event
      expect(await deliver(paid)).toMatchObject({ status: 200, body: { received: true, duplicate: true } });
      await new Promise((r) => setTimeout(r, 200)); // time for a job the duplicate should not have queued
      expect(await inbox(svc.programId, paid.eventId)).toEqual([row]);
      expect(await stored(svc.db.db, svc.programId, paid.transactionKey)).toEqual(booked);
      expect(booked.rewards).toHaveLength(1);
      expect({ ledger: await ledger(svc.programId), inbox: await inboxSize() }).toEqual(before);
    });

    describe('an event the gateway does not book is acknowledged, kept as ignored with the reason, and books nothing', () => {
      it.each(Object.keys(gw.ignored))('%s', async (ignoredName) => {
        const u = unique();
        const paid = gw.paid(u);
        const booked = await book(paid);
        const before = await ledger(svc.programId);

        const ignored = gw.ignored[ignoredName]!(u);
        expect(await deliver(ignored)).toMatchObject({ status: 200, body: { received: true, status: 'ignored', reason: ignored.reason } });
        expect(await svc.settled(name, ignored.eventId)).toMatchObject({ status: 'ignored', outcome: { ignored: ignored.reason } });
        expect(await ledger(svc.programId)).toEqual(before);
        expect(await stored(svc.db.db, svc.programId, paid.transactionKey)).toEqual(booked);
      });
    });

    describe('the per-program URL', () => {
      it(`/webhooks/${name}/<program id> verifies with that program's own secret and books into that program only`, async () => {
        const other = await createProgram(svc.db.db, { name: `Other ${name} program`, commission: { ...DEFAULT_COMMISSION, value: '10' } });
        const patched = await callApi(svc.url, 'PATCH', '/v1/program', { gateways: { [name]: gw.programSettings(OTHER_SECRET) } }, other.apiKey);
        expect(patched.status, JSON.stringify(patched.body)).toBe(200);
        const paid = gw.paid(unique());
        await createPartner(svc.db.db, other.id, paid.partnerKey);
        const url = `/webhooks/${name}/${other.id}`;
        const defaultBefore = await ledger(svc.programId);

        // the default program's secret is not this program's, and this program's is not the default's
        expect(await deliver(paid, gw.secret, url)).toMatchObject({ status: gw.refused.status, body: { error: { code: gw.refused.invalid } } });
        expect(await deliver(paid, OTHER_SECRET)).toMatchObject({ status: gw.refused.status, body: { error: { code: gw.refused.invalid } } });
        expect(await inbox(other.id, paid.eventId)).toEqual([]);
        expect(await inbox(svc.programId, paid.eventId)).toEqual([]);

        expect(await deliver(paid, OTHER_SECRET, url)).toMatchObject({ status: 200, body: { received: true } });
        expect(await svc.settled(name, paid.eventId)).toMatchObject({ programId: other.id, status: 'processed', lastError: null });
        const t = await stored(svc.db.db, other.id, paid.transactionKey);
        expect(t).toMatchObject({ amountMinor: paid.amountMinor, currency: paid.currency, gateway: name, partnerKey: paid.partnerKey });
        expect(t?.rewards.map((r) => [r.amount, r.units])).toEqual([[percentOf(paid.amountMinor, paid.currency, 10), paid.currency]]);
        expect(await stored(svc.db.db, svc.programId, paid.transactionKey)).toBeNull();
        expect(await ledger(svc.programId)).toEqual(defaultBefore);

        // and so the API shows it: to that program's key, not to the default program's
        const key = encodeURIComponent(paid.transactionKey);
        expect(await callApi(svc.url, 'GET', `/v1/transactions/${key}`, undefined, other.apiKey)).toMatchObject({
          status: 200,
          body: { data: { key: paid.transactionKey, gateway: name, partner: paid.partnerKey, rewards: [{ amount: Number(percentOf(paid.amountMinor, paid.currency, 10)) }] } },
        });
        expect(await callApi(svc.url, 'GET', `/v1/transactions/${key}`, undefined, DEFAULT_API_KEY)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
      });

      it(`/webhooks/${name}/<default program id> takes the default program's deliveries; an unknown program id is a 404`, async () => {
        const paid = gw.paid(unique());
        expect(await deliver(paid, gw.secret, `/webhooks/${name}/${svc.programId}`)).toMatchObject({ status: 200, body: { received: true } });
        expect(await svc.settled(name, paid.eventId)).toMatchObject({ programId: svc.programId, status: 'processed' });
        expect(await stored(svc.db.db, svc.programId, paid.transactionKey)).toMatchObject({ amountMinor: paid.amountMinor, partnerKey: paid.partnerKey });

        const lost = gw.paid(unique());
        expect(await deliver(lost, gw.secret, `/webhooks/${name}/00000000-0000-4000-8000-000000000000`)).toMatchObject({
          status: 404,
          body: { error: { code: 'program_not_found' } },
        });
        expect(await svc.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, lost.eventId))).toEqual([]);
      });
    });
  });
}

/** The body with its last digit changed: still JSON, no longer the bytes that were signed. */
function tamper(body: Buffer): Buffer {
  const tampered = Buffer.from(body.toString('utf8').replace(/\d(?=\D*$)/, (d) => String((Number(d) + 1) % 10)));
  expect(tampered.equals(body)).toBe(false);
  JSON.parse(tampered.toString('utf8'));
  return tampered;
}
