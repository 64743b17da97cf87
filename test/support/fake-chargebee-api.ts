// A local stand-in for the Chargebee API (v2), for the real chargebee SDK pointed at it: customers
// from an in-memory map, and Chargebee's own error body for anything it does not have.
import { FakeGatewayApi } from './fake-gateway-api.js';

const notFound = (path: string) => ({
  status: 404,
  body: {
    message: `Sorry, we couldn't find that resource: ${path}`,
    type: 'invalid_request',
    api_error_code: 'resource_not_found',
    error_code: 'resource_not_found',
    error_msg: `Sorry, we couldn't find that resource: ${path}`,
    http_status_code: 404,
  },
});

/**
 * `GET /api/v2/customers/{id}` answers `{ customer }` from `customers` (keyed by customer id);
 * `delayMs` slows every answer (to test timeouts).
 */
export function fakeChargebeeApi(customers: Map<string, Record<string, unknown>>, options: { delayMs?: number } = {}): FakeGatewayApi {
  return new FakeGatewayApi(({ method, path }) => {
    const m = /^\/api\/v2\/customers\/([^/]+)$/.exec(path);
    const customer = method === 'GET' && m ? customers.get(decodeURIComponent(m[1]!)) : undefined;
    return { ...(customer ? { status: 200, body: { customer } } : notFound(path)), delayMs: options.delayMs };
  });
}
