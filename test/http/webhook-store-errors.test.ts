// What the webhook receiver answers when PostgreSQL refuses the inbox insert, by SQLSTATE: 503 with
// Retry-After for every "store unavailable" class (53xxx insufficient resources such as 53100
// disk_full, 57P0x shutting down, 08xxx connection, 25006 read-only, and transient lock failures),
// so the gateway retries and the retry lands; never 503 for an error a retry cannot fix (a data
// exception is 400, anything else 500). The errors are raised by a test-only trigger on this file's
// own database (the real full disk is test/reliability/disk-full.reliability.ts). One refused row
// does not fail the deliveries grouped into the same insert.
import { sql } from 'drizzle-orm';
import { DatabaseError } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataException, sqlState, storeUnavailable } from '../../src/db/store-errors.js';
import { inboxGroup } from '../../src/ingest/grouped-writes.js';
import { gatewayEnv, makeSales, paymentDelivery, prng, send, type Delivery } from '../support/deliveries.js';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
let n = 0;
const random = prng(5310);
/** A new signed payment delivery (a different gateway each time). */
const next = (): Delivery => paymentDelivery(makeSales(n + 1, { tag: `se${process.pid}`, random, partners: ['ptn_none'] })[n++]!);

async function fault(eventId: string, state: string | null) {
  await svc.db.db.execute(sql`delete from test_inbox_fault where event_id = ${eventId}`);
  if (state) await svc.db.db.execute(sql`insert into test_inbox_fault (event_id, sqlstate) values (${eventId}, ${state})`);
}
async function inboxRows(eventId: string): Promise<number> {
  const { rows } = await svc.db.db.execute<{ n: number }>(sql`select count(*)::int as n from webhook_events where event_id = ${eventId}`);
  return rows[0]!.n;
}

beforeAll(async () => {
  svc = await startTestService(gatewayEnv());
  // raises the SQLSTATE set for an event id (or for '*': every insert)
  await svc.db.db.execute(sql.raw(`
    create table test_inbox_fault (event_id text primary key, sqlstate text not null);
    create function test_inbox_fault() returns trigger language plpgsql as $$
    declare code text;
    begin
      select f.sqlstate into code from test_inbox_fault f where f.event_id in (new.event_id, '*') limit 1;
      if code is not null then
        raise exception 'test fault % on %', code, new.event_id using errcode = code;
      end if;
      return new;
    end $$;
    create trigger test_inbox_fault before insert on webhook_events for each row execute function test_inbox_fault();`));
});
afterAll(async () => {
  await svc?.stop();
});

describe('the receiver when the inbox insert fails', () => {
  const UNAVAILABLE = {
    '53100': 'disk_full',
    '53200': 'out_of_memory',
    '53300': 'too_many_connections',
    '53400': 'configuration_limit_exceeded',
    '57P01': 'admin_shutdown',
    '57P03': 'cannot_connect_now',
    '08006': 'connection_failure',
    '25006': 'read_only_sql_transaction',
    '40P01': 'deadlock_detected',
    '57014': 'query_canceled (statement_timeout)',
  };
  for (const [state, name] of Object.entries(UNAVAILABLE)) {
    it(`${state} ${name}: 503 store_unavailable with Retry-After, nothing kept; the gateway's retry lands`, async () => {
      const d = next();
      await fault('*', state);
      try {
        const res = await fetch(`${svc.url}/webhooks/${d.gateway}`, { method: 'POST', body: new Uint8Array(d.body), headers: d.headers() });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('30');
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
        expect(await inboxRows(d.eventId)).toBe(0);
      } finally {
        await fault('*', null);
      }
      expect((await send(svc.url, d)).status).toBe(200);
      expect(await inboxRows(d.eventId)).toBe(1);
    });
  }

  const REFUSED = [
    { state: '22001', name: 'string_data_right_truncation', status: 400, code: 'invalid_payload' },
    { state: '22P02', name: 'invalid_text_representation', status: 400, code: 'invalid_payload' },
    { state: '23514', name: 'check_violation', status: 500, code: 'internal_error' },
    { state: '42P01', name: 'undefined_table', status: 500, code: 'internal_error' },
  ];
  for (const r of REFUSED) {
    it(`${r.state} ${r.name}: ${r.status} ${r.code}, not a 503 the gateway would retry for days`, async () => {
      const d = next();
      await fault(d.eventId, r.state);
      const res = await fetch(`${svc.url}/webhooks/${d.gateway}`, { method: 'POST', body: new Uint8Array(d.body), headers: d.headers() });
      expect(res.status).toBe(r.status);
      expect(res.headers.get('retry-after')).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(r.code);
      expect(await inboxRows(d.eventId)).toBe(0);
      await fault(d.eventId, null);
    });
  }
});

describe('grouped inbox inserts', () => {
  const row = (eventId: string) => ({ programId: svc.programId, gateway: 'stripe', eventId, rawBody: '{}', status: 'queued' as const });

  it('a row PostgreSQL refuses fails alone: the others of its group are kept', async () => {
    const group = inboxGroup(svc.service.database.pool);
    const ids = Array.from({ length: 6 }, (_, i) => `evt_group_data_${i}`);
    await fault(ids[2]!, '22001');
    // added in one tick: one group, one insert
    const results = await Promise.allSettled(ids.map((id) => group.add(row(id))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(sqlState((results[2] as PromiseRejectedResult).reason)).toBe('22001');
    for (const [i, id] of ids.entries()) expect(await inboxRows(id), id).toBe(i === 2 ? 0 : 1);
    await fault(ids[2]!, null);
  });

  it('a full disk fails the whole group at once, and keeps none of it', async () => {
    const group = inboxGroup(svc.service.database.pool);
    const ids = Array.from({ length: 4 }, (_, i) => `evt_group_full_${i}`);
    await fault(ids[3]!, '53100');
    const results = await Promise.allSettled(ids.map((id) => group.add(row(id))));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    for (const id of ids) expect(await inboxRows(id)).toBe(0);
    await fault(ids[3]!, null);
  });
});

describe('telling store errors apart', () => {
  const pgError = (code: string) => Object.assign(new DatabaseError('x', 1, 'error'), { code });

  it('reads the SQLSTATE through wrappers, and only from the server', () => {
    expect(sqlState(new Error('Failed query', { cause: pgError('53100') }))).toBe('53100');
    // a socket error's code is not a SQLSTATE, five letters or not
    expect(sqlState(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBeUndefined();
    expect(storeUnavailable(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).toBe(true);
    expect(storeUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(storeUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    for (const code of ['53100', '53000', '57P01', '57P02', '57P04', '08000', '08P01', '25006', '40001']) expect(storeUnavailable(pgError(code)), code).toBe(true);
    for (const code of ['22001', '22021', '23505', '23514', '42P01', 'XX000']) expect(storeUnavailable(pgError(code)), code).toBe(false);
    expect(dataException(pgError('22P05'))).toBe(true);
    expect(dataException(pgError('23514'))).toBe(false);
  });
});
