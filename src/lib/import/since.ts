// `darkserver import --follow --since WHEN`: a Koji event id (what `koji list-history` and
// getLastEvent show), or a date and time. A time without a zone is this machine's local time,
// as `date -d` reads it; "Z" or "+02:00" say otherwise.
import { UserError } from '../errors.js';

export type Since = { event: number } | { ts: number };

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

export function parseSince(text: string): Since {
  const s = text.trim();
  if (/^\d+$/.test(s)) {
    const event = Number(s);
    if (Number.isSafeInteger(event) && event > 0) return { event };
  }
  const m = DATE.exec(s);
  if (m) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
    const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)] as const;
    const ms = frac ? Number(frac) * 1000 : 0;
    let t: number;
    if (zone) {
      const off = /^z$/i.test(zone) ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.replace(':', '').slice(3, 5) || 0));
      t = Date.UTC(...parts) + ms - off * 60_000;
    } else {
      t = new Date(...parts).getTime() + ms;
    }
    const back = new Date(Date.UTC(...parts));
    // Date rolls 2024-02-30 over into March: a day or time that does not exist is refused instead.
    const valid = back.getUTCMonth() === parts[1] && back.getUTCDate() === parts[2] && parts[3] < 24 && parts[4] < 60 && parts[5] < 60;
    if (valid && Number.isFinite(t)) return { ts: t / 1000 };
  }
  throw new UserError(`--since ${text}: not a Koji event id nor a date (YYYY-MM-DD, "YYYY-MM-DD HH:MM[:SS]", with Z or ±HH:MM for a zone other than local time)`, 2);
}

/** A time as listBuilds takes it: text with microseconds and an explicit UTC offset, which PostgreSQL reads whatever the hub's time zone. */
export function kojiTime(ts: number): string {
  const whole = Math.floor(ts);
  const micro = Math.min(999_999, Math.floor((ts - whole) * 1e6));
  return `${new Date(whole * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${String(micro).padStart(6, '0')}+00:00`;
}
