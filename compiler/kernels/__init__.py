"""Hand-scheduled TIR kernels for WebGPU, generated per shape and dtype."""
