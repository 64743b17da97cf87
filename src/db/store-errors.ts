// Which PostgreSQL failures mean "the store cannot take writes now, retry later" (a webhook answers
// 503 and the gateway retries) and which mean "this write will never succeed" (retrying for days helps
// nobody). Told apart by SQLSTATE: https://www.postgresql.org/docs/current/errcodes-appendix.html
import pg from 'pg';

/** The SQLSTATE of a PostgreSQL error, also when wrapped (drizzle puts it on `cause`); else undefined. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    // only an error the server sent has a SQLSTATE; a socket's `EPIPE` is five letters too
    if (e instanceof pg.DatabaseError && typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/**
 * SQLSTATEs of a store that is unavailable for now: 08xxx connection exceptions, 53xxx insufficient
 * resources (53100 disk_full, 53200 out_of_memory, 53300 too_many_connections), 57P0x shutting down or
 * not accepting connections, 25006 read-only (a failover left us on a standby); and the transient
 * failures of a write that succeeds when tried again: 40001 serialization_failure, 40P01
 * deadlock_detected, 55P03 lock_not_available, 57014 query_canceled (statement_timeout).
 */
export function unavailableState(state: string): boolean {
  return (
    state.startsWith('08') ||
    state.startsWith('53') ||
    state.startsWith('57P0') ||
    ['25006', '40001', '40P01', '55P03', '57014'].includes(state)
  );
}

/**
 * Whether retrying later may succeed: an unavailable SQLSTATE, or no SQLSTATE at all (the server did not
 * answer: connection refused or dropped, the pool's connect timeout).
 */
export function storeUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  return state === undefined || unavailableState(state);
}

/** Class 22, data exception: the values written are what PostgreSQL refuses (and always will). */
export function dataException(err: unknown): boolean {
  return sqlState(err)?.startsWith('22') ?? false;
}
