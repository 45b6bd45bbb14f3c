//! The same catalogue as one test target of its own (`harness = false` in Cargo.toml):
//! `cargo test --test entry_point -- --area kv --clause TOK` selects like the harness
//! command line, prints progress and a summary line, writes the reports
//! (`$AUTHSTORE_REPORT_DIR`, else `target/conformance`) and exits non-zero on a failure.
use authstore_conformance::BackendUnderTest;
use authstore_conformance::spec::{Capabilities, TimingProfile};
use third_party_backend::MyStore;

fn main() -> std::process::ExitCode {
    authstore_conformance::main(
        BackendUnderTest::new("third_party_main", || async { MyStore::new() })
            .with_capabilities(Capabilities::CORE)
            .with_timing(TimingProfile::IN_PROCESS),
    )
}
