// The Outcomes view's statistics, kept apart from the page so Node can test
// them (tests/console/lift.test.mjs): each conversion rate with its Wilson
// score interval, and the lift (treated rate minus held-out rate) with
// Newcombe's hybrid score interval, his method 10 (Newcombe 1998, "Interval
// estimation for the difference between independent proportions",
// Statistics in Medicine 17:873-890). The hybrid combines the two Wilson
// intervals, so it stays inside [-1, 1], behaves at 0 and 100%, and needs
// no continuity correction; a Wald interval does none of that on the small
// counts a new trigger has.

/** The normal quantile for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * The Wilson score interval of k successes out of n: {p, lo, hi}, or null
 * when n is 0 (no rate to speak of).
 */
export function wilson(k, n, z = Z95) {
  if (!(n > 0)) return null;
  if (k < 0 || k > n) throw new RangeError(`wilson: ${k} successes out of ${n}`);
  const p = k / n;
  const z2 = z * z;
  const center = (k + z2 / 2) / (n + z2);
  const half = (z * Math.sqrt((k * (n - k)) / n + z2 / 4)) / (n + z2);
  // Clamp the rounding at the ends (k = 0 or k = n gives exactly 0 or 1).
  return { p, lo: Math.max(0, center - half), hi: Math.min(1, center + half) };
}

/**
 * The difference p1 - p2 of two independent proportions (k1/n1 treated,
 * k2/n2 held out) with Newcombe's hybrid score interval: {diff, lo, hi,
 * treated, held}, each proportion with its Wilson interval; null when
 * either group is empty.
 */
export function newcombe(k1, n1, k2, n2, z = Z95) {
  const a = wilson(k1, n1, z);
  const b = wilson(k2, n2, z);
  if (!a || !b) return null;
  const diff = a.p - b.p;
  const lo = diff - Math.sqrt((a.p - a.lo) ** 2 + (b.hi - b.p) ** 2);
  const hi = diff + Math.sqrt((a.hi - a.p) ** 2 + (b.p - b.lo) ** 2);
  return { diff, lo, hi, treated: a, held: b };
}

/** A difference of proportions in percentage points, signed: "+3.2", "-0.4". */
export function points(d, digits = 1) {
  const v = d * 100;
  const s = Math.abs(v).toFixed(digits);
  if (Number(s) === 0) return (0).toFixed(digits);
  return `${v < 0 ? '−' : '+'}${s}`;
}

/**
 * The plain-words verdict on a trigger's lift, from its conversions:
 * `treated` = {conversions, firings} of delivered firings, `held` the same
 * for held-out ones. Returns {kind: 'lift'|'drop'|'unknown', text, ci}.
 */
export function verdict(treated, held) {
  const ci = newcombe(treated.conversions, treated.firings, held.conversions, held.firings);
  if (!ci) {
    const missing = !(treated.firings > 0) ? 'no delivered firing' : 'no held-out firing';
    return { kind: 'unknown', text: `Not enough evidence yet: ${missing} in this range to compare with.`, ci: null };
  }
  const range = `95% CI ${points(ci.lo)} to ${points(ci.hi)}`;
  const size = (Math.abs(ci.diff) * 100).toFixed(1);
  if (ci.lo > 0) return { kind: 'lift', text: `Lifts conversion by ${size} points (${range})`, ci };
  if (ci.hi < 0) return { kind: 'drop', text: `Lowers conversion by ${size} points (${range})`, ci };
  return { kind: 'unknown', text: `Not enough evidence yet: the difference is ${points(ci.diff)} points, but the interval (${range}) includes zero.`, ci };
}
