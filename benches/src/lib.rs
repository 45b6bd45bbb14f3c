//! Benchmarks live in `benches/`; this library is empty until the report generator lands.
