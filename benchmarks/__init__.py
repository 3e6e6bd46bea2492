"""quadnet benchmarks: ``python -m benchmarks [--quick]`` prints one table per topic."""
