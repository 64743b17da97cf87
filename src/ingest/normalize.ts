// From a verified payload to what the queue carries: events, or why there are none. Never throws.
import { PaymentEvent } from '../core/payment-event.js';
import type { ReceivingProgram } from '../db/program-directory.js';
import { PayloadError, type GatewayAdapter } from '../gateways/gateway.js';

export type Normalized =
  | { status: 'queued'; events: PaymentEvent[] }
  | { status: 'ignored'; reason: string }
  | { status: 'failed'; reason: string };

export function normalize(
  adapter: GatewayAdapter,
  payload: unknown,
  program: Pick<ReceivingProgram, 'livemode'>,
  livemode: boolean | undefined,
): Normalized {
  if (program.livemode !== null && livemode !== undefined && livemode !== program.livemode) {
    return {
      status: 'ignored',
      reason: livemode ? 'a live-mode event reached a test-mode program' : 'a test-mode event reached a live program',
    };
  }
  let result;
  try {
    result = adapter.toEvents(payload);
  } catch (err) {
    if (err instanceof PayloadError) return { status: 'failed', reason: err.message };
    return { status: 'failed', reason: `payload: ${(err as Error).message}` };
  }
  if (!Array.isArray(result)) return { status: 'ignored', reason: result.reason };
  if (result.length === 0) return { status: 'ignored', reason: 'no payment facts in this event' };
  const events: PaymentEvent[] = [];
  for (const e of result) {
    const parsed = PaymentEvent.safeParse(e);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { status: 'failed', reason: `payload: ${issue?.path.join('.')}: ${issue?.message}` };
    }
    events.push(parsed.data);
  }
  return { status: 'queued', events };
}
