//! The Lua code, one body per multi-key operation, each run with `lua/common.lua` (the key
//! layout and shared helpers). The code runs atomically on the server, so each operation
//! is one round trip and no reader sees half of a change (SPEC.md `CON-*`).
//!
//! The bodies are loaded twice over: as one function library (`FUNCTION LOAD`, called
//! with `FCALL`), the fast path, and as scripts (`EVALSHA`), the fallback where functions
//! cannot be loaded. A script runs `common.lua` on every call: its dozen closures and key
//! names cost 2-5 µs of server time per call, as much as two or three commands; a library
//! runs it once, when it loads (benches/PROFILE.md).

use std::borrow::Cow;
use std::sync::LazyLock;

/// Lua code run by the server: a script's source and its SHA-1, the name `EVALSHA` calls
/// it by, and for the backend's own operations the name of the same code in the
/// [`Library`].
#[derive(Debug)]
pub(crate) struct Lua {
    pub(super) code: Cow<'static, str>,
    pub(super) sha: String,
    /// The function `FCALL` calls instead, when the library is loaded.
    pub(super) function: Option<String>,
}

impl Lua {
    /// A script from its source, with no function: `TieredStorage`'s own scripts.
    #[cfg_attr(not(any(test, feature = "tiered-storage")), allow(dead_code))]
    pub(crate) fn new(code: &'static str) -> Self {
        Self::from_code(Cow::Borrowed(code), None)
    }

    fn from_code(code: Cow<'static, str>, function: Option<String>) -> Self {
        let sha = ::redis::Script::new(&code).get_hash().to_owned();
        Self {
            code,
            sha,
            function,
        }
    }
}

/// The function library holding every operation of [`Scripts`].
#[derive(Debug)]
pub(super) struct Library {
    /// The library's source, for `FUNCTION LOAD REPLACE`.
    pub(super) code: String,
    /// The library's name, `authstore_<version>`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) name: String,
}

/// One operation's Lua: its name, its own file and its flags.
///
/// The flags (Redis 7) make an out-of-memory server (`maxmemory` reached) refuse code
/// that may write before it starts, instead of failing it at its first allocating
/// command with half of its changes made (SPEC.md `GEN-4`). Code that only reads
/// (`no-writes`) or only removes data (`allow-oom`: deletes, listings that drop expired
/// index entries, cleanup) still runs then, so a full server can be read and emptied.
struct Body {
    name: &'static str,
    code: &'static str,
    flag: Option<&'static str>,
}

macro_rules! body {
    ($name:literal) => {
        body!($name, None)
    };
    ($name:literal, $flag:expr) => {
        Body {
            name: $name,
            code: include_str!(concat!("lua/", $name, ".lua")),
            flag: $flag,
        }
    };
}

const COMMON: &str = include_str!("lua/common.lua");

/// Every operation, in the order of the fields of [`Scripts`].
const BODIES: [Body; 11] = [
    body!("store_token"),
    body!("token_by_access", Some("no-writes")),
    body!("delete_token", Some("allow-oom")),
    body!("list_owned", Some("allow-oom")),
    body!("store_session"),
    body!("delete_session", Some("allow-oom")),
    body!("count_sessions", Some("no-writes")),
    body!("store_kv"),
    body!("delete_kv", Some("allow-oom")),
    body!("list_kv", Some("allow-oom")),
    body!("cleanup", Some("allow-oom")),
];

/// Stands for the library's version in its source until the version is known.
const VERSION: &str = "@VERSION@";

/// The library's source, its name and every function's carrying `version`: the
/// first 16 hex digits of the SHA-1 of the source with [`VERSION`] in their place, so two
/// builds with different code never call each other's functions on a shared server.
fn library_code() -> (String, String) {
    let mut code = format!("#!lua name=authstore_{VERSION}\n{COMMON}");
    for body in &BODIES {
        let flags = body
            .flag
            .map(|flag| format!(", flags = {{'{flag}'}}"))
            .unwrap_or_default();
        code.push_str(&format!(
            "redis.register_function{{function_name = 'authstore_{VERSION}_{name}'{flags}, \
             callback = function(KEYS, ARGV)\nenter(ARGV[1])\n{body}\nend}}\n",
            name = body.name,
            body = body.code,
        ));
    }
    let version = ::redis::Script::new(&code).get_hash()[..16].to_owned();
    (code.replace(VERSION, &version), version)
}

/// Every script of the backend.
#[derive(Debug)]
pub(super) struct Scripts {
    pub(super) store_token: Lua,
    pub(super) token_by_access: Lua,
    pub(super) delete_token: Lua,
    pub(super) list_owned: Lua,
    pub(super) store_session: Lua,
    pub(super) delete_session: Lua,
    pub(super) count_sessions: Lua,
    pub(super) store_kv: Lua,
    pub(super) delete_kv: Lua,
    pub(super) list_kv: Lua,
    pub(super) cleanup: Lua,
    /// The same code as one function library.
    pub(super) library: Library,
}

impl Scripts {
    /// Every script, for loading them all when a storage connects without functions.
    pub(super) fn all(&self) -> [&Lua; 11] {
        [
            &self.store_token,
            &self.token_by_access,
            &self.delete_token,
            &self.list_owned,
            &self.store_session,
            &self.delete_session,
            &self.count_sessions,
            &self.store_kv,
            &self.delete_kv,
            &self.list_kv,
            &self.cleanup,
        ]
    }
}

/// The scripts and the library, built and hashed once per process.
pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let (library, version) = library_code();
    // Each script: a shebang with the flags, `common.lua`, the call's key base, the body.
    let mut scripts = BODIES.iter().map(|body| {
        let flags = body
            .flag
            .map(|flag| format!(" flags={flag}"))
            .unwrap_or_default();
        let code = format!("#!lua{flags}\n{COMMON}enter(ARGV[1])\n{}", body.code);
        let function = format!("authstore_{version}_{}", body.name);
        Lua::from_code(Cow::Owned(code), Some(function))
    });
    let mut next = || scripts.next().expect("one script per body");
    Scripts {
        store_token: next(),
        token_by_access: next(),
        delete_token: next(),
        list_owned: next(),
        store_session: next(),
        delete_session: next(),
        count_sessions: next(),
        store_kv: next(),
        delete_kv: next(),
        list_kv: next(),
        cleanup: next(),
        library: Library {
            code: library,
            name: format!("authstore_{version}"),
        },
    }
});
