// The Paddle API as a local server, for the real @paddle/paddle-node-sdk to talk to: subscriptions
// and customers from in-memory objects, answered in Paddle's envelope, and Paddle-shaped errors.
import { FakeGatewayApi, type FakeResponse } from './fake-gateway-api.js';

/** A Paddle error response: `{ error: { type, code, detail, documentation_url }, meta }`. */
export function paddleError(status: number, code: string, detail = `fake ${code}`): FakeResponse {
  return {
    status,
    body: {
      error: {
        type: status >= 500 || status === 429 ? 'api_error' : 'request_error',
        code,
        detail,
        documentation_url: `https://developer.paddle.com/errors/shared/${code}`,
      },
      meta: { request_id: 'req_fake_paddle' },
    },
  };
}

/**
 * GET /subscriptions/{id} and GET /customers/{id} from `objects` (keyed by id, each the entity as
 * Paddle's `data` holds it). `answers` overrides a path with a canned response (an error, a delay).
 */
export function fakePaddleApi(
  objects: Map<string, Record<string, unknown>>,
  answers: Map<string, FakeResponse> = new Map(),
): FakeGatewayApi {
  return new FakeGatewayApi(({ method, path }) => {
    const canned = answers.get(path);
    if (canned) return canned;
    if (method !== 'GET') return undefined;
    const m = /^\/(subscriptions|customers)\/([^/]+)$/.exec(path);
    if (!m) return undefined;
    const id = decodeURIComponent(m[2]!);
    const obj = objects.get(id);
    if (!obj) return paddleError(404, 'not_found', `Entity ${id} not found`);
    return { status: 200, body: { data: obj, meta: { request_id: 'req_fake_paddle' } } };
  });
}
