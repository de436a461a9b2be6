"""Benchmark evaluation: runner (resume, shards, batching), metrics, reports, submission packer."""
