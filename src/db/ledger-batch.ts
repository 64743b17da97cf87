// The worker's batch path: many jobs in one database transaction, payments applied set-based.
// For each run of payment events the batch reads what it needs in one statement (stored refs,
// partners, customers with their referrers, waiting refunds and disputes), decides every event in
// memory IN ORDER with the pure core (so events of one batch see each other exactly as they would
// one by one), and writes everything in one statement. Refunds and disputes keep the per-event path;
// they run after the payments of their segment, and a payment that names one of them starts a new
// segment so it sees it waiting, as it would one event at a time.
import { randomUUID } from 'node:crypto';
import { and, arrayOverlaps, asc, eq, isNull, sql } from 'drizzle-orm';
import { attribute, perPartnerKey, type Referrer, type StoredCustomer } from '../core/attribution.js';
import { computeCommission, type RewardDraft } from '../core/commission.js';
import { MoneyError } from '../core/money.js';
import type { RefundFact } from '../core/payment-event.js';
import { reducedReward, refundedTotal } from '../core/refund.js';
import type { ProgramRules } from '../core/program.js';
import type { Db } from './client.js';
import {
  applyDisputeRow,
  applyRefundRow,
  attributionRecord,
  executePrepared,
  identityOf,
  LedgerDataError,
  lock,
  lockNames,
  tryLock,
  recordDispute,
  recordRefund,
  type BatchResult,
  type EnrichedPayment,
  type EventOutcome,
  type JobEvents,
  type LedgerEvent,
  type Tx,
} from './ledger.js';
import { disputes, refunds } from './schema.js';

/**
 * The outbox rows of a write statement's `d.j->'outbox'`, for programs with an active subscription to
 * each event (as src/db/outbox.ts emit() decides, here inside the set-based statement).
 */
const OUTBOX_INSERT = sql.raw(`
      insert into outbox (program_id, event, entity_key, detail)
      select x.p, x.event, x.entity_key, x.detail
      from d, jsonb_to_recordset(d.j->'outbox') as x(p uuid, event text, entity_key text, detail jsonb, ord bigint)
      where exists (
        select 1 from webhook_subscriptions s
        where s.program_id = x.p and s.is_active and s.deleted_at is null and x.event = any(s.events)
      )
      order by x.ord
      returning 1
    `);

/** A job of the batch failed on its own (bad data): take it out and apply the others again. */
class JobFailure extends Error {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {
    super('job failed');
  }
}

/**
 * Apply jobs in one database transaction, each all-or-nothing (see applyBatch). `fallback` applies
 * jobs one statement at a time: it takes over when the batch fails for a reason no single job can
 * be blamed for (a write refused by a concurrent change the batch did not lock out), so the
 * isolation contract holds whatever happens.
 */
export async function applyBatchSetBased(
  db: Db,
  jobs: JobEvents[],
  now: Date,
  fallback: (db: Db, jobs: JobEvents[], now: Date) => Promise<BatchResult[]>,
): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(jobs.length);
  const namesOf = (i: number) => jobs[i]!.events.flatMap((e) => lockNames(jobs[i]!.program.id, e));
  let pending = jobs.map((_, i) => i);
  // whether the next transaction waits for its locks instead of trying them
  let wait = false;
  while (pending.length) {
    try {
      const { outcomes, deferred } = await db.transaction(async (tx) => {
        let run = pending;
        let deferred: number[] = [];
        if (wait || pending.length === 1) {
          await lock(tx, pending.flatMap(namesOf));
        } else {
          // Another batch (another worker process) holding some of these locks would make this whole
          // batch wait for its commit. Instead the jobs it blocks are deferred to a transaction of
          // their own, after this one, and the rest go now.
          const busy = await tryLock(tx, pending.flatMap(namesOf));
          if (busy.size) {
            ;({ run, deferred } = splitBusy(pending, namesOf, busy));
            // none free: start again waiting, in the global order (this transaction's locks go with it)
            if (!run.length) throw new AllBusy();
          }
        }
        const outcomes = await applyJobs(tx, run.map((i) => ({ index: i, job: jobs[i]! })), now);
        return { outcomes, deferred };
      });
      for (const [i, o] of outcomes) results[i] = { ok: true, outcomes: o };
      pending = deferred;
      wait = false;
    } catch (error) {
      if (error instanceof AllBusy) {
        wait = true;
        continue;
      }
      if (error instanceof JobFailure) {
        results[error.index] = { ok: false, error: error.error };
        pending = pending.filter((i) => i !== error.index);
        continue;
      }
      if (serverRefuses(sqlState(error))) {
        // the server takes no writes now (read-only after a failover, disk full, shutting down): no job
        // is to blame, and trying them one by one would fail each in turn, a transaction apiece. All of
        // them fail at once, and are retried with backoff.
        for (const i of pending) results[i] = { ok: false, error };
        pending = [];
        continue;
      }
      if (sqlState(error) === STATEMENT_CANCELED) {
        // cut by statement_timeout: most likely one job's statement sleeps or waits (a poisoned job).
        // One transaction per job, in order: it then hangs again holding only its own locks, and every
        // other job commits, instead of all of them waiting on it once more in one transaction.
        for (const i of pending) results[i] = (await fallback(db, [jobs[i]!], now))[0]!;
        pending = [];
        continue;
      }
      // nobody to blame: apply the remaining jobs the one-at-a-time way, which isolates them itself
      const rest = await fallback(db, pending.map((i) => jobs[i]!), now);
      pending.forEach((i, k) => (results[i] = rest[k]!));
      pending = [];
    }
  }
  return results;
}

class AllBusy extends Error {}

/** SQLSTATE 57014, query_canceled: statement_timeout (or a cancel request) cut a statement. */
const STATEMENT_CANCELED = '57014';

