"""Benchmarks that ship with the package, so `qfocus bench NAME` works from any install."""
