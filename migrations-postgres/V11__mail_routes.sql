-- hoss V11 for PostgreSQL: the twin of migrations/V11__mail_routes.sql.
CREATE TABLE mail_route (
    domain     TEXT   PRIMARY KEY,
    accepts    BIGINT NOT NULL CHECK (accepts IN (0, 1)),
    detail     TEXT   NOT NULL,
    checked_at BIGINT NOT NULL
);