/**
 * SQLSTATEs that say the server, not a statement, is the problem: 25006 (read-only transaction: a
 * standby, or default_transaction_read_only), class 08 (connection exception), 53 (insufficient
 * resources: disk full, out of memory, too many connections), 57P (shutting down, starting up) and 58
 * (system error: I/O).
 */
function serverRefuses(state: string | undefined): boolean {
  return !!state && (state === '25006' || /^(08|53|57P|58)/.test(state));
}

/** The SQLSTATE of a pg error, or of the one drizzle wrapped. */
function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The jobs that can go now, and the deferred ones: those needing a lock held elsewhere, and every
 * later job sharing a lock with a deferred one (so events of one payment or customer keep their order).
 */
export function splitBusy(pending: number[], namesOf: (i: number) => string[], busy: Set<string>): { run: number[]; deferred: number[] } {
  const blocked = new Set(busy);
  const run: number[] = [];
  const deferred: number[] = [];
  for (const i of pending) {
    const names = namesOf(i);
    if (names.some((n) => blocked.has(n))) {
      deferred.push(i);
      for (const n of names) blocked.add(n);
    } else run.push(i);
  }
  return { run, deferred };
}

type Item = { job: number; seq: number; e: LedgerEvent };
type Segment = { payments: (Item & { e: EnrichedPayment })[]; others: Item[] };

/** Runs of payments, each followed by the refunds and disputes that came among them. */
export function segmentsOf(items: Item[], programOf: (job: number) => string): Segment[] {
  const segments: Segment[] = [];
  let current: Segment = { payments: [], others: [] };
  let deferredRefs = new Set<string>();
  for (const it of items) {
    const p = programOf(it.job);
    if (it.e.kind === 'payment') {
      const refs = [it.e.transactionKey, ...it.e.aliases].map((r) => `${p}|${r}`);
      // it must see a refund or dispute that came before it: that one runs first
      if (refs.some((r) => deferredRefs.has(r))) {
        segments.push(current);
        current = { payments: [], others: [] };
        deferredRefs = new Set();
      }
      current.payments.push(it as Item & { e: EnrichedPayment });
    } else {
      current.others.push(it);
      for (const r of it.e.paymentRefs) deferredRefs.add(`${p}|${r}`);
    }
  }
  segments.push(current);
  return segments.filter((s) => s.payments.length || s.others.length);
}

async function applyJobs(tx: Tx, jobs: { index: number; job: JobEvents }[], now: Date): Promise<Map<number, EventOutcome[]>> {
  const items: Item[] = [];
  const outcomes = new Map<number, EventOutcome[]>();
  for (const { index, job } of jobs) {
    outcomes.set(index, new Array(job.events.length));
    job.events.forEach((e, seq) => items.push({ job: index, seq, e }));
  }
  const programs = new Map(jobs.map(({ index, job }) => [index, job.program]));
  const programOf = (i: number) => programs.get(i)!;
  for (const seg of segmentsOf(items, (i) => programOf(i).id)) {
    if (seg.payments.length) {
      const done = await applyPayments(tx, seg.payments, programOf, now);
      for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
    }
    if (seg.others.length && seg.others.every((it) => it.e.kind === 'refund')) {
      const done = await applyRefunds(tx, seg.others as (Item & { e: RefundFact })[], programOf, now);
      for (const [it, o] of done) outcomes.get(it.job)![it.seq] = o;
      continue;
    }
    for (const it of seg.others) {
      try {
        const program = programOf(it.job);
        outcomes.get(it.job)![it.seq] =
          it.e.kind === 'refund' ? await recordRefund(tx, program, it.e, now, true) : await recordDispute(tx, program, it.e as never, now, true);
      } catch (error) {
        throw new JobFailure(it.job, error);
      }
    }
  }
  const inbox = jobs.filter(({ job }) => job.inboxId).map(({ index, job }) => ({ id: job.inboxId, outcome: outcomes.get(index) }));
  if (inbox.length) {
    await executePrepared(tx, sql`
      update webhook_events w
      set status = 'processed', outcome = x.outcome, processed_at = ${now.toISOString()}::timestamptz,
          attempts = w.attempts + 1, last_error = null
      from (select * from jsonb_to_recordset(${JSON.stringify(inbox)}::jsonb) as x(id bigint, outcome jsonb) limit ${inbox.length}) as x
      where w.id = x.id`);
  }
  return outcomes;
}

// ---- what the store knows, in memory ----

type CustomerRow = {
  id: string;
  programId: string;
  key: string;
  emailLower: string | null;
  gateway: string | null;
  gatewayCustomerId: string | null;
  perPartner: boolean;
  /** Created through the public browser key: never matched by email. */
  fromBrowser: boolean;
  deleted: boolean;
  createdAt: number;
  /** Order among rows of equal createdAt: stored ones first, then in the order this batch made them. */
  seq: number;
  firstPaymentAt: Date | null;
  referrer: Referrer | null;
  /** Made by this batch (inserted), or stored (updated when a payment touches it). */
  fresh: null | { email: string | null; name: string | null; surname: string | null };
  touched: boolean;
  /** A stored customer linked to a partner by this batch (it had none). */
  linkedNow: boolean;
};

class CustomerStore {
  private byKey = new Map<string, CustomerRow>();
  private byGateway = new Map<string, CustomerRow[]>();
  private byEmail = new Map<string, CustomerRow[]>();
  readonly rows: CustomerRow[] = [];

  add(r: CustomerRow) {
    const k = `${r.programId}|${r.key}`;
    if (this.byKey.has(k)) return;
    this.byKey.set(k, r);
    this.rows.push(r);
    if (r.gateway !== null && r.gatewayCustomerId !== null) push(this.byGateway, `${r.programId}|${r.gateway}|${r.gatewayCustomerId}`, r);
    if (r.emailLower !== null && !r.fromBrowser) push(this.byEmail, `${r.programId}|${r.emailLower}`, r);
  }

