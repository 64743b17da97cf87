// `npm run cli -- reattribute --partner KEY [--from DATE] [--program <id>] [--dry-run]`
// `npm run cli -- reattribute --lookups [--gateway paddle] [--from DATE] [--program <id>] [--dry-run]`
//
// Payments booked to nobody because the partner their key named did not exist yet are credited to it
// now, as a payment booked today would be (db/reattribute.ts, core/reattribute.ts); `--lookups` first
// does again the gateway lookups that were skipped because the gateway's API access was not set
// (`lookups[].result: not_configured`), then credits the partner a lookup found. A dry run decides the
// same inside a transaction it rolls back, and prints what a run would do. Running it twice credits
// nothing twice: a credited payment has a partner, and only payments booked to nobody are looked at.
import { and, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import { rewardTotals, redoLookups, type ReattributionItem } from '../core/reattribute.js';
import { DEFAULT_PROGRAM_SLUG } from '../db/default-program.js';
import type { Db } from '../db/client.js';
import { loadProgramRules } from '../db/programs.js';
import { inTransaction, livePartner, lockPayment, notConfiguredPayments, reattributeIn, reattributePartner, recordLookups, type NotConfiguredPayment } from '../db/reattribute.js';
import { partners, programs } from '../db/schema.js';
import { EnrichmentError } from '../gateways/gateway.js';
import { lookupClients } from '../gateways/registry.js';
import { apiBasesFrom } from '../gateways/settings.js';
import { SETTINGS_HINT } from '../http/api/integrations.js';
import { reattributionPaymentView } from '../views/reattribution.js';
import { options, type CliCommand, type CliContext } from './command.js';

export const USAGE =
  'usage: npm run cli -- reattribute --partner KEY [--from YYYY-MM-DD|ISO time] [--program <id>] [--dry-run]\n' +
  '       npm run cli -- reattribute --lookups [--gateway stripe|paddle|chargebee] [--from YYYY-MM-DD|ISO time] [--program <id>] [--dry-run]\n\n' +
  'Credit the payments booked to nobody whose partner key named KEY before that partner existed, as a payment\n' +
  "booked now would be credited (the program's lifetime, holds and caps included; a partial refund takes its share,\n" +
  'a refunded payment is left out). --lookups does again the partner-key lookups skipped because the gateway\'s API\n' +
  'key was not set (lookups[].result not_configured) and credits the partner found. --dry-run lists what a run would\n' +
  'do and changes nothing. Running it twice credits nothing twice. See docs/operations.md (re-attribution).';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOOKUP_GATEWAYS = ['stripe', 'paddle', 'chargebee'] as const;

const Args = z.object({
  partner: z.string().trim().min(1).max(255).optional(),
  lookups: z.boolean().default(false),
  gateway: z.enum(LOOKUP_GATEWAYS, { error: () => `one of ${LOOKUP_GATEWAYS.join(', ')}` }).optional(),
  from: z
    .string()
    .refine((v) => !Number.isNaN(Date.parse(v)), 'a date (YYYY-MM-DD) or an ISO 8601 time')
    .transform((v) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v))
    .optional(),
  program: z.string().regex(UUID, 'a program id (a UUID)').optional(),
  'dry-run': z.boolean().default(false),
});

async function findProgram(db: Db, id: string | undefined) {
  const [row] = await db
    .select({ id: programs.id })
    .from(programs)
    .where(id === undefined ? eq(programs.slug, DEFAULT_PROGRAM_SLUG) : eq(programs.id, id));
  if (!row) throw new Error(id === undefined ? 'there is no default program yet: start the service once (npm start) to create it' : `no program ${id}`);
  const rules = await loadProgramRules(db, row.id);
  if (!rules) throw new Error(`no program ${row.id}`);
  return rules;
}

const pad = (cells: string[][]) => {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
};

