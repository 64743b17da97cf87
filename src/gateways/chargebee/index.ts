// The Chargebee adapter (being written: refuses every delivery until then).
import { ignored } from '../../core/payment-event.js';
import { rejected, type GatewayAdapter } from '../gateway.js';

export const chargebeeAdapter: GatewayAdapter<'chargebee'> = {
  gateway: 'chargebee',
  verify: () => rejected('gateway_not_configured', 'the Chargebee receiver is not available yet'),
  toEvents: () => ignored('the Chargebee receiver is not available yet'),
};