  /** Any row with this key (deleted and per-partner ones too). */
  anyByKey(programId: string, key: string) {
    return this.byKey.get(`${programId}|${key}`) ?? null;
  }

  /**
   * findCustomer's rules: a live customer of its own, by key, else gateway id, else email (never one a
   * browser created); the oldest. A browser's report matches by key only.
   */
  find(programId: string, gateway: string, who: { key?: string; gatewayId?: string; email?: string }, fromBrowser: boolean) {
    const live = (r: CustomerRow | null | undefined) => !!r && !r.perPartner && !r.deleted;
    if (who.key) {
      const r = this.byKey.get(`${programId}|${who.key}`);
      if (live(r)) return { row: r!, matchedBy: 'key' as const };
    }
    if (fromBrowser) return null;
    if (who.gatewayId) {
      const r = oldest(this.byGateway.get(`${programId}|${gateway}|${who.gatewayId}`), live);
      if (r) return { row: r, matchedBy: 'gateway_id' as const };
    }
    if (who.email) {
      const r = oldest(this.byEmail.get(`${programId}|${who.email.toLowerCase()}`), live);
      if (r) return { row: r, matchedBy: 'email' as const };
    }
    return null;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V) {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function oldest(rows: CustomerRow[] | undefined, keep: (r: CustomerRow) => boolean): CustomerRow | null {
  let best: CustomerRow | null = null;
  for (const r of rows ?? []) {
    if (!keep(r)) continue;
    if (!best || r.createdAt < best.createdAt || (r.createdAt === best.createdAt && r.seq < best.seq)) best = r;
  }
  return best;
}

const stored = (r: CustomerRow): StoredCustomer => ({
  id: r.id,
  key: r.key,
  referrer: r.referrer,
  firstPaymentAt: r.firstPaymentAt,
  fromBrowser: r.fromBrowser,
});

type PartnerRow = { id: string; programId: string; key: string; referralCode: string | null };

// ---- one run of payments ----

type Loaded = {
  now: number;
  refs: [string, string, string, string][]; // program, ref, transaction id, transaction key
  partners: [string, string, string, string | null][]; // id, program, key, referral code
  customers: [
    string, // id
    string, // program
    string, // key
    string | null, // lower(email)
    string | null, // gateway
    string | null, // gateway customer id
    boolean, // per partner
    boolean, // created by a browser
    boolean, // deleted
    number, // created at, ms
    number | null, // first payment at, ms
    string | null, // partner id
    string | null, // partner key
    string | null, // referring customer id
    string | null, // referring customer key
  ][];
  waiting: [string, string[]][]; // program, payment refs of a waiting refund or dispute
};

// Each recordset is limited to its real length, given as a parameter: the planner otherwise takes a
// recordset for 100 rows and, below some 20,000 customers, read the customers table whole three times
// (by key, gateway id and email) to hash-join a batch's handful of them (6 of a small batch's 6.4 ms
// at 7,500 customers). With the count it looks each one up through its index.
const LOAD = (probe: Probe) => {
  const rows = (kind: keyof Probe, columns: string) =>
    sql`(select x.* from probe, jsonb_to_recordset(probe.j->${sql.raw(`'${kind}'`)}) as x(${sql.raw(columns)}) limit ${probe[kind].length}) as x`;
  return sql`
  with probe as (select ${JSON.stringify(probe)}::jsonb as j),
  refs as (
    select x.p, x.ref, t.id, t.key
    from ${rows('refs', 'p uuid, ref text')}
    join transaction_refs r on r.program_id = x.p and r.ref = x.ref
    join transactions t on t.id = r.transaction_id
  ),
  found_partners as (
    select p.id, p.program_id, p.key, p.referral_code
    from ${rows('partnerKeys', 'p uuid, v text')}
    join partners p on p.program_id = x.p and p.key = x.v and p.deleted_at is null
    union
    select p.id, p.program_id, p.key, p.referral_code
    from ${rows('partnerCodes', 'p uuid, v text')}
    join partners p on p.program_id = x.p and p.referral_code = x.v and p.deleted_at is null
  ),
  customer_ids as (
    select c.id from ${rows('keys', 'p uuid, v text')}
    join customers c on c.program_id = x.p and c.key = x.v
    union
    select c.id from ${rows('codeKeys', 'p uuid, base text, v text')}
    join partners p on p.program_id = x.p and p.referral_code = x.v and p.deleted_at is null
    join customers c on c.program_id = x.p and c.key = x.base || '__pkey_' || p.key
    union
    select c.id from ${rows('gatewayIds', 'p uuid, g text, v text')}
    join customers c on c.program_id = x.p and c.gateway = x.g and c.gateway_customer_id = x.v
    union
    select c.id from ${rows('emails', 'p uuid, v text')}
    join customers c on c.program_id = x.p and lower(c.email) = x.v
  ),
  found_customers as (
    select c.id, c.program_id, c.key, lower(c.email) as email_lower, c.gateway, c.gateway_customer_id,
      c.per_partner, c.origin = 'browser' as from_browser, c.deleted_at is not null as deleted,
      floor(extract(epoch from c.created_at) * 1000)::float8 as created_at,
      floor(extract(epoch from c.first_payment_at) * 1000)::float8 as first_payment_at,
      c.partner_id, p.key as partner_key, c.referring_customer_id, rc.key as referring_key
    from customer_ids i
    join customers c on c.id = i.id
    left join partners p on p.id = c.partner_id
    left join customers rc on rc.id = c.referring_customer_id
  ),
  -- Waiting refunds and disputes are found through their partial GIN index with every ref of the batch
  -- as one array. Joined to the recordset instead, as guessed at 100 rows (it has one per program),
  -- the planner read the whole table: 20 ms a batch at 200,000 refunds, growing with every refund.
  wanted as (select x.p, x.refs from ${rows('waiting', 'p uuid, refs text[]')}),
  all_wanted as (select coalesce(array_agg(u.ref), '{}') as refs from wanted, unnest(wanted.refs) as u(ref)),
  waiting as (
    select r.program_id as p, r.payment_refs from refunds r
    where r.applied_at is null and r.payment_refs && (select refs from all_wanted)
      and exists (select 1 from wanted w where w.p = r.program_id and r.payment_refs && w.refs)
    union all
    select d.program_id as p, d.payment_refs from disputes d
    where d.applied_at is null and d.payment_refs && (select refs from all_wanted)
      and exists (select 1 from wanted w where w.p = d.program_id and d.payment_refs && w.refs)
  )
  select
    floor(extract(epoch from now()) * 1000)::float8 as now,
    (select coalesce(json_agg(json_build_array(p, ref, id::text, key)), '[]') from refs) as refs,
    (select coalesce(json_agg(json_build_array(id, program_id, key, referral_code)), '[]') from found_partners) as partners,
    (select coalesce(json_agg(json_build_array(id, program_id, key, email_lower, gateway, gateway_customer_id, per_partner,
      from_browser, deleted, created_at, first_payment_at, partner_id, partner_key, referring_customer_id, referring_key)), '[]') from found_customers) as customers,
    (select coalesce(json_agg(json_build_array(p, payment_refs)), '[]') from waiting) as waiting`;
};

/** What a batch looks up, by kind: each a list of rows for jsonb_to_recordset. */
type Probe = Record<'refs' | 'partnerKeys' | 'partnerCodes' | 'keys' | 'codeKeys' | 'gatewayIds' | 'emails' | 'waiting', unknown[]>;

type Planned = {
  it: Item & { e: EnrichedPayment };
  program: ProgramRules;
  refs: string[];
};

const byCode = (e: EnrichedPayment) => e.partnerKey?.place === 'chargebee_cf_referral_code';

async function load(tx: Tx, list: Planned[]): Promise<Loaded> {
  const probe: Probe = { refs: [], partnerKeys: [], partnerCodes: [], keys: [], codeKeys: [], gatewayIds: [], emails: [], waiting: [] };
  const waiting = new Map<string, Set<string>>();
  for (const { it, program, refs } of list) {
    const p = program.id;
    const e = it.e;
    for (const ref of refs) probe.refs.push({ p, ref });
    let w = waiting.get(p);
    if (!w) waiting.set(p, (w = new Set()));
    for (const ref of refs) w.add(ref);
    const { who, baseCustomerKey } = identityOf(e);
    if (who.key) probe.keys.push({ p, v: who.key });
    probe.keys.push({ p, v: baseCustomerKey });
    if (who.gatewayId) probe.gatewayIds.push({ p, g: e.gateway, v: who.gatewayId });
    if (who.email) probe.emails.push({ p, v: who.email.toLowerCase() });
    if (e.partnerKey) {
      const v = e.partnerKey.value;
      if (program.type === 'refer_a_friend') probe.keys.push({ p, v });
      else {
        probe.partnerKeys.push({ p, v });
        if (byCode(e)) probe.partnerCodes.push({ p, v });
      }
      if (program.attributionModel === 'transaction') {
        probe.keys.push({ p, v: perPartnerKey(baseCustomerKey, v) });
        if (program.type !== 'refer_a_friend' && byCode(e)) probe.codeKeys.push({ p, base: baseCustomerKey, v });
      }
    }
  }
  for (const [p, refs] of waiting) probe.waiting.push({ p, refs: [...refs] });
  const res = await executePrepared(tx, LOAD(probe));
  const row = res.rows[0] as unknown as Loaded;
  return row;
}

type Created = {
  job: number;
  program: ProgramRules;
  key: string;
  refs: string[];
  row: Record<string, unknown>;
  rewards: RewardDraft[];
  credited: Referrer | null;
  occurredAt: Date;
  action: string;
};

async function applyPayments(
  tx: Tx,
  payments: (Item & { e: EnrichedPayment })[],
  programOf: (job: number) => ProgramRules,
  now: Date,
): Promise<[Item, EventOutcome][]> {
  const list: Planned[] = payments.map((it) => ({ it, program: programOf(it.job), refs: [...new Set([it.e.transactionKey, ...it.e.aliases])] }));
  const loaded = await load(tx, list);

  // refs → the transaction (stored: its id; made by this batch: by its key)
  const refMap = new Map<string, { id: string | null; key: string }>();
  for (const [p, ref, id, key] of loaded.refs) refMap.set(`${p}|${ref}`, { id, key });
  const partnersByKey = new Map<string, PartnerRow>();
  const partnersByCode = new Map<string, PartnerRow>();
  for (const [id, programId, key, referralCode] of loaded.partners) {
    const row = { id, programId, key, referralCode };
    partnersByKey.set(`${programId}|${key}`, row);
    if (referralCode !== null) partnersByCode.set(`${programId}|${referralCode}`, row);
  }
  const store = new CustomerStore();
  let seq = 0;
  for (const c of loaded.customers) {
    const [id, programId, key, emailLower, gateway, gatewayCustomerId, perPartner, fromBrowser, deleted, createdAt, firstPaymentAt, partnerId, partnerKey, referringId, referringKey] = c;
    store.add({
      id,
      programId,
      key,
      emailLower,
      gateway,
      gatewayCustomerId,
      perPartner,
      fromBrowser,
      deleted,
      createdAt,
      seq: seq++,
      firstPaymentAt: firstPaymentAt === null ? null : new Date(firstPaymentAt),
      // referrerById: the partner when linked to one, else the referring customer
      referrer: partnerId
        ? partnerKey !== null
          ? { kind: 'partner', id: partnerId, key: partnerKey }
          : null
        : referringId && referringKey !== null
          ? { kind: 'customer', id: referringId, key: referringKey }
          : null,
      fresh: null,
      touched: false,
      linkedNow: false,
    });
  }
  const waitingRefs = new Set<string>();
  for (const [p, refs] of loaded.waiting) for (const r of refs) waitingRefs.add(`${p}|${r}`);

  const referrerByKey = (program: ProgramRules, key: string, place: string): Referrer | null => {
    if (program.type === 'refer_a_friend') {
      const c = store.anyByKey(program.id, key);
      return c && !c.perPartner && !c.deleted ? { kind: 'customer', id: c.id, key: c.key } : null;
    }
    const p =
      (place === 'chargebee_cf_referral_code' ? partnersByCode.get(`${program.id}|${key}`) : undefined) ??
      partnersByKey.get(`${program.id}|${key}`);
    return p ? { kind: 'partner', id: p.id, key: p.key } : null;
  };

  const outcomes: [Item, EventOutcome][] = [];
  const created: Created[] = [];
  const refInserts: { p: string; ref: string; tid: string | null; key: string }[] = [];
  const outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown> }[] = [];

  for (const { it, program, refs } of list) {
    const e = it.e;
    const p = program.id;
    const hit = refs.map((r) => refMap.get(`${p}|${r}`)).find((x) => x);
    if (hit) {
      // the same payment reported again: merge, never a second one
      for (const ref of refs) {
        if (refMap.has(`${p}|${ref}`)) continue;
        refMap.set(`${p}|${ref}`, hit);
        refInserts.push({ p, ref, tid: hit.id, key: hit.key });
      }
      outcomes.push([it, { kind: 'payment', result: 'merged', transactionKey: hit.key, rewards: 0, reason: null }]);
      continue;
    }
    try {
      const { who, baseCustomerKey } = identityOf(e);
      const amount = BigInt(e.amount.minor);
      const found = store.find(p, e.gateway, who, e.fromBrowser);
      const keyReferrer = e.partnerKey ? referrerByKey(program, e.partnerKey.value, e.partnerKey.place) : null;
      const perPartnerRow =
        program.attributionModel === 'transaction' && keyReferrer ? store.anyByKey(p, perPartnerKey(baseCustomerKey, keyReferrer.key)) : null;
      const decision = attribute({
        model: program.attributionModel,
        partnerKey: e.partnerKey ?? null,
        keyReferrer,
        baseCustomerKey,
        customer: found ? { ...stored(found.row), matchedBy: found.matchedBy } : null,
        perPartnerCustomer: perPartnerRow ? stored(perPartnerRow) : null,
        createCustomer: e.createCustomer,
        fromBrowser: e.fromBrowser,
      });
      let row: CustomerRow | null = null;
      if (decision.customer.action === 'use') row = store.anyByKey(p, decision.customer.customer.key);
      if (decision.customer.action === 'link') {
        row = store.anyByKey(p, decision.customer.customer.key);
        if (row) {
          row.referrer = decision.customer.referrer;
          row.linkedNow = true;
        }
      }
      if (decision.customer.action === 'create') {
        const d = decision.customer;
        // a record with this key exists (deleted, or not found by identity): the insert would keep it
        row = store.anyByKey(p, d.key);
        if (!row) {
          row = {
            id: randomUUID(),
            programId: p,
            key: d.key,
            emailLower: who.email?.toLowerCase() ?? null,
            gateway: e.gateway,
            gatewayCustomerId: who.gatewayId ?? null,
            perPartner: d.perPartner,
            fromBrowser: e.fromBrowser,
            deleted: false,
            createdAt: loaded.now,
            seq: seq++,
            firstPaymentAt: null,
            referrer: d.referrer,
            fresh: { email: who.email ?? null, name: e.customer.name ?? null, surname: e.customer.surname ?? null },
            touched: false,
            linkedNow: false,
          };
          store.add(row);
        }
      }
      const customer = row ? stored(row) : null;
      const occurredAt = new Date(e.occurredAt);
      const credited = decision.credited;
      const commission = computeCommission(program, {
        amount: { minor: amount, currency: e.amount.currency, isCurrency: e.amount.isCurrency },
        product: e.product,
        partnerKey: credited?.key ?? null,
        occurredAt,
        customerFirstPaymentAt: customer?.firstPaymentAt && customer.firstPaymentAt < occurredAt ? customer.firstPaymentAt : null,
        rewardable: e.rewardable,
        holdForReview: e.holdForReview || decision.hold,
        now,
      });
      created.push({
        job: it.job,
        program,
        key: e.transactionKey,
        refs,
        rewards: commission.rewards,
        credited,
        occurredAt,
        action: e.action,
        row: {
          p,
          key: e.transactionKey,
          action: e.action,
          amount_minor: amount.toString(),
          currency: e.amount.currency,
          is_currency: e.amount.isCurrency,
          tax_minor: e.tax === undefined ? null : BigInt(e.tax).toString(),
          customer_id: row?.id ?? null,
          partner_id: credited?.kind === 'partner' ? credited.id : null,
          gateway: e.gateway,
          product_id: e.product?.id ?? null,
          product_type: e.product?.type ?? null,
          attribution: attributionRecord(e, decision.explanation, commission.reason),
          details: e.details ?? {},
          created_at: occurredAt.toISOString(),
        },
      });
      for (const ref of refs) {
        refMap.set(`${p}|${ref}`, { id: null, key: e.transactionKey });
        refInserts.push({ p, ref, tid: null, key: e.transactionKey });
      }
      if (row) {
        if (row.firstPaymentAt === null || occurredAt < row.firstPaymentAt) row.firstPaymentAt = occurredAt;
        row.touched = true;
      }
      if (decision.customer.action === 'create' && row) outbox.push({ p, event: 'customer.created', entity_key: row.key, detail: {} });
      if (decision.customer.action === 'link' && row) outbox.push({ p, event: 'customer.updated', entity_key: row.key, detail: {} });
      outbox.push({ p, event: 'transaction.created', entity_key: e.transactionKey, detail: {} });
      outcomes.push([it, { kind: 'payment', result: 'created', transactionKey: e.transactionKey, rewards: commission.rewards.length, reason: commission.reason }]);
    } catch (err) {
      throw new JobFailure(it.job, err instanceof MoneyError ? new LedgerDataError(`payload: ${err.message}`) : err);
    }
  }

  await write(tx, store, created, refInserts, outbox, now);

  // refunds and disputes that arrived before their payment apply now, payment by payment
  if (waitingRefs.size) {
    for (const c of created) {
      const p = c.program.id;
      if (!c.refs.some((r) => waitingRefs.has(`${p}|${r}`))) continue;
      const job = c.job;
      try {
        const rs = await tx
          .select()
          .from(refunds)
          .where(and(eq(refunds.programId, p), isNull(refunds.appliedAt), arrayOverlaps(refunds.paymentRefs, c.refs)))
          .orderBy(asc(refunds.occurredAt));
        for (const r of rs) await applyRefundRow(tx, r, now);
        const ds = await tx
          .select()
          .from(disputes)
          .where(and(eq(disputes.programId, p), isNull(disputes.appliedAt), arrayOverlaps(disputes.paymentRefs, c.refs)));
        for (const d of ds) await applyDisputeRow(tx, d, now);
      } catch (error) {
        throw new JobFailure(job, error);
      }
    }
  }
  return outcomes;
}

async function write(
  tx: Tx,
  store: CustomerStore,
  created: Created[],
  refInserts: { p: string; ref: string; tid: string | null; key: string }[],
  outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown> }[],
  now: Date,
) {
  const newCustomers = store.rows
    .filter((r) => r.fresh)
    .map((r) => ({
      id: r.id,
      p: r.programId,
      key: r.key,
      email: r.fresh!.email,
      name: r.fresh!.name,
      surname: r.fresh!.surname,
      partner_id: r.referrer?.kind === 'partner' ? r.referrer.id : null,
      referring_customer_id: r.referrer?.kind === 'customer' ? r.referrer.id : null,
      gateway: r.gateway,
      gateway_customer_id: r.gatewayCustomerId,
      per_partner: r.perPartner,
      origin: r.fromBrowser ? 'browser' : 'server',
      first_payment_at: r.firstPaymentAt?.toISOString() ?? null,
    }));
  const touched = store.rows
    .filter((r) => !r.fresh && r.touched)
    .map((r) => ({
      id: r.id,
      at: r.firstPaymentAt!.toISOString(),
      partner_id: r.linkedNow && r.referrer?.kind === 'partner' ? r.referrer.id : null,
      referring_customer_id: r.linkedNow && r.referrer?.kind === 'customer' ? r.referrer.id : null,
    }));
  const rewardRows = created.flatMap((c) =>
    c.rewards.map((r, i) => ({
      p: c.program.id,
      key: c.key,
      n: i + 1,
      action: c.action,
      partner_id: c.credited?.kind === 'partner' ? c.credited.id : null,
      customer_id: c.credited?.kind === 'customer' ? c.credited.id : null,
      amount: r.amount,
      units: r.units,
      is_currency: r.isCurrency,
      status: r.status,
      review_ends_at: r.reviewEndsAt?.toISOString() ?? null,
      basis: r.basis,
      created_at: c.occurredAt.toISOString(),
    })),
  );
  const data = JSON.stringify({
    customers: newCustomers,
    touched,
    // ord: inserted in event order (ids follow it)
    transactions: created.map((c, ord) => ({ ...c.row, ord })),
    refs: refInserts,
    rewards: rewardRows.map((r, ord) => ({ ...r, ord })),
    outbox: outbox.map((o, ord) => ({ ...o, ord })),
  });
  const at = now.toISOString();
  // one statement: the sub-statements run on one snapshot, so a new customer gets its first payment
  // in its insert and only stored ones are updated; foreign keys are checked at its end
  await executePrepared(tx, sql`
    with d as (select ${data}::jsonb as j),
    new_customers as (
      insert into customers (id, program_id, key, email, name, surname, partner_id, referring_customer_id, gateway,
        gateway_customer_id, per_partner, origin, first_payment_at, updated_at)
      select x.id, x.p, x.key, x.email, x.name, x.surname, x.partner_id, x.referring_customer_id, x.gateway,
        x.gateway_customer_id, x.per_partner, x.origin, x.first_payment_at, ${at}::timestamptz
      from d, jsonb_to_recordset(d.j->'customers') as x(id uuid, p uuid, key text, email text, name text, surname text,
        partner_id uuid, referring_customer_id uuid, gateway text, gateway_customer_id text, per_partner boolean,
        origin text, first_payment_at timestamptz)
      returning id
    ),
    touched_customers as (
      update customers c set first_payment_at = least(c.first_payment_at, x.at), updated_at = ${at}::timestamptz,
        -- a customer linked to nobody is linked now; a link is never moved
        partner_id = case when c.partner_id is null and c.referring_customer_id is null then x.partner_id else c.partner_id end,
        referring_customer_id = case when c.partner_id is null and c.referring_customer_id is null then x.referring_customer_id else c.referring_customer_id end
      -- limited to its length, as in LOAD: taken for 100 rows, the update read every customer to join a few
      from (select x.* from d, jsonb_to_recordset(d.j->'touched') as x(id uuid, at timestamptz, partner_id uuid, referring_customer_id uuid) limit ${touched.length}) as x
      where c.id = x.id
      returning c.id
    ),
    new_transactions as (
      insert into transactions (program_id, key, action, amount_minor, currency, is_currency, tax_minor, customer_id,
        partner_id, gateway, product_id, product_type, attribution, details, created_at)
      select x.p, x.key, x.action, x.amount_minor, x.currency, x.is_currency, x.tax_minor, x.customer_id, x.partner_id,
        x.gateway, x.product_id, x.product_type, x.attribution, x.details, x.created_at
      from d, jsonb_to_recordset(d.j->'transactions') as x(p uuid, key text, action text,
        amount_minor bigint, currency text, is_currency boolean, tax_minor bigint, customer_id uuid, partner_id uuid,
        gateway text, product_id text, product_type text, attribution jsonb, details jsonb, created_at timestamptz, ord bigint)
      order by x.ord
      returning id, program_id, key
    ),
    new_refs as (
      insert into transaction_refs (program_id, ref, transaction_id)
      select x.p, x.ref, coalesce(x.tid, t.id)
      from d, jsonb_to_recordset(d.j->'refs') as x(p uuid, ref text, tid bigint, key text)
      left join new_transactions t on x.tid is null and t.program_id = x.p and t.key = x.key
      on conflict do nothing
      returning 1
    ),
    new_rewards as (
      insert into rewards (program_id, transaction_id, key, action, partner_id, customer_id, amount, original_amount, units,
        is_currency, status, review_ends_at, basis, created_at)
      select x.p, t.id, 'rw_' || t.id || '_' || x.n, x.action, x.partner_id, x.customer_id, x.amount, x.amount, x.units,
        x.is_currency, x.status::reward_status, x.review_ends_at, x.basis, x.created_at
      from d, jsonb_to_recordset(d.j->'rewards') as x(p uuid, key text, n int, action text, partner_id uuid,
        customer_id uuid, amount numeric, units text, is_currency boolean, status text, review_ends_at timestamptz,
        basis jsonb, created_at timestamptz, ord bigint)
      join new_transactions t on t.program_id = x.p and t.key = x.key
      order by x.ord
      returning 1
    ),
    new_outbox as (${OUTBOX_INSERT})
    select (select count(*) from new_customers) as customers, (select count(*) from new_transactions) as transactions`);
}

