-- Datasets, their columns, their rows (stored column-wise in column_chunks) and saved
-- analysis results.
CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: cached columns stay unambiguous
    account     TEXT    NOT NULL CHECK (length(account) > 0),
    name        TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    source_name TEXT    NOT NULL,
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64),
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    row_count   INTEGER NOT NULL CHECK (row_count >= 0),
    encoding    TEXT    NOT NULL CHECK (encoding IN ('utf8', 'utf8_bom', 'utf16_le', 'utf16_be', 'latin1')),
    delimiter   TEXT    NOT NULL CHECK (delimiter IN (',', ';', char(9), '|') OR length(delimiter) = 1),
    has_header  INTEGER NOT NULL CHECK (has_header IN (0, 1)),
    created_at  INTEGER NOT NULL,
    UNIQUE (account, sha256)
);

CREATE TABLE dataset_columns (
    dataset_id            INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position              INTEGER NOT NULL CHECK (position >= 0),
    name                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('date', 'datetime', 'number', 'category', 'text')),
    date_order            TEXT    CHECK (date_order IN ('day_first', 'month_first')),
    date_order_decided_by TEXT    CHECK (date_order_decided_by IN ('data', 'default', 'user')),
    decimal_mark          TEXT    CHECK (decimal_mark IN ('point', 'comma')),
    -- Categories: the JSON array of distinct values their chunks' codes index.
    dictionary            TEXT    CHECK (dictionary IS NULL OR json_valid(dictionary)),
    PRIMARY KEY (dataset_id, position),
    UNIQUE (dataset_id, name)
);

-- Up to 65,536 consecutive rows of one column, little-endian: f64 for numbers (NaN when
-- missing), i64 seconds since 1970-01-01 UTC for dates (i64::MIN when missing), u32 codes
-- into dataset_columns.dictionary for categories (u32::MAX when missing), and for text a u32
-- byte length (u32::MAX when missing) followed by the UTF-8 bytes, per value.
CREATE TABLE column_chunks (
    dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 0),
    chunk      INTEGER NOT NULL CHECK (chunk >= 0),
    data       BLOB    NOT NULL,
    PRIMARY KEY (dataset_id, position, chunk)
);

CREATE TABLE results (
    id         INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('timeseries', 'breakdown', 'compare', 'trend')),
    params     TEXT    NOT NULL CHECK (json_valid(params)),
    result     TEXT    NOT NULL CHECK (json_valid(result)),
    cost       INTEGER NOT NULL CHECK (cost >= 0),
    created_at INTEGER NOT NULL
);

CREATE INDEX results_by_dataset ON results (dataset_id, id);
