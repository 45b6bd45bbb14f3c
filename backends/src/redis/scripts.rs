//! The Lua scripts, one per multi-key operation, each with `lua/common.lua` (the key
//! layout and shared helpers) in front. A script runs atomically on the server, so each
//! operation is one round trip and no reader sees half of a change (SPEC.md `CON-*`).

use std::sync::LazyLock;

/// A script's source and its SHA-1, the name `EVALSHA` calls it by.
#[derive(Debug)]
pub(crate) struct Lua {
    pub(super) code: &'static str,
    pub(super) sha: String,
}

impl Lua {
    /// A script from its source (also used by `TieredStorage` for its own scripts).
    pub(crate) fn new(code: &'static str) -> Self {
        let sha = ::redis::Script::new(code).get_hash().to_owned();
        Self { code, sha }
    }
}

/// Each script's source: a shebang, `common.lua`, then the script's own file.
///
/// The shebang (Redis 7) makes an out-of-memory server (`maxmemory` reached) refuse a
/// script that may write before it starts, instead of failing it at its first allocating
/// command with half of its changes made (SPEC.md `GEN-4`). Scripts that only read
/// (`no-writes`) or only remove data (`allow-oom`: deletes, listings that drop expired
/// index entries, cleanup) still run then, so a full server can be read and emptied.
macro_rules! lua {
    ($file:literal) => {
        lua!($file, "")
    };
    ($file:literal, $flags:literal) => {
        Lua::new(concat!(
            "#!lua",
            $flags,
            "\n",
            include_str!("lua/common.lua"),
            include_str!(concat!("lua/", $file)),
        ))
    };
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
}

impl Scripts {
    /// Every script, for loading them all when a storage connects.
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

/// The scripts, hashed once per process.
pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    store_token: lua!("store_token.lua"),
    token_by_access: lua!("token_by_access.lua", " flags=no-writes"),
    delete_token: lua!("delete_token.lua", " flags=allow-oom"),
    list_owned: lua!("list_owned.lua", " flags=allow-oom"),
    store_session: lua!("store_session.lua"),
    delete_session: lua!("delete_session.lua", " flags=allow-oom"),
    count_sessions: lua!("count_sessions.lua", " flags=no-writes"),
    store_kv: lua!("store_kv.lua"),
    delete_kv: lua!("delete_kv.lua", " flags=allow-oom"),
    list_kv: lua!("list_kv.lua", " flags=allow-oom"),
    cleanup: lua!("cleanup.lua", " flags=allow-oom"),
});
