/** websd's browser runtime: the public API. */

export { TorchGenerator } from "./rng";
