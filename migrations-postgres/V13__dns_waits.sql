-- hoss V13 for PostgreSQL: the twin of migrations/V13__dns_waits.sql.
CREATE TABLE dns_wait (
    domain TEXT   PRIMARY KEY,
    until  BIGINT NOT NULL,
    reason TEXT   NOT NULL
);
