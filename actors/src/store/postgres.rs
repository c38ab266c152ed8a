//! The shared backend for several nodes: PostgreSQL through the `postgres` crate (the blocking
//! face of tokio-postgres, so record functions stay the same synchronous code on both
//! backends), with each connection's prepared statements cached, and an r2d2 pool of readers.

use super::error::StoreError;
use super::sql::{Arg, Dialect, Row, Sql, Value};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// How long a connection attempt may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses a `postgres://` URL (or key=value string) into connection settings.
pub fn config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
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
    config: postgres::Config,
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
}

impl PgConnection {
    pub fn connect(config: &postgres::Config) -> Result<PgConnection, StoreError> {
        let client = config.connect(NoTls)?;
        Ok(PgConnection {
            config: config.clone(),
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    /// Receives NOTIFY messages on this connection (the config listener's).
    pub fn client(&self) -> std::cell::RefMut<'_, Client> {
        self.client.borrow_mut()
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.borrow_mut().prepare(&numbered_parameters(sql))?;
        self.statements.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
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

fn row(r: &postgres::Row) -> Result<Row, StoreError> {
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
        Ok(self.client.borrow_mut().execute(&stmt, &params(args))?)
    }

    fn query(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let rows = self.client.borrow_mut().query(&stmt, &params(args))?;
        rows.iter().map(row).collect()
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    fn reconnect(&self) -> Result<(), StoreError> {
        if !self.is_closed() {
            return Ok(());
        }
        let client = self.config.connect(NoTls)?;
        *self.client.borrow_mut() = client;
        self.statements.borrow_mut().clear();
        Ok(())
    }
}

/// Makes pooled reader connections.
pub struct PgManager(pub postgres::Config);

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
pub fn reader_pool(config: &postgres::Config, size: u32) -> Result<r2d2::Pool<PgManager>, StoreError> {
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
