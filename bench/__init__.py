"""Benchmarks (`make bench`): reset round trips against the script baseline, throughput under throttling,
cold start. Each prints JSON with --json and a readable table without."""
