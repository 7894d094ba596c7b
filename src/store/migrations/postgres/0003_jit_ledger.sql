CREATE TABLE jit_grants (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    vm_id TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    ports TEXT NOT NULL,
    source TEXT NOT NULL,
    requester TEXT NOT NULL,
    justification TEXT NOT NULL,
    opened TEXT NOT NULL,
    closes TEXT NOT NULL,
    state TEXT NOT NULL,
    closed TEXT,
    rules TEXT NOT NULL
);
CREATE TABLE jit_events (
    seq BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    grant_id TEXT,
    event TEXT NOT NULL,
    who TEXT NOT NULL,
    detail TEXT NOT NULL
);