// ---- a run of refunds ----

type RefundLoad = {
  inserted: [number, string][]; // ord, refund row id
  refs: [string, string, string][]; // program, ref, transaction id
  transactions: [string, string, string, string, string, boolean][]; // id, key, amount, currency, refunded, deleted
  applied: [string, string | null, boolean][]; // transaction id, amount, cumulative
  rewards: [string, string, string, string, boolean][]; // id, transaction id, original amount, units, is currency
};

/**
 * Refunds as recordRefund applies them one after another: inserted once by gateway id (a repeat is
 * a duplicate), matched to their payment, added up with the payment's earlier refunds; read in one
 * statement, decided in order in memory, written in one.
 */
async function applyRefunds(
  tx: Tx,
  list: (Item & { e: RefundFact })[],
  programOf: (job: number) => ProgramRules,
  now: Date,
): Promise<[Item, EventOutcome][]> {
  const rows = list.map((it, ord) => ({
    ord,
    p: programOf(it.job).id,
    gateway: it.e.gateway,
    refund_id: it.e.refundId,
    payment_refs: it.e.paymentRefs,
    amount_minor: it.e.amount ? BigInt(it.e.amount.minor).toString() : null,
    currency: it.e.amount?.currency ?? null,
    cumulative: it.e.cumulative,
    occurred_at: new Date(it.e.occurredAt).toISOString(),
  }));
  const refCount = Math.max(1, rows.reduce((n, r) => n + r.payment_refs.length, 0));
  const res = await tx.execute(sql`
    with d as (select ${JSON.stringify(rows)}::jsonb as j),
    x as (
      select * from d, jsonb_to_recordset(d.j) as x(ord int, p uuid, gateway text, refund_id text, payment_refs text[],
        amount_minor bigint, currency text, cumulative boolean, occurred_at timestamptz)
    ),
    ins as (
      insert into refunds (program_id, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at)
      select p, gateway, refund_id, payment_refs, amount_minor, currency, cumulative, occurred_at from x order by ord
      on conflict (program_id, gateway, refund_id) do nothing
      returning id, program_id, gateway, refund_id
    ),
    refs as (
      select distinct u.p, r.ref, r.transaction_id
      -- how many refs there are, said as a LIMIT: PostgreSQL would guess 1,000 and read the whole table
      from (select x.p, u.ref from x cross join lateral unnest(x.payment_refs) as u(ref) limit ${sql.raw(String(refCount))}) as u
      join transaction_refs r on r.program_id = u.p and r.ref = u.ref
    ),
    tids as (select distinct transaction_id as id from refs limit ${sql.raw(String(refCount))})
    select
      (select coalesce(json_agg(json_build_array(x.ord, ins.id::text)), '[]') from ins
        join x on x.p = ins.program_id and x.gateway = ins.gateway and x.refund_id = ins.refund_id) as inserted,
      (select coalesce(json_agg(json_build_array(p, ref, transaction_id::text)), '[]') from refs) as refs,
      (select coalesce(json_agg(json_build_array(t.id::text, t.key, t.amount_minor::text, t.currency, t.refunded_minor::text,
        t.deleted_at is not null)), '[]') from tids join transactions t on t.id = tids.id) as transactions,
      (select coalesce(json_agg(json_build_array(f.transaction_id::text, f.amount_minor::text, f.cumulative)), '[]')
        from tids join refunds f on f.transaction_id = tids.id) as applied,
      (select coalesce(json_agg(json_build_array(w.id::text, w.transaction_id::text, w.original_amount::text, w.units, w.is_currency)), '[]')
        from tids join rewards w on w.transaction_id = tids.id and w.deleted_at is null) as rewards`);
  const loaded = res.rows[0] as unknown as RefundLoad;

  // a refund repeated within the run: the first one is inserted (in order), the others are duplicates
  const insertedId = new Map<number, string>();
  const firstOrd = new Map<string, number>();
  for (const [ord, id] of loaded.inserted) firstOrd.set(id, Math.min(ord, firstOrd.get(id) ?? ord));
  for (const [id, ord] of firstOrd) insertedId.set(ord, id);
  const refMap = new Map<string, string>();
  for (const [p, ref, tid] of loaded.refs) refMap.set(`${p}|${ref}`, tid);
  type T = { id: string; key: string; amount: bigint; currency: string; refunded: bigint; deleted: boolean; dirty: boolean; deletedNow: boolean; known: { amountMinor: bigint | null; cumulative: boolean }[] };
  const txs = new Map<string, T>();
  for (const [id, key, amount, currency, refunded, deleted] of loaded.transactions) {
    txs.set(id, { id, key, amount: BigInt(amount), currency, refunded: BigInt(refunded), deleted, dirty: false, deletedNow: false, known: [] });
  }
  for (const [tid, amount, cumulative] of loaded.applied) txs.get(tid)?.known.push({ amountMinor: amount === null ? null : BigInt(amount), cumulative });
  type W = { id: string; original: string; units: string; isCurrency: boolean; amount: string | null; deleted: boolean };
  const rewardsOf = new Map<string, W[]>();
  for (const [id, tid, original, units, isCurrency] of loaded.rewards) push(rewardsOf, tid, { id, original, units, isCurrency, amount: null, deleted: false });

  const outcomes: [Item, EventOutcome][] = [];
  const appliedRows: { id: string; tid: string }[] = [];
  const outbox: { p: string; event: string; entity_key: string; detail: Record<string, unknown>; ord: number }[] = [];
  list.forEach((it, ord) => {
    const e = it.e;
    const p = programOf(it.job).id;
    const id = insertedId.get(ord);
    if (!id) {
      outcomes.push([it, { kind: 'refund', result: 'duplicate', transactionKey: null, deleted: false }]);
      return;
    }
    const tid = e.paymentRefs.map((r) => refMap.get(`${p}|${r}`)).find((x) => x);
    const t = tid ? txs.get(tid) : undefined;
    if (!t) {
      outcomes.push([it, { kind: 'refund', result: 'pending_payment', transactionKey: null, deleted: false }]);
      return;
    }
    if (e.amount && e.amount.currency !== t.currency) {
      throw new JobFailure(it.job, new LedgerDataError(`payload: refund ${e.refundId} is in ${e.amount.currency}, its payment ${t.key} in ${t.currency}`));
    }
    appliedRows.push({ id, tid: t.id });
    t.known.push({ amountMinor: e.amount ? BigInt(e.amount.minor) : null, cumulative: e.cumulative });
    if (!t.deleted) {
      const effect = refundedTotal(t.amount, t.known);
      const live = (rewardsOf.get(t.id) ?? []).filter((w) => !w.deleted);
      if (effect.full) {
        t.refunded = effect.refundedMinor;
        t.deleted = t.deletedNow = t.dirty = true;
        for (const w of live) w.deleted = true;
        outbox.push({ p, event: 'transaction.deleted', entity_key: t.key, detail: { reason: 'refunded' }, ord: outbox.length });
      } else if (effect.refundedMinor !== t.refunded) {
        t.refunded = effect.refundedMinor;
        t.dirty = true;
        for (const w of live) w.amount = reducedReward({ amount: w.original, units: w.units, isCurrency: w.isCurrency }, t.amount, effect.refundedMinor);
      }
    }
    outcomes.push([it, { kind: 'refund', result: 'applied', transactionKey: t.key, deleted: t.deleted }]);
  });

  const changedTxs = [...txs.values()].filter((t) => t.dirty).map((t) => ({ id: t.id, refunded: t.refunded.toString(), deleted: t.deletedNow }));
  const changedRewards = [...rewardsOf.values()].flat().filter((w) => w.deleted || w.amount !== null).map((w) => ({ id: w.id, amount: w.amount, deleted: w.deleted }));
  if (!appliedRows.length && !outbox.length) return outcomes;
  const at = now.toISOString();
  const data = JSON.stringify({ applied: appliedRows, transactions: changedTxs, rewards: changedRewards, outbox });
  await tx.execute(sql`
    with d as (select ${data}::jsonb as j),
    applied as (
      update refunds r set applied_at = ${at}::timestamptz, transaction_id = x.tid
      from d, jsonb_to_recordset(d.j->'applied') as x(id bigint, tid bigint) where r.id = x.id
      returning 1
    ),
    changed_transactions as (
      update transactions t set refunded_minor = x.refunded, updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz else t.deleted_at end,
        deleted_reason = case when x.deleted then 'refunded' else t.deleted_reason end
      from d, jsonb_to_recordset(d.j->'transactions') as x(id bigint, refunded bigint, deleted boolean) where t.id = x.id
      returning 1
    ),
    changed_rewards as (
      update rewards w set amount = coalesce(x.amount, w.amount), updated_at = ${at}::timestamptz,
        deleted_at = case when x.deleted then ${at}::timestamptz else w.deleted_at end
      from d, jsonb_to_recordset(d.j->'rewards') as x(id bigint, amount numeric, deleted boolean) where w.id = x.id
      returning 1
    ),
    new_outbox as (${OUTBOX_INSERT})
    select 1`);
  return outcomes;
}
