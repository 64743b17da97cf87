// A payout request as the REST API and the outbound webhooks show it.
// Amounts are exact decimal text (never a float): `"19.998"`.
import type { PayoutRequestRow } from '../db/payouts.js';

export const payoutRequestView = (r: PayoutRequestRow) => ({
  // numeric, as Partnero's clients (n8n) send it back in /payout_requests/{id}
  id: Number(r.id),
  status: r.status,
  amount: r.amount,
  amount_units: r.currency,
  partner: { id: r.partner_id, key: r.partner_key, email: r.partner_email, name: r.partner_name, surname: r.partner_surname },
  gateway: r.gateway,
  payout_settings: r.payout_settings ?? {},
  note: r.note,
  reference: r.reference,
  reward_ids: r.rewards.map((w) => Number(w.id)),
  rewards: r.rewards.map((w) => ({ id: Number(w.id), key: w.key, amount: w.amount, transaction_key: w.transaction_key })),
  created_at: r.created_at,
  updated_at: r.updated_at,
  approved_at: r.approved_at,
  rejected_at: r.rejected_at,
  paid_at: r.paid_at,
});
