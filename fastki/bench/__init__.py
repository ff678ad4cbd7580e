"""What `python -m fastki bench` and `python -m fastki scale` run.

- fills: every fill timed beside NumPy (and PyTorch, JAX, Keras where installed), the bits
  checked across SIMD paths, thread counts and the NumPy backend, the per-call overhead;
- busy: `bench --busy`, threads on a machine that is doing other things;
- scale: a GPT-2-small-sized PyTorch model and a multi-GiB Dask->Zarr write;
- timing: the one timing rule all three use.

Nothing here is imported by `import fastki`; the command line imports the module it runs.
"""
