//! Assertions that return a [`Failure`] saying what was expected and what came back,
//! instead of panicking.

use std::fmt::{self, Debug};

use authstore_spec::{ErrorKind, StorageError};

/// Why a scenario failed: what was expected and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The explanation shown in reports.
    pub message: String,
}

impl Failure {
    /// A failure with this explanation.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// What a scenario returns.
pub type Outcome = Result<(), Failure>;

/// Turns a storage result into a scenario result, naming the call on failure.
pub trait Check<T> {
    /// `Ok(value)`, or a failure saying `call` should have succeeded and what it returned.
    fn check(self, call: &str) -> Result<T, Failure>;
    /// `Ok(())` if the call failed with `kind`, else a failure saying what came back.
    fn check_err(self, kind: ErrorKind, call: &str) -> Outcome;
}

impl<T: Debug> Check<T> for Result<T, StorageError> {
    fn check(self, call: &str) -> Result<T, Failure> {
        self.map_err(|err| {
            Failure::new(format!(
                "{call}: expected success, got error {:?}: {err}",
                err.kind()
            ))
        })
    }

    fn check_err(self, kind: ErrorKind, call: &str) -> Outcome {
        match self {
            Err(err) if err.kind() == kind => Ok(()),
            Err(err) => Err(Failure::new(format!(
                "{call}: expected error {kind:?}, got error {:?}: {err}",
                err.kind()
            ))),
            Ok(value) => Err(Failure::new(format!(
                "{call}: expected error {kind:?}, got Ok({})",
                abbreviate(&format!("{value:?}"))
            ))),
        }
    }
}

/// Fails with `what: expected .., got ..` unless `actual == expected`.
pub fn expect_eq<T: PartialEq + Debug>(actual: &T, expected: &T, what: &str) -> Outcome {
    if actual == expected {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what}: expected {}, got {}",
            abbreviate(&format!("{expected:?}")),
            abbreviate(&format!("{actual:?}"))
        )))
    }
}

/// Fails with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(Failure::new(message()))
    }
}

/// Compares byte values without printing megabytes: on a mismatch, says the lengths and
/// the first differing offset.
pub fn expect_bytes(actual: Option<&[u8]>, expected: Option<&[u8]>, what: &str) -> Outcome {
    match (actual, expected) {
        (Some(a), Some(e)) if a == e => Ok(()),
        (None, None) => Ok(()),
        (Some(a), Some(e)) => {
            let at = a
                .iter()
                .zip(e)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(e.len()));
            Err(Failure::new(format!(
                "{what}: expected {} bytes, got {} bytes, first difference at offset {at}",
                e.len(),
                a.len()
            )))
        }
        (a, e) => Err(Failure::new(format!(
            "{what}: expected {}, got {}",
            describe(e),
            describe(a)
        ))),
    }
}

fn describe(value: Option<&[u8]>) -> String {
    match value {
        None => "None (absent)".into(),
        Some(v) => format!("Some({} bytes)", v.len()),
    }
}

/// Cuts long debug output so a failure message stays readable.
pub fn abbreviate(text: &str) -> String {
    const LIMIT: usize = 600;
    if text.len() <= LIMIT {
        return text.to_string();
    }
    let mut cut = LIMIT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}
