//! The two drivers behind [`PostgresStorage`](super::PostgresStorage) as one interface:
//! a statement and its typed parameters in; rows' columns, or the affected rows, out.
//! Every method of the storage is written once, for both; only this module knows which
//! driver a storage was built on.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use authstore_spec::{Result, StorageError};
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, FromRow, PgPool, Postgres};
use tokio_postgres::types::{FromSqlOwned, IsNull, ToSql, Type, accepts, to_sql_checked};

use super::error::{is_access_digest_violation, is_retryable, map_err};
use super::native::{Interval, Native, NativeError};

/// The pool every method runs on.
#[derive(Clone)]
pub(super) enum Client {
    /// The application's sqlx pool (`PostgresStorage::new`).
    Sqlx(PgPool),
    /// tokio-postgres connections in a deadpool-postgres pool.
    Native(Native),
}

/// A statement parameter, declared with the type sqlx binds for the value it holds, so
/// both drivers' statements are prepared, and planned, alike.
#[derive(Clone, Copy, Debug)]
pub(super) enum Param<'a> {
    /// `text`.
    Text(&'a str),
    /// `bytea`.
    Bytes(&'a [u8]),
    /// `timestamptz`.
    Instant(DateTime<Utc>),
    /// `interval`, or NULL for none.
    Interval(Option<Duration>),
}

impl Param<'_> {
    /// The type this parameter is declared with when the statement is prepared.
    fn ty(&self) -> Type {
        match self {
            Param::Text(_) => Type::TEXT,
            Param::Bytes(_) => Type::BYTEA,
            Param::Instant(_) => Type::TIMESTAMPTZ,
            Param::Interval(_) => Type::INTERVAL,
        }
    }

    /// Appends this parameter to sqlx's arguments.
    fn add_to(self, args: &mut PgArguments) -> std::result::Result<(), sqlx::error::BoxDynError> {
        match self {
            Param::Text(text) => args.add(text),
            Param::Bytes(bytes) => args.add(bytes),
            Param::Instant(instant) => args.add(instant),
            Param::Interval(ttl) => args.add(ttl),
        }
    }
}

/// The native driver encodes each parameter as the value it holds would be; the
/// declared type ([`Param::ty`]) matches it by construction.
impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Param::Text(text) => text.to_sql(ty, out),
            Param::Bytes(bytes) => bytes.to_sql(ty, out),
            Param::Instant(instant) => instant.to_sql(ty, out),
            Param::Interval(ttl) => ttl.map(Interval).to_sql(ty, out),
        }
    }

    accepts!(TEXT, BYTEA, TIMESTAMPTZ, INTERVAL);
    to_sql_checked!();
}

