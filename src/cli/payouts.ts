// `npm run cli -- payouts:run`: one payout request per partner whose available balance in a currency
// reaches a minimum; `npm run cli -- payouts:export`: approved requests as the batch file PayPal
// Payouts or Wise takes (or a plain CSV), so a merchant uploads one file.
import { createWriteStream } from 'node:fs';
import { z } from 'zod';
import { currency, decimal, decimalText, exponent, fromMinorUnits, isCurrencyCode, roundTo, sum, toMinorUnits } from '../core/money.js';
import { DecimalString } from '../core/program.js';
import { createPayoutRequest, payablePartners, PayoutRefused, payoutRequestsByIds, type PayoutRequestRow } from '../db/payouts.js';
import { options, type CliCommand } from './command.js';
import { terminalProgress } from './progress.js';

const RUN_USAGE = `usage: npm run cli -- payouts:run --currency USD [--minimum 50] [--program <id>] [--gateway manual] [--dry-run]

Creates one payout request (status requested) per active partner whose available balance in --currency
is at least --minimum (default: anything above 0), in every program or in --program only. Each request
takes the partner's available rewards in that currency, as POST /v1/payout_requests does. --dry-run
prints what would be requested and changes nothing. See docs/api.md, "Balances and payouts".`;

const EXPORT_USAGE = `usage: npm run cli -- payouts:export --id <id> [--id <id> ...] --format paypal|wise|csv [--out FILE]

Writes approved payout requests (--id repeated, or a comma list: --id 12,13) as one batch file:
  paypal  PayPal Payouts' payment file: no header row; recipient email, amount, currency, customer id
          (PR<id>), note, wallet (PAYPAL). One currency per file, as PayPal requires.
  wise    Wise's "send by email" batch template: name, recipientEmail, paymentReference (PR<id>: short,
          as some routes allow only a few characters), receiverType (PERSON), amountCurrency (target),
          amount, sourceCurrency, targetCurrency.
  csv     every field of the requests, with a header row.
Amounts are rounded half to even to the currency's minor units (the ledger keeps the exact amount).
The recipient is payout_settings.username or .email, else the partner's email. Without --out the file
goes to standard output. Mark each request paid afterwards (POST /v1/payout_requests/{id}/mark_as_paid).`;

const RunArgs = z.object({
  currency: z.string({ error: 'is required: the currency to pay, such as --currency USD' }).refine(isCurrencyCode, 'an ISO 4217 currency code, such as USD'),
  minimum: DecimalString.default('0'),
  program: z.uuid('a program id (a UUID)').optional(),
  gateway: z.enum(['paypal', 'wise', 'bank', 'crypto', 'manual']).default('manual'),
  'dry-run': z.boolean().default(false),
});

function firstIssue(command: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${command}: --${issue.path.join('.')} ${issue.message}`;
}

export const payoutsRun: CliCommand = {
  summary: 'request a payout for every partner whose available balance reaches a minimum: --currency USD [--minimum 50] [--dry-run]',
  usage: RUN_USAGE,
  async run({ database, args, out }) {
    const raw = options(args, {
      currency: { type: 'string' },
      minimum: { type: 'string' },
      program: { type: 'string' },
      gateway: { type: 'string' },
      'dry-run': { type: 'boolean' },
    });
    const parsed = RunArgs.safeParse(raw);
    if (!parsed.success) {
      out(firstIssue('payouts:run', parsed.error));
      return 2;
    }
    const a = parsed.data;
    const code = a.currency.toUpperCase();
    const payable = await payablePartners(database.db, { currency: code, minimum: a.minimum, programId: a.program });
    const progress = terminalProgress(process.stderr, 'partners');
    const started = Date.now();
    const amounts: string[] = [];
    let skipped = 0;
    for (const [i, p] of payable.entries()) {
      progress?.clear();
      if (a['dry-run']) {
        out(`would request ${code} ${p.available} for ${p.partnerKey} (program ${p.programId})`);
        amounts.push(p.available);
      } else {
        try {
          const id = await createPayoutRequest(database.db, {
            programId: p.programId,
            partner: { id: p.partnerId, key: p.partnerKey },
            currency: code,
            gateway: a.gateway,
            payoutSettings: {},
            note: 'payouts:run',
          });
          const [row] = await payoutRequestsByIds(database.db, [id]);
          out(`requested #${id}: ${code} ${row?.amount ?? p.available} for ${p.partnerKey} (program ${p.programId})`);
          amounts.push(row?.amount ?? p.available);
        } catch (err) {
          // another request (the API, a second run) took the rewards meanwhile
          if (!(err instanceof PayoutRefused)) throw err;
          out(`skipped ${p.partnerKey} (program ${p.programId}): ${err.message}`);
          skipped++;
        }
      }
      progress?.update({ done: i + 1, total: payable.length, elapsedMs: Date.now() - started });
    }
    progress?.end();
    const total = amounts.length ? decimalText(sum(amounts.map((x) => decimal(x, currency(code))), currency(code))) : '0';
    const verb = a['dry-run'] ? 'would be requested' : 'requested';
    out(`${amounts.length} payout request${amounts.length === 1 ? '' : 's'} ${verb}, ${code} ${total} in all${skipped ? `; ${skipped} skipped` : ''}${payable.length ? '' : ` (no partner has ${code} ${a.minimum} or more available)`}`);
    return 0;
  },
};

