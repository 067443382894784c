//! The `task` table: work for customers, priced in cents, billed once.

use serde::Serialize;

use super::{Db, Row, StoreResult, params};

use crate::clock::Timestamp;
use crate::domain::status::TaskStatus;
use crate::money::Cents;

/// A task as `task …` and `invoice show` give it (SPEC §12). Its amount is
/// in minor units of the configured currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: i64,
    pub customer_id: i64,
    pub description: String,
    pub status: TaskStatus,
    pub amount_cents: Cents,
    pub cost_cents: Option<Cents>,
    pub result_summary: Option<String>,
    pub error: Option<String>,
    pub invoice_id: Option<i64>,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

const COLUMNS: &str =
    "id, customer_id, description, status, amount_cents, cost_cents, result_summary, error,
    invoice_id, created_at, started_at, completed_at";

fn row(r: &Row<'_>) -> StoreResult<Task> {
    Ok(Task {
        id: r.get(0)?,
        customer_id: r.get(1)?,
        description: r.get(2)?,
        status: r.get(3)?,
        amount_cents: r.get(4)?,
        cost_cents: r.get(5)?,
        result_summary: r.get(6)?,
        error: r.get(7)?,
        invoice_id: r.get(8)?,
        created_at: r.get(9)?,
        started_at: r.get(10)?,
        completed_at: r.get(11)?,
    })
}

/// A new pending task; `amount_cents` is in minor units of `currency`.
pub fn insert(
    db: Db<'_>,
    customer_id: i64,
    description: &str,
    amount_cents: Cents,
    currency: &str,
    now: i64,
) -> StoreResult<i64> {
    db.insert_id(
        "INSERT INTO task (customer_id, description, amount_cents, currency, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![customer_id, description, amount_cents, currency, now],
    )
}

pub fn get(db: Db<'_>, id: i64) -> StoreResult<Option<Task>> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM task WHERE id = ?1"),
        params![id],
        row,
    )
}

pub fn list(
    db: Db<'_>,
    customer_id: Option<i64>,
    status: Option<TaskStatus>,
    page: super::Page,
) -> StoreResult<super::Listed<Task>> {
    let (filter, args) = super::where_equal(&[
        ("customer_id", customer_id.map(Into::into)),
        ("status", status.map(super::word)),
    ]);
    super::page(
        db,
        COLUMNS,
        &format!("FROM task {filter}"),
        args.into_iter().map(super::leads::filter_value).collect(),
        &["id"],
        page,
        row,
    )
}

/// The tasks an invoice billed.
pub fn by_invoice(db: Db<'_>, invoice_id: i64) -> StoreResult<Vec<Task>> {
    db.query_all(
        &format!("SELECT {COLUMNS} FROM task WHERE invoice_id = ?1 ORDER BY id"),
        params![invoice_id],
        row,
    )
}

/// The newest `limit` tasks of each customer whose id is `first..=last`,
/// by customer and then newest first.
pub fn recent_for_customers(
    db: Db<'_>,
    first: i64,
    last: i64,
    limit: u32,
) -> StoreResult<Vec<Task>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY id DESC) AS nth
                 FROM task WHERE customer_id BETWEEN ?1 AND ?2) AS recent
             WHERE nth <= ?3 ORDER BY customer_id, id DESC"
        ),
        params![first, last, limit],
        row,
    )
}

/// `pending|running|failed → done`. `false` if the task is not in such a state.
pub fn complete(
    db: Db<'_>,
    id: i64,
    summary: Option<&str>,
    cost_cents: Option<Cents>,
    now: i64,
) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE task SET status = 'done', result_summary = COALESCE(?2, result_summary),
             cost_cents = COALESCE(?3, cost_cents), error = NULL, completed_at = ?4
         WHERE id = ?1 AND status IN ('pending', 'running', 'failed')",
        params![id, summary, cost_cents, now],
    )? == 1)
}

/// `pending|running → failed`.
pub fn fail(db: Db<'_>, id: i64, reason: &str, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE task SET status = 'failed', error = ?2, completed_at = ?3
         WHERE id = ?1 AND status IN ('pending', 'running')",
        params![id, reason, now],
    )? == 1)
}

/// A failed task goes back to `pending` for the next `ops` pass.
pub fn retry(db: Db<'_>, id: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE task SET status = 'pending', error = NULL, completed_at = NULL, started_at = NULL
         WHERE id = ?1 AND status = 'failed'",
        params![id],
    )? == 1)
}

/// Claims a pending task for the executor.
pub fn start(db: Db<'_>, id: i64, now: i64) -> StoreResult<bool> {
    Ok(db.execute(
        "UPDATE task SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'pending'",
        params![id, now],
    )? == 1)
}

/// Tasks left `running` since before `cutoff` go back to `pending`.
pub fn recover_running(db: Db<'_>, cutoff: i64) -> StoreResult<Vec<i64>> {
    let ids: Vec<i64> = db.query_all(
        "SELECT id FROM task WHERE status = 'running' AND started_at < ?1 ORDER BY id",
        params![cutoff],
        |r| r.get(0),
    )?;
    for id in &ids {
        db.execute(
            "UPDATE task SET status = 'pending', started_at = NULL WHERE id = ?1 AND status = 'running'",
            params![id],
        )?;
    }
    Ok(ids)
}

