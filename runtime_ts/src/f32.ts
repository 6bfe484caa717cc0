/**
 * float32 arithmetic as PyTorch's compiled C++ performs it, on JavaScript's float64 numbers.
 *
 * `Math.fround` after each +, -, *, / or sqrt of float32 operands gives the float32 result
 * exactly (float64 has more than twice float32's precision). A fused multiply-add needs care.
 */

export const f32 = Math.fround;

/**
 * float32 fused multiply-add, a*b+c rounded once. a*b is exact in float64; the sum may round
 * twice (to float64, then float32) and land on a float32 tie, so such ties are broken by the
 * sign of the float64 sum's rounding error.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s) return r;
  const pv = s - c;
  const err = p - pv + (c - (s - pv));
  if (err === 0) return r;
  const other = 2 * s - r;
  if (other === r || f32(other) !== other) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}
