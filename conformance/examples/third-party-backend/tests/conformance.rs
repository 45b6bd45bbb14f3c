authstore_conformance::conformance_suite!(third_party, async {
    third_party_backend::MyStore::new()
});
