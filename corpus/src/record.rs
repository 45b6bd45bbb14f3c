//! How a token or session becomes the record the storage keeps: a copy of every field,
//! as a backend that serialises its records would write them.

use std::collections::BTreeSet;

use authstore_spec::time::now_micros;
use authstore_spec::{AuthToken, JsonMap, SessionData};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;

use crate::bug::Bug;

/// The record stored for `token`.
pub(crate) fn token(bug: Option<Bug>, token: &AuthToken) -> AuthToken {
    let mut record = token.clone();
    match bug {
        Some(Bug::RefreshTokenNotStored) => record.refresh_token = None,
        Some(Bug::ScopesStoredAsSet) => {
            let set: BTreeSet<String> = record.scopes.into_iter().collect();
            record.scopes = set.into_iter().collect();
        }
        Some(Bug::EmptyTextBecomesNone) => record.token_type = non_empty(record.token_type),
        Some(Bug::NulStrippedFromText) => {
            record.token_type = record.token_type.as_deref().map(strip_nul);
            record.scopes = record.scopes.iter().map(|s| strip_nul(s)).collect();
            record.metadata = strip_nul_map(&record.metadata);
        }
        Some(Bug::TimestampsTruncatedToMillis) => {
            record.issued_at = to_millis(record.issued_at);
            record.expires_at = to_millis(record.expires_at);
        }
        Some(Bug::JsonNumbersAsF64) => record.metadata = map_json(&record.metadata, &as_f64),
        _ => {}
    }
    record
}

/// The record stored for `session`.
pub(crate) fn session(bug: Option<Bug>, session: &SessionData) -> SessionData {
    let mut record = session.clone();
    match bug {
        Some(Bug::EmptyTextBecomesNone) => {
            record.ip_address = non_empty(record.ip_address);
            record.user_agent = non_empty(record.user_agent);
        }
        Some(Bug::NulStrippedFromText) => {
            record.ip_address = record.ip_address.as_deref().map(strip_nul);
            record.user_agent = record.user_agent.as_deref().map(strip_nul);
            record.data = strip_nul_map(&record.data);
        }
        Some(Bug::TimestampsTruncatedToMillis) => {
            record.created_at = to_millis(record.created_at);
            record.expires_at = to_millis(record.expires_at);
            record.last_activity = to_millis(record.last_activity);
        }
        Some(Bug::StoreTouchesLastActivity) => record.last_activity = now_micros(),
        Some(Bug::JsonNumbersAsF64) => record.data = map_json(&record.data, &as_f64),
        _ => {}
    }
    record
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

fn strip_nul(text: &str) -> String {
    text.replace('\0', "")
}

fn strip_nul_map(map: &JsonMap) -> JsonMap {
    map.iter()
        .map(|(k, v)| (strip_nul(k), map_value(v, &strip_nul_leaf)))
        .collect()
}

fn strip_nul_leaf(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(strip_nul(text)),
        other => other.clone(),
    }
}

/// A number as a double, as a store that parses JSON numbers into `f64` keeps it.
fn as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        other => other.clone(),
    }
}

/// `map` with `leaf` applied to every value that is neither an array nor an object.
fn map_json(map: &JsonMap, leaf: &dyn Fn(&Value) -> Value) -> JsonMap {
    map.iter()
        .map(|(k, v)| (k.clone(), map_value(v, leaf)))
        .collect()
}

fn map_value(value: &Value, leaf: &dyn Fn(&Value) -> Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| map_value(v, leaf)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_value(v, leaf)))
                .collect(),
        ),
        other => leaf(other),
    }
}

fn to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at)
}
