// What kind of failure an error is, as a property rather than a message prefix: `payload`, data that
// can never be booked however often it is retried (an unknown currency, a refund in another currency
// than its payment); `enrichment`, a gateway API call that failed. The message says `<kind>: <detail>`
// for people (inbox rows, failed jobs, logs); code reads `kind` and `detail`.
export type FailureKind = 'payload' | 'enrichment';

export abstract class KindedError extends Error {
  abstract readonly kind: FailureKind;
  constructor(
    kind: FailureKind,
    /** What is wrong, without the kind. */
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** The detail of a kinded error, else the message. */
export const detailOf = (err: unknown): string => (err instanceof KindedError ? err.detail : err instanceof Error ? err.message : String(err));
