//! `authstore-compat-auth-framework`: the authstore conformance catalogue on
//! [auth-framework](https://crates.io/crates/auth-framework) 0.6.0-rc202's storage
//! backends, and on yours.
//!
//! - [`AuthFrameworkCompat`] wraps any `auth_framework::storage::AuthStorage` and
//!   implements `authstore_spec::AuthStorage`, faithfully: records mapped field by field
//!   ([`mapping`]), errors mapped to a kind ([`errors`]), nothing validated, filtered or
//!   sorted on their behalf.
//! - [`auth_framework_suite!`] is the one line an auth-framework user writes to run the
//!   whole catalogue on their own backend:
//!
//!   ```ignore
//!   // tests/conformance.rs
//!   authstore_compat_auth_framework::auth_framework_suite!(my_store, async { MyStore::new() });
//!   ```
//! - [`backends`] has the fixtures of every backend auth-framework ships that runs here
//!   (one feature per family: `postgres`, `redis`, `sqlite`, `unified`), as the report
//!   under `reports/auth-framework-0.6.0-rc202/` was made.
//!
//! See README.md for the field and error tables and what the adapter leaves to their
//! backends.

mod adapter;
pub mod backends;
pub mod errors;
pub mod mapping;

pub use adapter::AuthFrameworkCompat;

/// The whole conformance catalogue against an auth-framework backend, one `#[test]` per
/// scenario: [`authstore_conformance::conformance_suite!`] over [`AuthFrameworkCompat`].
///
/// ```ignore
/// authstore_compat_auth_framework::auth_framework_suite!(NAME, FACTORY [, OPTION = VALUE]...);
/// ```
///
/// `FACTORY` is an async expression evaluated afresh for every scenario, yielding a
/// fresh, empty store of theirs (any `S: auth_framework::storage::AuthStorage`) or a
/// `Result<S, E: Display>` whose `Err` fails the scenario. The options are
/// `conformance_suite!`'s (`capabilities = [...]`, `timing = ...`, `timeout = ...`).
/// Depend on `authstore-conformance` too, under its own name: the expansion names it.
/// `AUTHSTORE_REPORT_DIR=dir cargo test` writes the JSON, JUnit and Markdown reports.
#[macro_export]
macro_rules! auth_framework_suite {
    ($name:ident, $factory:expr $(, $($option:tt)*)?) => {
        ::authstore_conformance::conformance_suite!(
            $name,
            async { $crate::__private::Wrap::wrap($factory.await) }
            $(, $($option)*)?
        );
    };
}

/// What [`auth_framework_suite!`]'s expansion refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    use auth_framework::storage::AuthStorage as TheirStorage;

    use crate::AuthFrameworkCompat;

    /// Marks the impl for a bare store.
    #[derive(Debug)]
    pub struct Plain;

    /// Marks the impl for a `Result` of a store.
    #[derive(Debug)]
    pub struct Fallible;

    /// A factory's output with the store wrapped in the adapter; `M` keeps the two
    /// impls apart (a foreign crate could implement their trait for `Result`).
    pub trait Wrap<M> {
        /// The wrapped output.
        type Output;
        /// Wraps the store.
        fn wrap(self) -> Self::Output;
    }

    impl<S: TheirStorage + 'static> Wrap<Plain> for S {
        type Output = AuthFrameworkCompat<S>;
        fn wrap(self) -> Self::Output {
            AuthFrameworkCompat::new(self)
        }
    }

    impl<S: TheirStorage + 'static, E> Wrap<Fallible> for Result<S, E> {
        type Output = Result<AuthFrameworkCompat<S>, E>;
        fn wrap(self) -> Self::Output {
            self.map(AuthFrameworkCompat::new)
        }
    }
}
