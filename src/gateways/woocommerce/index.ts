// The WooCommerce adapter (being written: refuses every delivery until then).
import { ignored } from '../../core/payment-event.js';
import { rejected, type GatewayAdapter } from '../gateway.js';

export const woocommerceAdapter: GatewayAdapter<'woocommerce'> = {
  gateway: 'woocommerce',
  verify: () => rejected('gateway_not_configured', 'the WooCommerce receiver is not available yet'),
  toEvents: () => ignored('the WooCommerce receiver is not available yet'),
};