/** One row a payment: what it was, who it is booked against now, what it earns (or why not). */
function table(items: ReattributionItem[], dryRun: boolean): string[] {
  const rows = items.map((i) => {
    const v = reattributionPaymentView(i, dryRun);
    const earned = v.reward ? `${v.reward.amount} ${v.reward.amount_units}${v.reward.status === 'ok' ? '' : ` (${v.reward.hold_reason ?? v.reward.status})`}` : '-';
    return [
      v.transaction_key,
      v.gateway,
      v.created_at?.slice(0, 19).replace('T', ' ') ?? '',
      `${v.amount} ${v.amount_units}${v.refunded_amount ? ` (${v.refunded_amount} refunded)` : ''}`,
      v.customer ?? '-',
      v.result,
      earned,
      v.reason ?? '',
    ];
  });
  return pad([['transaction', 'gateway', 'paid at (UTC)', 'amount', 'customer', 'result', 'reward', 'reason'], ...rows]);
}

function summary(items: ReattributionItem[], dryRun: boolean): string {
  const credited = items.filter((i) => i.result === 'credited');
  const totals = Object.entries(rewardTotals(items)).map(([u, v]) => `${v} ${u}`);
  return (
    `${items.length} payment${items.length === 1 ? '' : 's'} waiting: ${dryRun ? 'would credit' : 'credited'} ${credited.length}` +
    ` (${credited.filter((i) => i.reward).length} with a reward${totals.length ? `: ${totals.join(', ')}` : ''}), skipped ${items.length - credited.length}`
  );
}

async function byPartner(ctx: CliContext, a: z.infer<typeof Args>): Promise<number> {
  const { database, out } = ctx;
  const program = await findProgram(database.db, a.program);
  if (program.type !== 'affiliate') throw new Error(`program ${program.id} is a refer-a-friend program: it has no partners to credit`);
  const partner = await livePartner(database.db, program.id, a.partner!);
  if (!partner) throw new Error(`no partner "${a.partner}" in program ${program.id} (create it first: POST /v1/partners)`);
  const dryRun = a['dry-run'];
  const { items } = await reattributePartner(database.db, program, partner, { from: a.from, dryRun });
  out(`${dryRun ? 'dry run (nothing is written): ' : ''}payments booked to nobody that named ${partner.key} (program ${program.id})${a.from ? ` from ${a.from.toISOString()}` : ''}`);
  if (items.length) for (const line of table(items, dryRun)) out(line);
  out(summary(items, dryRun));
  return 0;
}

/** The partner a found key names: its key, or (Chargebee's referral-code field) its referral code first. */
async function partnerFor(db: Db, programId: string, key: string, place: string) {
  if (place === 'chargebee_cf_referral_code') {
    const [row] = await db
      .select()
      .from(partners)
      .where(and(eq(partners.programId, programId), isNull(partners.deletedAt), eq(partners.referralCode, key)));
    if (row) return row;
  }
  return livePartner(db, programId, key);
}

