//! The whole conformance catalogue against `MyStore`: one invocation is all it takes.
use third_party_backend::MyStore;
authstore_conformance::conformance_suite!(third_party, async { MyStore::new() });
