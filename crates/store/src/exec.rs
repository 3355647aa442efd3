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

    /// Over how many rows one seller's metrics of a day are spread: PostgreSQL runs
    /// commands in parallel, and a single row would make every command of a busy seller
    /// wait for the previous one's commit. SQLite has one writer: one row.
    const METRIC_SHARDS: u64;

    /// Whether [`Exec::execute_unit`] sends a unit as one statement (PostgreSQL, where each
    /// statement is a round trip) rather than one by one (SQLite, in-process).
    const UNIT_AS_ONE_STATEMENT: bool;

    /// Runs `statements` (inserts, updates and deletes) as one unit; the rows each changed,
    /// in order. On PostgreSQL the unit is one statement of data-modifying `with` clauses,
    /// whose parts all see the database as it was before the unit, so the statements of a
    /// unit must be independent: no two may touch the same row, and none may read what
    /// another writes. Then running them one by one gives the same result.
    async fn execute_unit(&mut self, statements: &[Statement<'_>]) -> Result<Vec<u64>, StoreError> {
        if Self::UNIT_AS_ONE_STATEMENT && statements.len() > 1 {
            let columns = vec![Column::Int; statements.len()];
            let row = self
                .fetch_optional(&one_statement(statements), &columns)
                .await?
                .ok_or_else(|| {
                    StoreError::Other(anyhow::anyhow!("a unit of statements answered no row"))
                })?;
            return (0..statements.len())
                .map(|index| row.int(index).map(|count| count.max(0) as u64))
                .collect();
        }
        let mut counts = Vec::with_capacity(statements.len());
        for statement in statements {
            counts.push(self.execute(statement).await?);
        }
        Ok(counts)
    }
}

/// `statements` as one PostgreSQL statement: each a `with` clause returning a row per row
/// it changed, its parameters renumbered after the previous ones', and a select of the
/// counts. (`$` appears in orderly's SQL only as a parameter.)
pub(crate) fn one_statement<'a>(statements: &[Statement<'a>]) -> Statement<'a> {
    use std::fmt::Write as _;
    let length: usize = statements
        .iter()
        .map(|statement| statement.sql.len() + 48)
        .sum();
    let mut sql = String::with_capacity(length + 16);
    let mut params = Vec::with_capacity(
        statements
            .iter()
            .map(|statement| statement.params.len())
            .sum(),
    );
    for (index, statement) in statements.iter().enumerate() {
        let _ = write!(
            sql,
            "{}u{index} as (",
            if index == 0 { "with " } else { ", " }
        );
        let mut rest = statement.sql.as_ref();
        while let Some(at) = rest.find('$') {
            sql.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let number: usize = rest[..digits].parse().unwrap_or(0);
            let _ = write!(sql, "{}", number + params.len());
            rest = &rest[digits..];
        }
        sql.push_str(rest);
        sql.push_str(" returning 1)");
        params.extend(statement.params.iter().cloned());
    }
    for index in 0..statements.len() {
        let _ = write!(
            sql,
            "{}(select count(*) from u{index})",
            if index == 0 { " select " } else { ", " }
        );
    }
    Statement {
        sql: sql.into(),
        params,
    }
}

/// Prepared statements one rusqlite connection keeps: the write path's statements, with
/// multi-row inserts for each number of rows a command writes.
pub(crate) const STATEMENT_CACHE: usize = 256;

impl Exec for rusqlite::Connection {
    const LOCK_ORDER: &'static str = "select state, version from orders where id = $1";
    const BUYER_LOCK: &'static str = "";
    const UNIT_AS_ONE_STATEMENT: bool = false;
    const METRIC_SHARDS: u64 = 1;

    async fn execute(&mut self, statement: &Statement<'_>) -> Result<u64, StoreError> {
        let mut prepared = self.prepare_cached(&statement.sql)?;
        bind(&mut prepared, &statement.sql, &statement.params)?;
        Ok(prepared.raw_execute()? as u64)
    }

    async fn fetch(
        &mut self,
        statement: &Statement<'_>,
        columns: &[Column],
    ) -> Result<Vec<Row>, StoreError> {
        use rusqlite::types::ValueRef;
        let mut prepared = self.prepare_cached(&statement.sql)?;
        bind(&mut prepared, &statement.sql, &statement.params)?;
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

/// Binds `$n` to `params[n - 1]`. SQLite numbers the parameters in the order they first
/// appear, so when `$1`, `$2`, … first appear in that order (as in nearly every statement)
/// its number n is `$n`; otherwise each is bound by the name SQLite gave it, a lookup that
/// walks the statement's list of names (quadratic in a multi-row insert's parameters).
fn bind(
    prepared: &mut rusqlite::CachedStatement<'_>,
    sql: &str,
    params: &[Value<'_>],
) -> Result<(), StoreError> {
    let count = prepared.parameter_count();
    let in_order = numbered_in_order(sql) == Some(count);
    for index in 1..=count {
        let position = if in_order {
            index
        } else {
            prepared
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|number| number.parse::<usize>().ok())
                .ok_or_else(|| {
                    StoreError::Other(anyhow::anyhow!("parameter {index} is not named $n"))
                })?
        };
        debug_assert_eq!(
            prepared.parameter_name(index),
            Some(format!("${position}").as_str()),
            "parameter {index} of {sql}"
        );
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

/// How many parameters `sql` has when `$1`, `$2`, … first appear in that order (each new
/// one the next number); `None` when one comes early. (`$` appears in orderly's SQL only
/// as a parameter.)
fn numbered_in_order(sql: &str) -> Option<usize> {
    // Every statement a command writes is scanned before it is bound: memchr finds the
    // `$`s without looking at each byte in turn.
    let bytes = sql.as_bytes();
    let mut highest = 0;
    for at in memchr::memchr_iter(b'$', bytes) {
        let digits = &bytes[at + 1..];
        let length = digits
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        let number = digits[..length].iter().fold(0_usize, |number, digit| {
            number * 10 + usize::from(digit - b'0')
        });
        if number > highest + 1 || number == 0 {
            return None;
        }
        highest = highest.max(number);
    }
    Some(highest)
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
    fn a_unit_becomes_one_statement_with_its_parameters_renumbered() {
        let unit = [
            Statement::new("update t set a = $1 where id = $2")
                .bind(1)
                .bind("x"),
            Statement::new("insert into u (a, b) values ($2, $1), ($1, $10)")
                .bind(2)
                .bind(3),
        ];
        let one = one_statement(&unit);
        assert_eq!(
            one.sql,
            "with u0 as (update t set a = $1 where id = $2 returning 1), \
             u1 as (insert into u (a, b) values ($4, $3), ($3, $12) returning 1) \
             select (select count(*) from u0), (select count(*) from u1)"
        );
        assert_eq!(
            one.params,
            vec![
                Value::Int(1),
                Value::from("x"),
                Value::Int(2),
                Value::Int(3)
            ]
        );
    }

    #[test]
    fn parameters_numbered_in_order_are_told_from_the_others() {
        assert_eq!(numbered_in_order("select 1"), Some(0));
        assert_eq!(
            numbered_in_order("update t set a = $1, b = $2 where c = $1 and d = $3"),
            Some(3)
        );
        assert_eq!(numbered_in_order("values ($1, $2), ($3, $4)"), Some(4));
        assert_eq!(
            numbered_in_order("update t set a = $1, b = $3 where c = $2"),
            None
        );
        assert_eq!(numbered_in_order("select $2"), None);
        assert_eq!(numbered_in_order("select $0"), None);
    }

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
