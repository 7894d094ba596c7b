CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time TEXT NOT NULL,
    sources TEXT NOT NULL,
    scopes_read TEXT NOT NULL,
    scopes_missing TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    score_detail TEXT NOT NULL
);
CREATE TABLE observations (
    run_id BIGINT NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    region TEXT,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
);
CREATE TABLE findings (
    fingerprint TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    region TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    unhealthy_since TEXT,
    fixed_at TEXT,
    reopened BIGINT NOT NULL,
    exempt BOOLEAN NOT NULL
);
