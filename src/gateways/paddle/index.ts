// The Paddle Billing adapter (being written: refuses every delivery until then).
import { ignored } from '../../core/payment-event.js';
import { rejected, type GatewayAdapter } from '../gateway.js';

export const paddleAdapter: GatewayAdapter<'paddle'> = {
  gateway: 'paddle',
  verify: () => rejected('gateway_not_configured', 'the Paddle receiver is not available yet'),
  toEvents: () => ignored('the Paddle receiver is not available yet'),
};
