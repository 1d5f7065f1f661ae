"""Plugins: the folder loader, the WASM (wasmtime) and Python runtimes, and the host API."""
