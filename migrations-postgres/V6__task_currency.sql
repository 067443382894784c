-- hoss V6 for PostgreSQL: the twin of migrations/V6__task_currency.sql.
ALTER TABLE task ADD COLUMN currency TEXT;