pub fn pending(db: Db<'_>, limit: u32) -> StoreResult<Vec<Task>> {
    db.query_all(
        &format!(
            "SELECT {COLUMNS} FROM task WHERE status = 'pending'
             AND customer_id IN (SELECT id FROM customer WHERE status = 'active') ORDER BY id LIMIT ?1"
        ),
        params![limit],
        row,
    )
}

/// Done, unbilled work entered in another currency than `currency`: (task
/// id, its currency), at most 20.
pub fn unbilled_in_other_currency(db: Db<'_>, currency: &str) -> StoreResult<Vec<(i64, String)>> {
    db.query_all(
        "SELECT id, currency FROM task
         WHERE status = 'done' AND invoice_id IS NULL AND amount_cents > 0
           AND currency IS NOT NULL AND currency <> ?1 ORDER BY id LIMIT 20",
        params![currency],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Customers with done, unbilled, priced work.
pub fn customers_with_unbilled(db: Db<'_>) -> StoreResult<Vec<i64>> {
    db.query_all(
        "SELECT DISTINCT customer_id FROM task
         WHERE status = 'done' AND invoice_id IS NULL AND amount_cents > 0 ORDER BY customer_id",
        params![],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(db: Db<'_>, email: &str) -> i64 {
        crate::db::customers::insert(
            db,
            "C",
            None,
            email,
            &format!("{email}-0123456789abcdefghij"),
            0,
        )
        .unwrap()
    }

    #[test]
    fn a_task_moves_through_its_states_once_each() {
        crate::db::on_each_store(|db| {
            let c = customer(db, "a@c.com");
            let id = insert(db, c, "write copy", Cents(500), "usd", 10).unwrap();
            let t = get(db, id).unwrap().unwrap();
            assert_eq!(
                (t.status, t.amount_cents, t.created_at),
                (TaskStatus::Pending, Cents(500), Timestamp(10))
            );
            assert_eq!(pending(db, 10).unwrap().len(), 1);
            assert!(start(db, id, 20).unwrap());
            assert!(!start(db, id, 21).unwrap());
            assert!(pending(db, 10).unwrap().is_empty());
            assert_eq!(recover_running(db, 20).unwrap(), Vec::<i64>::new());
            assert_eq!(recover_running(db, 21).unwrap(), [id]);
            assert!(start(db, id, 22).unwrap());
            assert!(fail(db, id, "boom", 23).unwrap());
            assert!(!fail(db, id, "again", 24).unwrap());
            assert!(retry(db, id).unwrap());
            assert!(!retry(db, id).unwrap());
            assert!(complete(db, id, Some("done it"), None, 25).unwrap());
            // A later completion keeps the summary and cost it does not give.
            assert!(!complete(db, id, None, Some(Cents(7)), 26).unwrap());
            let t = get(db, id).unwrap().unwrap();
            assert_eq!(
                (
                    t.status,
                    t.result_summary.as_deref(),
                    t.cost_cents,
                    t.completed_at
                ),
                (TaskStatus::Done, Some("done it"), None, Some(Timestamp(25)))
            );
            assert_eq!(customers_with_unbilled(db).unwrap(), [c]);
            assert!(unbilled_in_other_currency(db, "usd").unwrap().is_empty());
            assert_eq!(
                unbilled_in_other_currency(db, "eur").unwrap(),
                [(id, "usd".to_string())]
            );
        });
    }

    #[test]
    fn tasks_are_listed_by_customer_and_status() {
        crate::db::on_each_store(|db| {
            let a = customer(db, "a@c.com");
            let b = customer(db, "b@c.com");
            let t1 = insert(db, a, "one", Cents(1), "usd", 1).unwrap();
            let t2 = insert(db, a, "two", Cents(2), "usd", 2).unwrap();
            let t3 = insert(db, b, "three", Cents(3), "usd", 3).unwrap();
            assert!(complete(db, t2, None, None, 4).unwrap());
            let ids = |v: Vec<Task>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
            let page = crate::db::Page::ALL;
            assert_eq!(ids(list(db, None, None, page).unwrap().rows), [t1, t2, t3]);
            assert_eq!(ids(list(db, Some(a), None, page).unwrap().rows), [t1, t2]);
            assert_eq!(
                ids(list(db, Some(a), Some(TaskStatus::Done), page)
                    .unwrap()
                    .rows),
                [t2]
            );
            assert_eq!(
                ids(list(db, None, Some(TaskStatus::Pending), page)
                    .unwrap()
                    .rows),
                [t1, t3]
            );
            assert_eq!(ids(recent_for_customers(db, a, a, 1).unwrap()), [t2]);
            assert!(by_invoice(db, 1).unwrap().is_empty());
        });
    }
}
