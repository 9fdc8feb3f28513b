"""What the demo, the tests and the benchmarks start: never packaged, never in an image."""