/// sqlx's arguments for `params` (a value sqlx cannot encode is its `Encode` error).
fn sqlx_args(params: &[Param<'_>]) -> std::result::Result<PgArguments, sqlx::Error> {
    let mut args = PgArguments::default();
    for param in params {
        param.add_to(&mut args).map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// The native driver's declared types and values for `params`.
fn native_params<'p>(params: &'p [Param<'_>]) -> (Vec<Type>, Vec<&'p (dyn ToSql + Sync)>) {
    params
        .iter()
        .map(|param| (param.ty(), param as &(dyn ToSql + Sync)))
        .unzip()
}

/// An error of either driver.
#[derive(Debug)]
pub(super) enum DriverError {
    /// From sqlx.
    Sqlx(sqlx::Error),
    /// From tokio-postgres or its pool.
    Native(NativeError),
}

impl From<sqlx::Error> for DriverError {
    fn from(err: sqlx::Error) -> Self {
        DriverError::Sqlx(err)
    }
}

impl From<NativeError> for DriverError {
    fn from(err: NativeError) -> Self {
        DriverError::Native(err)
    }
}

impl DriverError {
    /// Rolled back for a deadlock or serialization failure: worth running again.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            DriverError::Sqlx(err) => is_retryable(err),
            DriverError::Native(err) => err.is_retryable(),
        }
    }

    /// A unique violation of the access-digest index.
    pub(super) fn is_access_digest_violation(&self) -> bool {
        match self {
            DriverError::Sqlx(err) => is_access_digest_violation(err),
            DriverError::Native(err) => err.is_access_digest_violation(),
        }
    }

    /// The spec's error for operation `op`, by the same rules on both drivers.
    pub(super) fn into_storage(self, op: &str) -> StorageError {
        match self {
            DriverError::Sqlx(err) => map_err(op, err),
            DriverError::Native(err) => err.into_storage(op),
        }
    }
}

/// The result of one statement on either driver.
type DriverResult<T> = std::result::Result<T, DriverError>;

impl Client {
    /// Runs `sql`; the number of rows it affected.
    pub(super) async fn execute(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> DriverResult<u64> {
        match self {
            Client::Sqlx(pool) => {
                let query = sqlx::query_with::<Postgres, _>(sql, sqlx_args(params)?);
                Ok(query.execute(pool).await?.rows_affected())
            }
            Client::Native(native) => {
                let (types, values) = native_params(params);
                Ok(native.execute(sql, &types, &values).await?)
            }
        }
    }

    /// The first column of the row `sql` returns, if any.
    pub(super) async fn opt<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> DriverResult<Option<T>>
    where
        T: FromSqlOwned + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Client::Sqlx(pool) => {
                let query = sqlx::query_scalar_with::<Postgres, T, _>(sql, sqlx_args(params)?);
                Ok(query.fetch_optional(pool).await?)
            }
            Client::Native(native) => {
                let (types, values) = native_params(params);
                Ok(native.opt(sql, &types, &values).await?)
            }
        }
    }

    /// The first column of the one row `sql` returns.
    pub(super) async fn one<T>(&self, sql: &'static str, params: &[Param<'_>]) -> DriverResult<T>
    where
        T: FromSqlOwned + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Client::Sqlx(pool) => {
                let query = sqlx::query_scalar_with::<Postgres, T, _>(sql, sqlx_args(params)?);
                Ok(query.fetch_one(pool).await?)
            }
            Client::Native(native) => {
                let (types, values) = native_params(params);
                Ok(native.one(sql, &types, &values).await?)
            }
        }
    }

    /// The first column of every row `sql` returns.
    pub(super) async fn all<T>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> DriverResult<Vec<T>>
    where
        T: FromSqlOwned + Send + Unpin,
        (T,): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Client::Sqlx(pool) => {
                let query = sqlx::query_scalar_with::<Postgres, T, _>(sql, sqlx_args(params)?);
                Ok(query.fetch_all(pool).await?)
            }
            Client::Native(native) => {
                let (types, values) = native_params(params);
                Ok(native.all(sql, &types, &values).await?)
            }
        }
    }

    /// The first two columns of the row `sql` returns, if any.
    #[cfg(feature = "tiered-storage")]
    pub(super) async fn opt_pair<A, B>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> DriverResult<Option<(A, B)>>
    where
        A: FromSqlOwned + Send + Unpin,
        B: FromSqlOwned + Send + Unpin,
        (A, B): for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Client::Sqlx(pool) => {
                let query = sqlx::query_as_with::<Postgres, (A, B), _>(sql, sqlx_args(params)?);
                Ok(query.fetch_optional(pool).await?)
            }
            Client::Native(native) => {
                let (types, values) = native_params(params);
                let row = native.row_opt(sql, &types, &values).await?;
                let pair = row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)));
                Ok(pair.transpose().map_err(NativeError::Query)?)
            }
        }
    }

    /// Runs the statements in `sql` in one round trip (one implicit transaction).
    #[cfg(feature = "tiered-storage")]
    pub(super) async fn batch(&self, sql: &'static str) -> DriverResult<()> {
        match self {
            Client::Sqlx(pool) => {
                sqlx::raw_sql(sql).execute(pool).await?;
                Ok(())
            }
            Client::Native(native) => Ok(native.batch(sql).await?),
        }
    }

    /// Opens one connection (pooled afterwards), to check the server is there.
    pub(super) async fn check(&self) -> DriverResult<()> {
        match self {
            // The connection goes back to the pool when dropped.
            Client::Sqlx(pool) => drop(pool.acquire().await?),
            Client::Native(native) => drop(native.pool().get().await.map_err(NativeError::from)?),
        }
        Ok(())
    }

    /// Applies `migrator`'s migrations, recorded in `_sqlx_migrations` (see
    /// `PostgresStorage::migrate`).
    pub(super) async fn migrate(&self, migrator: &Migrator) -> Result<()> {
        let pool = match self {
            Client::Sqlx(pool) => pool,
            Client::Native(native) => return native.migrate(migrator).await,
        };
        let mut conn = pool
            .acquire()
            .await
            .map_err(|err| map_err("migrate", err))?;
        // `run_direct` is what `Migrator::run` calls once it has a connection; `run`'s
        // `Acquire` bound would make this future "not general enough" to be `Send`.
        match migrator.run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // sqlx keeps its session-level advisory lock when a migration fails;
                // closing the connection releases it instead of pooling it.
                let _closed = conn.close().await;
                Err(match err {
                    MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => {
                        map_err("migrate", err)
                    }
                    other => StorageError::backend(
                        "migrate: the database's migration history does not match this \
                         version of authstore-backends",
                        other,
                    ),
                })
            }
        }
    }

    /// Closes the pool: idle connections now, lent ones when given back.
    pub(super) async fn close(&self) {
        match self {
            Client::Sqlx(pool) => pool.close().await,
            Client::Native(native) => native.pool().close(),
        }
    }

    /// Adds the driver and the pool's state (never its connection options, which hold
    /// the password) to a `Debug` output.
    pub(super) fn describe(&self, out: &mut fmt::DebugStruct<'_, '_>) {
        match self {
            Client::Sqlx(pool) => {
                out.field("client", &"sqlx")
                    .field("pool_size", &pool.size())
                    .field("pool_idle", &pool.num_idle())
                    .field("pool_closed", &pool.is_closed());
            }
            Client::Native(native) => {
                let status = native.pool().status();
                out.field("client", &"tokio-postgres")
                    .field("pool_max_size", &status.max_size)
                    .field("pool_size", &status.size)
                    .field("pool_idle", &status.available)
                    .field("pool_closed", &native.pool().is_closed());
            }
        }
    }
}
