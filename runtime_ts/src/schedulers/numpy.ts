/**
 * The float64 numpy calls diffusers' `set_timesteps` makes, with numpy's exact arithmetic, so that
 * timesteps and interpolated sigmas come out identical.
 */

/** `np.round`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `np.linspace(start, stop, num, endpoint)`: i·step + start, the endpoint written exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const step = (stop - start) / div;
  const out = Array.from({ length: num }, (_, i) => (div > 0 ? i * step : 0) + start);
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, 0, -step)` for a float step: numpy sizes it as ceil(start / step) and fills
 * it with start + i·Δ, where Δ is the difference of its first two values.
 */
export function arangeDown(start: number, step: number): number[] {
  const length = Math.ceil((0 - start) / -step);
  const delta = start - step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : start + i * delta));
}

/** `np.interp(x, np.arange(len(fp)), fp)`: linear between neighbours, clamped at both ends. */
export function interp(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0] as number;
  if (x >= last) return fp[last] as number;
  const j = Math.floor(x);
  const y0 = fp[j] as number;
  if (x === j) return y0;
  return ((fp[j + 1] as number) - y0) * (x - j) + y0;
}
