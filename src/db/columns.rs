//! How typed values sit in columns: statuses as their lowercase word (TEXT,
//! the words the CHECKs allow), times as unix seconds and amounts as minor
//! units (INTEGER). A word the database holds that is not a status of its
//! kind is a conversion error of that row, never a panic.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::store::{Column, ToValue, Value};
use crate::clock::Timestamp;
use crate::domain::status::{CustomerStatus, InvoiceStatus, LeadStatus, TaskStatus};
use crate::money::Cents;

macro_rules! word_column {
    ($($status:ty),+) => {$(
        impl ToSql for $status {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $status {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }

        impl ToValue for $status {
            fn to_value(&self) -> Value {
                Value::Text(self.as_str().to_owned())
            }
        }

        impl Column for $status {
            fn from_value(value: Value) -> Result<Self, String> {
                String::from_value(value)?.parse().map_err(|e| format!("{e}"))
            }
        }
    )+};
}

word_column!(LeadStatus, CustomerStatus, TaskStatus, InvoiceStatus);

macro_rules! integer_column {
    ($($newtype:ident),+) => {$(
        impl ToSql for $newtype {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $newtype {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_i64().map($newtype)
            }
        }
    )+};
}

integer_column!(Timestamp, Cents);

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn round_trip<T: ToSql + FromSql>(conn: &Connection, value: T) -> T {
        conn.query_row("SELECT ?1", [&value], |r| r.get(0)).unwrap()
    }

    #[test]
    fn statuses_round_trip_through_sqlite_as_their_words() {
        let conn = crate::db::open_in_memory().unwrap();
        for s in LeadStatus::ALL {
            assert_eq!(round_trip(&conn, *s), *s);
        }
        for s in CustomerStatus::ALL {
            assert_eq!(round_trip(&conn, *s), *s);
        }
        for s in TaskStatus::ALL {
            assert_eq!(round_trip(&conn, *s), *s);
        }
        for s in InvoiceStatus::ALL {
            assert_eq!(round_trip(&conn, *s), *s);
        }
        let stored: String = conn
            .query_row("SELECT ?1", [LeadStatus::EmailFailed], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, "email_failed");
        // Every word the CHECKs allow is read back (and nothing else is).
        conn.execute_batch(
            "INSERT INTO customer (id, company, contact_email, status, created_at)
               VALUES (1, 'C', 'c@c.test', 'churned', 7);
             INSERT INTO lead (email, source, status, created_at) VALUES ('a@b.test', 't', 'email_failed', 7);
             INSERT INTO task (customer_id, description, status, amount_cents, created_at)
               VALUES (1, 'd', 'running', 5, 7);
             INSERT INTO invoice (customer_id, amount_cents, currency, status, created_at)
               VALUES (1, 5, 'usd', 'void', 7);",
        )
        .unwrap();
        let read = conn
            .query_row(
                "SELECT c.status, l.status, t.status, i.status FROM customer c, lead l, task t, invoice i",
                [],
                |r| {
                    Ok((
                        r.get::<_, CustomerStatus>(0)?,
                        r.get::<_, LeadStatus>(1)?,
                        r.get::<_, TaskStatus>(2)?,
                        r.get::<_, InvoiceStatus>(3)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            read,
            (
                CustomerStatus::Churned,
                LeadStatus::EmailFailed,
                TaskStatus::Running,
                InvoiceStatus::Void
            )
        );
    }

    #[test]
    fn an_unknown_word_from_the_database_is_an_error_not_a_panic() {
        let conn = crate::db::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'archived'", [], |r| r.get::<_, InvoiceStatus>(0))
            .unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::FromSqlConversionFailure(0, _, _)),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(r#""archived" is not a known invoice status"#),
            "{err}"
        );
        let err = conn
            .query_row("SELECT 3", [], |r| r.get::<_, LeadStatus>(0))
            .unwrap_err();
        assert!(
            matches!(err, rusqlite::Error::InvalidColumnType(..)),
            "{err:?}"
        );
        assert!(
            conn.query_row("SELECT NULL", [], |r| r.get::<_, TaskStatus>(0))
                .is_err()
        );
        assert_eq!(
            conn.query_row("SELECT NULL", [], |r| r.get::<_, Option<TaskStatus>>(0))
                .unwrap(),
            None
        );
    }

    #[test]
    fn times_and_amounts_are_integers() {
        let conn = crate::db::open_in_memory().unwrap();
        assert_eq!(
            round_trip(&conn, Timestamp(1_795_615_387)),
            Timestamp(1_795_615_387)
        );
        assert_eq!(round_trip(&conn, Cents(-15_000)), Cents(-15_000));
        let kind: String = conn
            .query_row(
                "SELECT typeof(?1) || typeof(?2)",
                rusqlite::params![Timestamp(5), Cents(5)],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kind, "integerinteger");
        assert!(
            conn.query_row("SELECT 'soon'", [], |r| r.get::<_, Timestamp>(0))
                .is_err()
        );
    }
}
