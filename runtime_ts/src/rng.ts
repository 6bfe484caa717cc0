/**
 * PyTorch-compatible CPU random numbers.
 *
 * Reproduces, bit for bit, what `torch.randn(n, generator=torch.Generator("cpu").manual_seed(s))`
 * returns for float32 on x86 builds of PyTorch (the AVX2 kernel, which AVX-512 machines use too),
 * so that a seed gives the same latents, and the same per-step noise, as diffusers on a PC.
 *
 * PyTorch's CPU generator is an MT19937 stream. `normal_` on a float32 tensor has two paths:
 * - fewer than 16 elements: Box-Muller in float64 from two 53-bit uniforms, one value per element,
 *   the sine half cached in the generator for the next call;
 * - 16 elements or more: one 24-bit uniform per element, then Box-Muller on blocks of 16 (uniforms
 *   j and j+8 give outputs j and j+8) in float32 with the Cephes-style polynomial `log` and
 *   `sincos` of PyTorch's `avx_mathfun.h`, as GCC compiled them (with fused multiply-adds).
 *   When the size is not a multiple of 16, the last 16 outputs are redrawn from 16 fresh uniforms.
 */

import { f32, fmaf } from "./f32";

/** MT19937 as in PyTorch's `at::mt19937`: the standard generator seeded with `init_genrand`. */
class MT19937 {
  private readonly state = new Uint32Array(624);
  private index = 624;

  constructor(seed32: number) {
    const s = this.state;
    s[0] = seed32;
    for (let i = 1; i < 624; i++) {
      const prev = s[i - 1] as number;
      s[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
  }

  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.state[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < 624; i++) {
      const y = ((s[i] as number) & 0x80000000) | ((s[(i + 1) % 624] as number) & 0x7fffffff);
      s[i] = (s[(i + 397) % 624] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

function floatBits(x: number): number {
  f32View[0] = x;
  return u32View[0] as number;
}

function bitsFloat(bits: number): number {
  u32View[0] = bits;
  return f32View[0] as number;
}

const SQRTHF = f32(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f32);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);

/** `log256_ps` for one lane, for the arguments Box-Muller gives it (normal, in (0, 1]). */
function logAvx(v: number): number {
  const bits = floatBits(v);
  const mantissa = bitsFloat((bits & 0x807fffff) | 0x3f000000);
  const below = mantissa < SQRTHF;
  const e = (bits >>> 23) - 127 + (below ? 0 : 1);
  let x = f32(mantissa - 1);
  if (below) x = f32(x + mantissa);
  const z = f32(x * x);
  let y = LOG_P[0] as number;
  for (let k = 1; k < LOG_P.length; k++) y = fmaf(y, x, LOG_P[k] as number);
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = f32(y - z * 0.5);
  return fmaf(e, LOG_Q2, f32(x + y));
}

const FOPI = f32(1.27323954473516);
const DP1 = f32(-0.78515625);
const DP2 = f32(-2.4187564849853515625e-4);
const DP3 = f32(-3.77489497744594108e-8);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f32);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f32);

/** `sincos256_ps` for one lane and a non-negative argument; returns [sin, cos]. */
function sincosAvx(theta: number): [number, number] {
  let j = Math.trunc(f32(theta * FOPI));
  j = (j + 1) & ~1;
  let x = fmaf(j, DP1, theta);
  x = fmaf(DP2, j, x);
  x = fmaf(j, DP3, x);
  const z = f32(x * x);
  let c = fmaf(COS_P[0] as number, z, COS_P[1] as number);
  c = fmaf(c, z, COS_P[2] as number);
  c = fmaf(z, f32(z * c), -f32(z * 0.5));
  c = f32(c + 1);
  let s = fmaf(SIN_P[0] as number, z, SIN_P[1] as number);
  s = fmaf(s, z, SIN_P[2] as number);
  s = fmaf(x, f32(z * s), x);
  const sinPoly = (j & 2) === 0;
  let sin = sinPoly ? s : c;
  let cos = sinPoly ? c : s;
  if (j & 4) sin = -sin;
  if (((j - 2) & 4) === 0) cos = -cos;
  return [sin, cos];
}

const TWO_PI_F32 = f32(2 * Math.PI);

/** Box-Muller on 16 uniforms in place, as PyTorch's AVX2 `NormalFill16` does. */
function normalFill16(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - (data[offset + j] as number));
    const u2 = data[offset + j + 8] as number;
    const radius = f32(Math.sqrt(-2 * logAvx(u1)));
    const [sin, cos] = sincosAvx(f32(TWO_PI_F32 * u2));
    // `+ 0` is PyTorch's `* std + mean` with mean 0: it turns a -0 into +0.
    data[offset + j] = radius * cos + 0;
    data[offset + j + 8] = radius * sin + 0;
  }
}

const TWO_POW_32 = 4294967296;

function lowSeedBits(seed: number | bigint): number {
  if (typeof seed === "bigint") {
    if (seed < -(1n << 63n) || seed >= 1n << 64n) {
      throw new RangeError(`seed ${seed} is outside PyTorch's range [-2^63, 2^64)`);
    }
    return Number(BigInt.asUintN(32, seed));
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`seed ${seed} must be a safe integer (or a bigint for larger seeds)`);
  }
  return ((seed % TWO_POW_32) + TWO_POW_32) % TWO_POW_32;
}

/**
 * A stateful `torch.Generator("cpu")`: successive `randn` calls continue one stream, as the
 * ancestral schedulers' per-step noise does in diffusers.
 */
export class TorchGenerator {
  private readonly mt: MT19937;
  /** PyTorch's `next_double_normal_sample`: the unused half of the last small-path pair. */
  private cachedNormal: number | null = null;

  /** PyTorch seeds MT19937 with the seed's low 32 bits, so seeds equal mod 2^32 coincide. */
  constructor(seed: number | bigint) {
    this.mt = new MT19937(lowSeedBits(seed));
  }

  /** `torch.randn(n, dtype=torch.float32, generator=this)`, flattened. */
  randn(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`randn size ${n} is not a count`);
    const out = new Float32Array(n);
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble() + 0; // mean 0, as above
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i);
    if (n % 16 !== 0) {
      for (let i = n - 16; i < n; i++) out[i] = this.uniformFloat();
      normalFill16(out, n - 16);
    }
    return out;
  }

  /** 24 random bits scaled into [0, 1): `uniform_real_distribution<float>(0, 1)`. */
  private uniformFloat(): number {
    return (this.mt.nextUint32() & 0xffffff) / 16777216;
  }

  /** 53 random bits (high word first) scaled into [0, 1): the float64 variant. */
  private uniformDouble(): number {
    const hi = this.mt.nextUint32() & 0x1fffff;
    const lo = this.mt.nextUint32();
    return (hi * TWO_POW_32 + lo) / 9007199254740992;
  }

  /** `normal_distribution<double>`: one float64 Box-Muller pair, the sine half cached. */
  private normalDouble(): number {
    if (this.cachedNormal !== null) {
      const cached = this.cachedNormal;
      this.cachedNormal = null;
      return cached;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const radius = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }
}
