/**
 * Reading a diffusers `scheduler_config.json` the way `SchedulerMixin.from_config` does: the keys
 * a scheduler knows override its own defaults, other keys (`_class_name`, PNDM's `skip_prk_steps`,
 * ...) are ignored. So a model shipped with one scheduler's config can run any scheduler.
 */

/** A diffusers scheduler config, as the manifest's `scheduler` key holds it. */
export type SchedulerConfig = Readonly<Record<string, unknown>>;

export class ConfigReader {
  constructor(
    private readonly config: SchedulerConfig,
    private readonly scheduler: string,
  ) {}

  /** JSON null counts as absent: diffusers configs write `"trained_betas": null`. */
  private value(key: string): unknown {
    const v = this.config[key];
    return v === null ? undefined : v;
  }

  private fail(key: string, expected: string): never {
    const got = JSON.stringify(this.config[key]);
    throw new TypeError(`${this.scheduler}: config key "${key}" is ${got}, expected ${expected}`);
  }

  number(key: string, fallback: number): number {
    const v = this.value(key) ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, "a finite number");
    return v;
  }

  integer(key: string, fallback: number): number {
    const v = this.number(key, fallback);
    if (!Number.isInteger(v) || v < 0) this.fail(key, "a non-negative integer");
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.value(key) ?? fallback;
    if (typeof v !== "boolean") this.fail(key, "a boolean");
    return v;
  }

  choice<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const v = this.value(key) ?? fallback;
    if (!allowed.includes(v as T)) this.fail(key, `one of ${allowed.join(", ")}`);
    return v as T;
  }

  numbers(key: string): number[] | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) this.fail(key, "numbers");
    return v as number[];
  }

  /**
   * An option this runtime does not implement: accepted only at its default, so that a config
   * asking for it fails loudly instead of sampling differently from diffusers.
   */
  unsupported(key: string, fallback: unknown): void {
    const v = this.value(key);
    if (v !== undefined && v !== fallback) {
      throw new Error(
        `${this.scheduler}: "${key}": ${JSON.stringify(v)} is not supported by websd ` +
          `(only ${JSON.stringify(fallback)})`,
      );
    }
  }
}
