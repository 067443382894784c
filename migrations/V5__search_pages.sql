-- The next page to ask the search API for, per query (the niche, geography
-- and company sizes as sent). Without it every pass asks for the same first
-- page and lead flow dries up once that page is deduped. An empty page sets
-- it back to 1; a failed request leaves it alone. One row per query an
-- operator has configured, so it stays tiny.
CREATE TABLE search_page (
    query TEXT PRIMARY KEY,
    next_page INTEGER NOT NULL CHECK (next_page >= 1),
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
