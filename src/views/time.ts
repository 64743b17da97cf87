// How the public JSON writes an instant.

/** ISO 8601 with microseconds, as Partnero writes timestamps: 2025-05-12T15:43:55.000000Z. */
export function timestamp(d: Date | null | undefined): string | null {
  return d ? d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') : null;
}
