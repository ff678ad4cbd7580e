"""asv benchmarks for fastki: its fills (bench_fills) and the libraries it is measured
against (bench_peers). See asv.conf.json and docs/benchmarks.md."""
