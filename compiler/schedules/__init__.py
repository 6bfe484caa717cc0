"""WebGPU schedule rules of websd's own, applied with dlight's after legalization and fusion."""
