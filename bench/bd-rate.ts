// Bjøntegaard delta rate (BD-rate): the average bitrate difference between two rate-quality
// curves over the quality range they share, as in G. Bjøntegaard, "Calculation of average PSNR
// differences between RD-curves", ITU-T SG16 Q.6 VCEG-M33, Austin, April 2001 (the cubic-fit
// method that the common bjontegaard_metric scripts and JCTVC/AOM CTC reports implement):
// fit log(rate) as a cubic in quality for each curve, integrate both over the overlap,
// and turn the mean log difference into a percentage. Negative: the test curve needs fewer bits.

export interface RdPoint {
  kbps: number;
  /** A quality in dB (PSNR, or SSIM as -10·log10(1 - SSIM)). */
  db: number;
}

/** SSIM on the dB scale BD-rate is usually reported on. */
export function ssimDb(ssim: number): number {
  return -10 * Math.log10(Math.max(1e-10, 1 - ssim));
}

/** x mapped to about [-1, 1] so the normal equations stay well conditioned. */
interface Scale {
  cx: number;
  sx: number;
}

/** Least-squares polynomial of the given degree in (x - cx) / sx, coefficients from the 0th up. */
function polyfit(xs: number[], ys: number[], degree: number, { cx, sx }: Scale): number[] {
  const n = degree + 1;
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  for (let k = 0; k < xs.length; k++) {
    const pow = Array.from({ length: 2 * n }, (_, i) => ((xs[k]! - cx) / sx) ** i);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i]![j]! += pow[i + j]!;
      a[i]![n]! += pow[i]! * ys[k]!;
    }
  }
  // Gaussian elimination with partial pivoting on the normal equations.
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    if (Math.abs(a[c]![c]!) < 1e-12) throw new Error('BD-rate: the quality points do not determine a cubic');
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let j = c; j <= n; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

/** ∫ of the polynomial (in scaled x) from lo to hi, in x. */
function integrate(coef: number[], { cx, sx }: Scale, lo: number, hi: number): number {
  const prim = (x: number) => coef.reduce((s, c, i) => s + (c * sx * ((x - cx) / sx) ** (i + 1)) / (i + 1), 0);
  return prim(hi) - prim(lo);
}

/** BD-rate of test against reference, in percent; undefined when the curves share no quality range. */
export function bdRate(reference: RdPoint[], test: RdPoint[]): number | undefined {
  if (reference.length < 4 || test.length < 4) throw new Error('BD-rate needs 4 points per curve');
  const lo = Math.max(Math.min(...reference.map((p) => p.db)), Math.min(...test.map((p) => p.db)));
  const hi = Math.min(Math.max(...reference.map((p) => p.db)), Math.max(...test.map((p) => p.db)));
  if (!(hi > lo)) return undefined;
  const all = [...reference, ...test].map((p) => p.db);
  const scale = { cx: (lo + hi) / 2, sx: Math.max(1e-6, (Math.max(...all) - Math.min(...all)) / 2) };
  const area = (pts: RdPoint[]) =>
    integrate(
      polyfit(
        pts.map((p) => p.db),
        pts.map((p) => Math.log(p.kbps)),
        3,
        scale,
      ),
      scale,
      lo,
      hi,
    );
  const meanLogDiff = (area(test) - area(reference)) / (hi - lo);
  return (Math.exp(meanLogDiff) - 1) * 100;
}
