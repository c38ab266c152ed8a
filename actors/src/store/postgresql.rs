//! The shared backend for several nodes: PostgreSQL through tokio-postgres, driven on a small
//! runtime of each connection's own so record functions stay the same synchronous code on both
//! backends. Each connection caches its prepared statements, and sends transaction control that
//! needs no answer of its own (a write's savepoint) pipelined with the statement after it. The
//! readers are an r2d2 pool.

use super::error::StoreError;
use super::sql::{Arg, Dialect, Row, Sql, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses a `postgres://` URL (or key=value string) into connection settings.
pub fn config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Config(format!("--database-url is not a PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("voxgate");
    }
    Ok(config)
}

/// One connection, with the statements it has prepared.
pub struct PgConnection {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Runtime,
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    /// Statements without arguments to send with the next statement, in the same round trip.
    pending: RefCell<String>,
}

impl PgConnection {
    /// Connects; must not be called on a thread that drives an async runtime.
    pub fn connect(config: &tokio_postgres::Config) -> Result<PgConnection, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start a database runtime: {e}")))?;
        let client = Self::open(&runtime, config)?;
        Ok(PgConnection {
            config: config.clone(),
            runtime,
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            pending: RefCell::new(String::new()),
        })
    }

    fn open(
        runtime: &tokio::runtime::Runtime,
        config: &tokio_postgres::Config,
    ) -> Result<Client, StoreError> {
        let (client, connection) = runtime.block_on(config.connect(NoTls))?;
        // Runs whenever the runtime is driven, that is during each call on this connection.
        runtime.spawn(connection);
        Ok(client)
    }

    pub fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let client = self.client.borrow();
        let stmt = self.runtime.block_on(client.prepare(&numbered_parameters(sql)))?;
        self.statements.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Sends what is pending, then `run`'s request, without waiting in between.
    fn with_pending<T>(
        &self,
        run: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let pending = self.pending.take();
        let client = self.client.borrow();
        self.runtime.block_on(async {
            if pending.is_empty() {
                return Ok(run(&client).await?);
            }
            let (before, answer) = tokio::join!(client.batch_execute(&pending), run(&client));
            before?;
            Ok(answer?)
        })
    }
}

/// `?1` (SQLite's numbered parameter) as `$1`. Voxgate's statements hold no `?` in literals.
fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                _ => Err(format!("an integer given for a {ty} parameter").into()),
            },
            Arg::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn row(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Value::Int(n.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Value::Int(n.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            ref other => {
                return Err(StoreError::Corrupt(format!(
                    "column {} has unsupported type {other}",
                    column.name()
                )))
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        self.with_pending(async |c| c.execute(&stmt, &params(args)).await)
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let rows = self.with_pending(async |c| c.query(&stmt, &params(args)).await)?;
        rows.iter().map(row).collect()
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let mut all = self.pending.take();
        all.push_str(sql);
        let client = self.client.borrow();
        Ok(self.runtime.block_on(client.batch_execute(&all))?)
    }

    fn batch_with_next(&self, sql: &str) -> Result<(), StoreError> {
        let mut pending = self.pending.borrow_mut();
        pending.push_str(sql);
        pending.push_str("; ");
        Ok(())
    }

    fn reconnect(&self) -> Result<(), StoreError> {
        if !self.is_closed() {
            return Ok(());
        }
        let client = Self::open(&self.runtime, &self.config)?;
        *self.client.borrow_mut() = client;
        self.statements.borrow_mut().clear();
        self.pending.take();
        Ok(())
    }
}

/// Makes pooled reader connections.
pub struct PgManager(pub tokio_postgres::Config);

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<PgConnection, StoreError> {
        PgConnection::connect(&self.0)
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        conn.batch("")
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.is_closed()
    }
}

/// The reader pool: `size` connections, made as needed.
pub fn reader_pool(config: &tokio_postgres::Config, size: u32) -> Result<r2d2::Pool<PgManager>, StoreError> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(CONNECT_TIMEOUT)
        .build(PgManager(config.clone()))
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::numbered_parameters;

    #[test]
    fn numbered_parameters_become_dollars() {
        assert_eq!(numbered_parameters("a = ?1 AND b = ?12 OR ? IS NULL"), "a = $1 AND b = $12 OR ? IS NULL");
    }
}
