"""Random-weight Stable Diffusion pipelines built from configs, for tests and benchmarks.

Nothing here downloads: every pipeline is made from a config and a seed, then saved with
`save_pretrained`, so callers exercise the same loading path as a real checkpoint.
"""
