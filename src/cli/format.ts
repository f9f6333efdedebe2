/**
 * @module cli/format
 * docker's output conventions: tab-aligned tables (Go's tabwriter with min width 10, padding 3,
 * as the docker CLI configures it), sizes in decimal units with three significant digits
 * (go-units HumanSizeWithPrecision) and "2 hours ago" durations (go-units HumanDuration).
 */

/** Aligns rows like docker's tabwriter: each column is max(10, widest cell + 3); the last is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 10, cell.length + 3);
    });
  }
  return rows
    .map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] ?? 10) : cell)).join('').trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

const SIZE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** 4264912 → "4.26MB" (decimal units, 3 significant digits, as docker prints sizes). */
export function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${formatG(value, 3)}${SIZE_UNITS[unit]}`;
}

/** Go's %.*g: significant digits, no trailing zeros, no exponent for the magnitudes we print. */
function formatG(value: number, precision: number): string {
  if (value === 0) return '0';
  const text = value.toPrecision(precision);
  if (text.includes('e')) return String(Number(text));
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** "About an hour", "3 weeks" — go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** docker's CREATED column: "2 weeks ago", or "N/A" when the image has no creation time. */
export function createdSince(created: string | undefined, now: number): string {
  if (!created) return 'N/A';
  const time = Date.parse(created);
  if (Number.isNaN(time) || time <= 0) return 'N/A';
  return `${humanDuration(Math.max(0, now - time))} ago`;
}

/** docker truncates IDs to 12 hex characters without the algorithm. */
export function truncateId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