/** Exact decimal text → the currency's minor units, half to even, as fixed-point text ("19.998" USD → "20.00"). */
export function payableAmount(amount: string, code: string): string {
  return fromMinorUnits(toMinorUnits(decimalText(roundTo(decimal(amount, currency(code)), exponent(code))), code), code);
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or edge spaces. */
const field = (v: string) => (/[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
/** A spreadsheet must not read a name as a formula: the plain CSV defuses a leading = + - @. */
const defused = (v: string) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
const line = (cells: string[]) => cells.map(field).join(',');

const setting = (r: PayoutRequestRow, name: string) => {
  const v = r.payout_settings?.[name];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
};
const recipientEmail = (r: PayoutRequestRow) => setting(r, 'username') ?? setting(r, 'email') ?? r.partner_email ?? undefined;
const recipientName = (r: PayoutRequestRow) => setting(r, 'name') ?? ([r.partner_name, r.partner_surname].filter(Boolean).join(' ') || r.partner_key);

export const EXPORT_FORMATS = ['paypal', 'wise', 'csv'] as const;
export const WISE_HEADER = ['name', 'recipientEmail', 'paymentReference', 'receiverType', 'amountCurrency', 'amount', 'sourceCurrency', 'targetCurrency'];
export const CSV_HEADER = ['payout_request_id', 'partner_id', 'partner_key', 'partner_email', 'partner_name', 'amount', 'exact_amount', 'currency', 'gateway', 'recipient_email', 'note', 'approved_at'];

/** The file's lines for these (approved) requests. */
function lines(format: (typeof EXPORT_FORMATS)[number], r: PayoutRequestRow): string[] {
  const amount = payableAmount(r.amount, r.currency);
  switch (format) {
    case 'paypal':
      return [line([recipientEmail(r)!, amount, r.currency, `PR${r.id}`, (r.note ?? `Partner payout ${r.id}`).slice(0, 400), 'PAYPAL'])];
    case 'wise':
      return [line([recipientName(r), recipientEmail(r)!, `PR${r.id}`, 'PERSON', 'target', amount, r.currency, r.currency])];
    case 'csv':
      return [
        line([r.id, r.partner_id, r.partner_key, r.partner_email ?? '', recipientName(r), amount, r.amount, r.currency, r.gateway, recipientEmail(r) ?? '', r.note ?? '', r.approved_at ?? ''].map(defused)),
      ];
  }
}

const ExportArgs = z.object({
  id: z
    .array(z.string())
    .min(1, 'is required: the approved payout requests to export, such as --id 12 --id 13 or --id 12,13')
    .transform((ids) => ids.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\d{1,18}$/, 'payout request ids are whole numbers')).min(1, 'is required')),
  format: z.enum(EXPORT_FORMATS, { error: 'is required: paypal, wise or csv' }),
  out: z.string().min(1).optional(),
});

export const payoutsExport: CliCommand = {
  summary: 'write approved payout requests as a PayPal Payouts or Wise batch file: --id 12,13 --format paypal|wise|csv [--out FILE]',
  usage: EXPORT_USAGE,
  async run({ database, args, out }) {
    const parsed = ExportArgs.safeParse(options(args, { id: { type: 'string', multiple: true }, format: { type: 'string' }, out: { type: 'string' } }));
    if (!parsed.success) {
      out(firstIssue('payouts:export', parsed.error));
      return 2;
    }
    const a = parsed.data;
    const ids = [...new Set(a.id)].map(BigInt);
    const rows = await payoutRequestsByIds(database.db, ids);
    const problems: string[] = [];
    const found = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!found.has(id.toString())) problems.push(`no payout request ${id}`);
    for (const r of rows) {
      if (r.status !== 'approved') problems.push(`payout request ${r.id} is ${r.status}: only approved requests are exported`);
      else if (a.format !== 'csv' && !recipientEmail(r)) problems.push(`payout request ${r.id}: partner ${r.partner_key} has no email and its payout_settings name none`);
    }
    const currencies = [...new Set(rows.map((r) => r.currency))];
    if (a.format === 'paypal' && currencies.length > 1) problems.push(`PayPal takes one currency a file: these requests are in ${currencies.join(', ')}; export each currency apart`);
    if (problems.length) {
      for (const p of problems) out(`payouts:export: ${p}`);
      return 1;
    }

    const file = a.out ? createWriteStream(a.out, { encoding: 'utf8' }) : undefined;
    const write = (text: string) => (file ? new Promise<void>((resolve, reject) => file.write(`${text}\n`, (err) => (err ? reject(err) : resolve()))) : Promise.resolve(out(text)));
    // the summary and progress go to stderr when the file itself is standard output
    const say = (text: string) => (file ? out(text) : process.stderr.write(`${text}\n`));
    const progress = terminalProgress(process.stderr, 'requests');
    const started = Date.now();
    try {
      if (a.format === 'wise') await write(line(WISE_HEADER));
      if (a.format === 'csv') await write(line(CSV_HEADER));
      for (const [i, r] of rows.entries()) {
        for (const l of lines(a.format, r)) await write(l);
        progress?.update({ done: i + 1, total: rows.length, elapsedMs: Date.now() - started });
      }
    } finally {
      progress?.end();
      if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    const totals = currencies.map((c) => {
      const cur = currency(c);
      return `${c} ${decimalText(sum(rows.filter((r) => r.currency === c).map((r) => decimal(payableAmount(r.amount, c), cur)), cur))}`;
    });
    say(`exported ${rows.length} payout request${rows.length === 1 ? '' : 's'} (${totals.join(', ')}) as ${a.format}${a.out ? ` to ${a.out}` : ''}`);
    return 0;
  },
};
