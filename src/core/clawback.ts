// Clawback: a refund, a lost dispute or a delete that reaches a reward already in an approved or paid
// payout does not rewrite what was paid; the partner owes the difference back. Pure arithmetic.
import { compareDecimal, decimal, decimalText, minus, unitOrCurrency } from './money.js';

/**
 * What a partner owes back for one reward: what its payout fixed, less what the reward is worth now
 * (0 once deleted or rejected), less what was already clawed back for it; null when nothing more.
 */
export function clawbackOwed(paid: string, nowWorth: string, already: string, units: string): string | null {
  const cur = unitOrCurrency(units, true);
  const owed = minus(minus(decimal(paid, cur), decimal(nowWorth, cur)), decimal(already, cur));
  return compareDecimal(owed, decimal('0', cur)) > 0 ? decimalText(owed) : null;
}
