//! Tokens: store, read, replace, update, delete, list (`TOK-*`).

use std::time::Duration;

use authstore_spec::{AuthToken, Capabilities};

use crate::check::{Check, Outcome, expect_eq};
use crate::{Ctx, Scenario, scenario};

const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![scenario!(
        tokens_store_then_get,
        Tokens,
        ["TOK-1", "GEN-3"],
        Capabilities::NONE,
        "a stored token reads back equal, every field included",
        store_then_get
    )]
}

async fn store_then_get(ctx: Ctx) -> Outcome {
    let s = ctx.storage();
    let token = AuthToken::new("tok-1", "alice", "access-1", HOUR)
        .with_refresh_token("refresh-1")
        .with_token_type("Bearer")
        .with_scopes(["read", "write"])
        .with_metadata("client", serde_json::json!({"name": "cli", "n": 3}));
    s.store_token(&token).await.check("store_token(tok-1)")?;
    let got = s.get_token("tok-1").await.check("get_token(tok-1)")?;
    expect_eq(&got, &Some(token), "get_token(tok-1) after store_token")
}
