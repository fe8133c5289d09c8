// How long a claim on shared work (an RPM of the import queue, a running image job) lasts without
// renewal. Its holder renews it every quarter of that; a holder that stops (killed, its machine
// cut off from the store) loses it after at most this long, and others may take the work over.

/** DARKFORGE_LEASE_SECONDS (fractions allowed), default 120 s, in milliseconds. */
export function leaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.DARKFORGE_LEASE_SECONDS);
  return Number.isFinite(s) && s > 0 ? Math.round(s * 1000) : 120_000;
}
