// A partner's balances, one per currency, as the REST API shows them: exact decimal text, never a
// float (`"19.998"`).
import type { Balance } from '../db/balances.js';

export const balancesView = (balances: readonly Balance[]) =>
  balances.map((b) => ({ currency: b.currency, pending: b.pending, available: b.available, in_payout: b.in_payout, paid: b.paid, clawback: b.clawback }));
