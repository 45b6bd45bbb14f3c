//! Tests of private parts that need a live server (`AUTHSTORE_REDIS_URL`).

mod commands;
mod listing;
mod measure;

use std::time::Duration;

use super::connection::{Connection, Target};
use super::scripts::Lua;

/// The server under test.
fn url() -> String {
    std::env::var("AUTHSTORE_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "AUTHSTORE_REDIS_URL is not set: start servers with `eval \"$(bash ci/start-redis)\"` \
             or point it at your own Redis"
        )
    })
}

/// A script the server has never seen (its text is unique) runs anyway: `EVALSHA` fails
/// with `NOSCRIPT`, the script is sent whole with `EVAL`, and the server caches it.
#[tokio::test]
async fn eval_falls_back_to_the_script_body() {
    let conn = Connection::open(&Target::Single(url()), None, Duration::from_secs(5))
        .await
        .unwrap_or_else(|err| panic!("cannot connect to AUTHSTORE_REDIS_URL: {err}"));
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let code: &'static str =
        Box::leak(format!("return KEYS[1] .. ARGV[1] .. '{nonce}'").into_boxed_str());
    let script = Lua::new(code);
    let mut exists = ::redis::cmd("SCRIPT");
    exists.arg("EXISTS").arg(&script.sha);
    let before: Vec<bool> = conn.query(&exists).await.expect("SCRIPT EXISTS");
    assert_eq!(before, [false], "the script is new");
    let got: String = conn
        .eval(&script, &[b"k"], &[b"-a-"])
        .await
        .expect("EVALSHA then EVAL");
    assert_eq!(got, format!("k-a-{nonce}"));
    let after: Vec<bool> = conn.query(&exists).await.expect("SCRIPT EXISTS");
    assert_eq!(after, [true], "EVAL cached the script");
    let again: String = conn.eval(&script, &[b"x"], &[b"y"]).await.expect("EVALSHA");
    assert_eq!(again, format!("xy{nonce}"));
}
