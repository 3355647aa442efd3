//! Statements as data, and the one thing the shared write path needs from a connection:
//! run a statement, read its rows. Two drivers implement it: sqlx (PostgreSQL, and the
//! SQLite statements off the hot path) and rusqlite (the SQLite writer thread and reader
//! connections, which run each statement on the calling thread instead of shipping it to a
//! driver's worker thread and back).
//!
//! The SQL is the same text for both: `$n` parameters, which SQLite reads as names and
//! rusqlite binds by name, so a parameter may appear out of order or more than once.

use std::borrow::Cow;

use crate::StoreError;

/// A parameter of a statement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(Cow<'a, str>),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
}

impl From<i64> for Value<'_> {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(value: Option<i64>) -> Self {
        Value::OptInt(value)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(value: &'a str) -> Self {
        Value::Text(Cow::Borrowed(value))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(value: &'a String) -> Self {
        Value::Text(Cow::Borrowed(value))
    }
}

impl From<String> for Value<'_> {
    fn from(value: String) -> Self {
        Value::Text(Cow::Owned(value))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Value::OptText(value)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(value: &'a [u8]) -> Self {
        Value::Blob(value)
    }
}

/// One SQL statement with its parameters, `$1` first.
#[derive(Clone, Debug)]
pub(crate) struct Statement<'a> {
    pub sql: Cow<'a, str>,
    pub params: Vec<Value<'a>>,
}

impl<'a> Statement<'a> {
    pub fn new(sql: impl Into<Cow<'a, str>>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    pub fn bind(mut self, value: impl Into<Value<'a>>) -> Self {
        self.params.push(value.into());
        self
    }
}

/// How to read a column: sqlx decodes by type, so a query says what it selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    Int,
    OptInt,
    Text,
    OptText,
}

/// A value read from a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// One row, its cells in the order selected.
#[derive(Debug)]
pub(crate) struct Row(pub Vec<Cell>);

impl Row {
    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.0.get(index) {
            Some(Cell::Int(value)) => Ok(*value),
            other => Err(unexpected(index, "an integer", other)),
        }
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(index) {
            Some(Cell::Null) => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    pub fn text(&mut self, index: usize) -> Result<String, StoreError> {
        match self.0.get_mut(index) {
            Some(Cell::Text(value)) => Ok(std::mem::take(value)),
            other => Err(unexpected(index, "a text", other.map(|cell| &*cell))),
        }
    }

    pub fn opt_text(&mut self, index: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(index) {
            Some(Cell::Null) => Ok(None),
            _ => self.text(index).map(Some),
        }
    }
}

fn unexpected(index: usize, wanted: &str, found: Option<&Cell>) -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "column {index} of a stored row: wanted {wanted}, found {found:?}"
    ))
}

/// A connection the shared statements run on. Implemented for sqlx's connections (by
/// `store_impl!`) and for rusqlite's below; the rusqlite futures are ready at once.
pub(crate) trait Exec {
    /// How the order row is read inside a write (PostgreSQL locks it).
    const LOCK_ORDER: &'static str;
    /// Serialises placements by one buyer (PostgreSQL: an advisory lock; empty on SQLite,
    /// which has one writer anyway).
    const BUYER_LOCK: &'static str;

    /// Runs the statement; the number of rows it changed.
    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError>;

    /// Runs the query; its rows, each read as `columns` say.
    async fn fetch(
        &mut self,
        statement: &Statement<'_>,
        columns: &[Column],
    ) -> Result<Vec<Row>, StoreError>;

    async fn fetch_optional(
        &mut self,
        statement: &Statement<'_>,
        columns: &[Column],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch(statement, columns).await?.into_iter().next())
    }
}

/// Prepared statements one rusqlite connection keeps: the write path's statements, with
/// multi-row inserts for each number of rows a command writes.
pub(crate) const STATEMENT_CACHE: usize = 256;

impl Exec for rusqlite::Connection {
    const LOCK_ORDER: &'static str = "select state, version from orders where id = $1";
    const BUYER_LOCK: &'static str = "";

    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        let mut prepared = self.prepare_cached(&statement.sql)?;
        bind(&mut prepared, &statement.params)?;
        Ok(prepared.raw_execute()? as u64)
    }

    async fn fetch(
        &mut self,
        statement: &Statement<'_>,
        columns: &[Column],
    ) -> Result<Vec<Row>, StoreError> {
        use rusqlite::types::ValueRef;
        let mut prepared = self.prepare_cached(&statement.sql)?;
        bind(&mut prepared, &statement.params)?;
        let mut rows = prepared.raw_query();
        let mut read = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(columns.len());
            for index in 0..columns.len() {
                cells.push(match row.get_ref(index)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(value) => Cell::Int(value),
                    ValueRef::Text(text) => Cell::Text(
                        std::str::from_utf8(text)
                            .map_err(|error| StoreError::Other(anyhow::Error::new(error)))?
                            .to_owned(),
                    ),
                    other => {
                        return Err(StoreError::Other(anyhow::anyhow!(
                            "column {index}: unexpected {:?}",
                            other.data_type()
                        )));
                    }
                });
            }
            read.push(Row(cells));
        }
        Ok(read)
    }
}

/// Binds `$n` to `params[n - 1]`, by the names SQLite gave the parameters.
fn bind(
    prepared: &mut rusqlite::CachedStatement<'_>,
    params: &[Value<'_>],
) -> Result<(), StoreError> {
    for index in 1..=prepared.parameter_count() {
        let position = prepared
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .ok_or_else(|| {
                StoreError::Other(anyhow::anyhow!("parameter {index} is not named $n"))
            })?;
        let value = params.get(position - 1).ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!("no value for parameter ${position}"))
        })?;
        match value {
            Value::Int(value) => prepared.raw_bind_parameter(index, value)?,
            Value::OptInt(value) => prepared.raw_bind_parameter(index, value)?,
            Value::Text(value) => prepared.raw_bind_parameter(index, value.as_ref())?,
            Value::OptText(value) => prepared.raw_bind_parameter(index, value)?,
            Value::Blob(value) => prepared.raw_bind_parameter(index, value)?,
        }
    }
    Ok(())
}

/// The value of a future that cannot wait: the rusqlite statements above never do, so the
/// shared (async) write path runs on the SQLite writer thread without a runtime.
pub(crate) fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("a rusqlite statement never waits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_bind_by_number_whatever_their_order() {
        let mut connection = rusqlite::Connection::open_in_memory().expect("open");
        ready(Exec::execute(
            &mut connection,
            &Statement::new("create table t (a integer, b text, c integer)"),
        ))
        .expect("create");
        let insert = Statement::new("insert into t (c, b, a) values ($3, $2, $1), ($1, $2, $3)")
            .bind(1)
            .bind("two")
            .bind(Option::<i64>::None);
        assert_eq!(
            ready(Exec::execute(&mut connection, &insert)).expect("insert"),
            2
        );
        let rows = ready(connection.fetch(
            &Statement::new("select a, b, c from t where b = $1 order by rowid").bind("two"),
            &[Column::OptInt, Column::Text, Column::OptInt],
        ))
        .expect("select");
        let cells: Vec<_> = rows.into_iter().map(|row| row.0).collect();
        assert_eq!(
            cells,
            vec![
                vec![Cell::Int(1), Cell::Text("two".into()), Cell::Null],
                vec![Cell::Null, Cell::Text("two".into()), Cell::Int(1)],
            ]
        );
    }
}
