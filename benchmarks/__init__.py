"""DigitLite benchmarks."""
