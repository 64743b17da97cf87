// Holds and caps on a reward, after its commission is computed: a self-referral or a partner with
// too many refunds holds it in review until the merchant releases or rejects it; a cap per customer
// or per partner and month cuts it. Pure: the figures so far come in a LimitStats the storage loads
// (and the planner adds each reward it makes, so payments of one batch count against each other).
import type { RewardDraft } from './commission.js';
import { compareDecimal, decimal, decimalText, isZero, minus, plus, unitOrCurrency } from './money.js';
import { DEFAULT_CAPS, DEFAULT_FRAUD, type ProgramRules } from './program.js';

export type HoldReason = 'self_referral' | 'refund_rate';

export type LimitStats = {
  /** partner id|currency → the partner's payments in the refund-rate window. */
  refunds: Map<string, { amountMinor: bigint; refundedMinor: bigint; count: number }>;
  /** partner id|customer id|units → what the partner earned from the customer so far (decimal text). */
  perCustomer: Map<string, string>;
  /** partner id|units|YYYY-MM → what the partner earned in that month so far (decimal text). */
  perMonth: Map<string, string>;
};

export const emptyStats = (): LimitStats => ({ refunds: new Map(), perCustomer: new Map(), perMonth: new Map() });

/** Whether a program has a limit that needs figures from the store. */
export function needsStats(program: ProgramRules): boolean {
  const caps = program.caps ?? DEFAULT_CAPS;
  return (
    !!program.fraud?.refund_rate_hold ||
    !!caps.max_per_customer ||
    !!caps.max_per_partner_per_month ||
    Object.keys(caps.partners).length > 0
  );
}

/** The same mailbox: case-insensitive, and `name+tag@` is `name@`. */
export function sameMailbox(a: string, b: string): boolean {
  const norm = (email: string) => {
    const [local = '', domain = ''] = email.trim().toLowerCase().split('@');
    return `${local.split('+')[0]}@${domain}`;
  };
  return a.includes('@') && b.includes('@') && norm(a) === norm(b);
}

export const monthOf = (d: Date) => d.toISOString().slice(0, 7);

export type LimitFacts = {
  partner: { id: string; key: string; email: string | null };
  /** The paying customer's record (caps per customer count by it), and the payer's email. */
  customerId: string | null;
  payerEmail: string | null;
  /** The payment's currency (the refund-rate share is taken in it: never converted). */
  currency: string;
  occurredAt: Date;
};

export type Limited = { draft: RewardDraft | null; holdReason: HoldReason | null; cappedFrom: string | null };

/** a > rate (a share "0.25"), exactly: part / whole > rate. */
function shareAbove(part: bigint, whole: bigint, rate: string): boolean {
  const [w = '0', f = ''] = rate.split('.');
  const scale = 10n ** BigInt(f.length);
  return part * scale > BigInt(w + f) * whole;
}

/** The reward after the program's holds and caps; the stats take what it adds. */
export function applyLimits(program: ProgramRules, draft: RewardDraft, f: LimitFacts, stats: LimitStats): Limited {
  const fraud = program.fraud ?? DEFAULT_FRAUD;
  const caps = program.caps ?? DEFAULT_CAPS;
  const own = caps.partners[f.partner.key] ?? {};
  const unitCur = unitOrCurrency(draft.units, draft.isCurrency);
  let amount = decimal(draft.amount, unitCur);
  let cappedFrom: string | null = null;

  const cut = (limit: string | undefined, used: string | undefined) => {
    if (limit === undefined) return;
    const room = minus(decimal(limit, unitCur), decimal(used ?? '0', unitCur));
    const allowed = compareDecimal(room, decimal('0', unitCur)) < 0 ? decimal('0', unitCur) : room;
    if (compareDecimal(amount, allowed) > 0) {
      cappedFrom ??= draft.amount;
      amount = allowed;
    }
  };
  const customerKey = f.customerId ? `${f.partner.id}|${f.customerId}|${draft.units}` : null;
  const monthKey = `${f.partner.id}|${draft.units}|${monthOf(f.occurredAt)}`;
  if (customerKey) cut((own.max_per_customer ?? caps.max_per_customer)?.[draft.units], stats.perCustomer.get(customerKey));
  cut((own.max_per_partner_per_month ?? caps.max_per_partner_per_month)?.[draft.units], stats.perMonth.get(monthKey));

  const add = (m: Map<string, string>, key: string) => m.set(key, decimalText(plus(decimal(m.get(key) ?? '0', unitCur), amount)));
  if (customerKey) add(stats.perCustomer, customerKey);
  add(stats.perMonth, monthKey);
  if (isZero(amount)) return { draft: null, holdReason: null, cappedFrom };

  let holdReason: HoldReason | null = null;
  if (fraud.self_referral_hold && f.payerEmail && f.partner.email && sameMailbox(f.payerEmail, f.partner.email)) holdReason = 'self_referral';
  const rule = fraud.refund_rate_hold;
  const seen = stats.refunds.get(`${f.partner.id}|${f.currency}`);
  if (!holdReason && rule && seen && seen.count >= rule.min_payments && seen.amountMinor > 0n && shareAbove(seen.refundedMinor, seen.amountMinor, rule.rate)) {
    holdReason = 'refund_rate';
  }
  const limited: RewardDraft = { ...draft, amount: decimalText(amount) };
  // held: in review with no end, until the merchant releases or rejects it
  if (holdReason) Object.assign(limited, { status: 'review_period', reviewEndsAt: null });
  return { draft: limited, holdReason, cappedFrom };
}

/** A new payment of the partner counts in its refund-rate window. */
export function countPayment(stats: LimitStats, partnerId: string, currency: string, amountMinor: bigint) {
  const key = `${partnerId}|${currency}`;
  const s = stats.refunds.get(key) ?? { amountMinor: 0n, refundedMinor: 0n, count: 0 };
  stats.refunds.set(key, { ...s, amountMinor: s.amountMinor + amountMinor, count: s.count + 1 });
}
