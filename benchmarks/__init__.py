"""RustyClaw's benchmark suite: gateway figures (memory, start, overhead, prompt size, install size)
and the compiled hot paths against their twins. See benchmarks/README.md."""
