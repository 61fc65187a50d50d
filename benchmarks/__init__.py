"""Speed and memory benchmarks (issue #8): ``python -m benchmarks.run --help``. Not collected by pytest."""
