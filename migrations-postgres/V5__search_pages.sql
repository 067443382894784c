-- hoss V5 for PostgreSQL: the twin of migrations/V5__search_pages.sql.
CREATE TABLE search_page (
    query      TEXT   PRIMARY KEY,
    next_page  BIGINT NOT NULL CHECK (next_page >= 1),
    updated_at BIGINT NOT NULL
);
