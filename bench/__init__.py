"""Benchmarks of jobsapi against its floor and its peers (`make bench`)."""