async function byLookups(ctx: CliContext, a: z.infer<typeof Args>): Promise<number> {
  const { config, database, out } = ctx;
  const db = database.db;
  const program = await findProgram(db, a.program);
  const dryRun = a['dry-run'];
  const waiting = await notConfiguredPayments(db, program.id, { gateway: a.gateway, from: a.from });
  out(
    `${dryRun ? 'dry run (nothing is written): ' : ''}${waiting.length} payment${waiting.length === 1 ? '' : 's'} booked to nobody whose partner-key lookups were not configured` +
      ` (program ${program.id}${a.gateway ? `, ${a.gateway}` : ''})`,
  );
  const [row] = await db.select({ gateways: programs.gateways }).from(programs).where(eq(programs.id, program.id));
  const clients = lookupClients(async () => row?.gateways ?? {}, apiBasesFrom(config));
  const credited: ReattributionItem[] = [];
  const tally = { credited: 0, waitingForPartner: 0, noKey: 0, notConfigured: 0, failed: 0 };
  const unset = new Set<string>();
  for (const p of waiting) {
    let redone;
    try {
      redone = await redoLookups(p.gateway, p.lookups, async (l) => {
        const client = await clients(program.id, l.gateway);
        return client ? client.lookup(l) : undefined;
      });
    } catch (err) {
      // a gateway API that fails now (timeout, 5xx): this payment waits for the next run
      if (!(err instanceof EnrichmentError)) throw err;
      tally.failed++;
      out(`${p.key} (${p.gateway}): lookup failed: ${err.message}; run again later`);
      continue;
    }
    if (redone.stillNotConfigured && !redone.partnerKey && redone.trace.every((t, i) => t.result === p.lookups[i]?.result)) {
      tally.notConfigured++;
      unset.add(p.gateway);
      continue;
    }
    const found = redone.partnerKey;
    const partner = found ? await partnerFor(db, program.id, found.value, found.place) : null;
    const items = await inTransaction(db, dryRun, async (tx) => {
      await lockPayment(tx, program.id, p.id);
      if (!(await recordLookups(tx, program.id, p, redone, new Date()))) return [];
      return partner && program.type === 'affiliate' ? reattributeIn(tx, program, partner, { transactionIds: [p.id] }) : [];
    });
    describeLookup(out, p, found, partner?.key ?? null, items, dryRun, tally);
    credited.push(...items.filter((i) => i.result === 'credited'));
  }
  for (const g of unset) {
    out(`${g}: its API access is still not set for program ${program.id}: set ${SETTINGS_HINT[g]?.api ?? 'its API key'} (or PATCH /v1/program gateways.${g}), then run this again`);
  }
  if (credited.length) for (const line of table(credited, dryRun)) out(line);
  out(
    `${dryRun ? 'would credit' : 'credited'} ${tally.credited}; key found, partner not created yet ${tally.waitingForPartner}; no key found ${tally.noKey}; ` +
      `still not configured ${tally.notConfigured}; failed ${tally.failed}`,
  );
  return tally.failed ? 1 : 0;
}

function describeLookup(
  out: (line: string) => void,
  p: NotConfiguredPayment,
  found: { value: string; place: string } | null,
  partnerKey: string | null,
  items: ReattributionItem[],
  dryRun: boolean,
  tally: Record<'credited' | 'waitingForPartner' | 'noKey', number>,
) {
  const what = `${p.key} (${p.gateway})`;
  if (!found) {
    tally.noKey++;
    out(`${what}: no partner key found`);
    return;
  }
  if (!partnerKey) {
    tally.waitingForPartner++;
    out(`${what}: partner key ${found.value} (${found.place}) names no partner yet: once it is created, reattribute --partner ${found.value} credits it`);
    return;
  }
  const item = items[0];
  if (item?.result === 'credited') {
    tally.credited++;
    out(`${what}: partner key ${found.value} (${found.place}): ${dryRun ? 'would credit' : 'credited'} ${partnerKey}`);
  } else {
    out(`${what}: partner key ${found.value} (${found.place}): not credited (${item?.reason ?? 'booked elsewhere meanwhile'})`);
  }
}

export const reattributeCommand: CliCommand = {
  summary: 'credit payments that named a partner before it existed: --partner KEY | --lookups [--gateway] [--from] [--program] [--dry-run]',
  usage: USAGE,
  async run(ctx) {
    let raw;
    try {
      raw = options(ctx.args, {
        partner: { type: 'string' },
        lookups: { type: 'boolean' },
        gateway: { type: 'string' },
        from: { type: 'string' },
        program: { type: 'string' },
        'dry-run': { type: 'boolean' },
      });
    } catch (err) {
      ctx.out(`reattribute: ${(err as Error).message}`);
      ctx.out(USAGE);
      return 2;
    }
    const parsed = Args.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      ctx.out(`reattribute: --${issue.path.join('.')}: ${issue.message}`);
      ctx.out(USAGE);
      return 2;
    }
    const a = parsed.data;
    if (!!a.partner === a.lookups) {
      ctx.out('reattribute: give --partner KEY, or --lookups (not both)');
      ctx.out(USAGE);
      return 2;
    }
    if (a.gateway && !a.lookups) {
      ctx.out('reattribute: --gateway goes with --lookups');
      ctx.out(USAGE);
      return 2;
    }
    return a.lookups ? byLookups(ctx, a) : byPartner(ctx, a);
  },
};
