-- Tasks: what was submitted, where each one stands, and the idempotency
-- keys that make submissions safe to retry.
CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order: list order and cursors
    id TEXT NOT NULL UNIQUE,               -- public id, time-ordered and unguessable
    state TEXT NOT NULL,
    repo TEXT NOT NULL,                    -- as submitted
    repo_identity TEXT NOT NULL,           -- real path, or URL without credentials and .git
    ref TEXT NOT NULL,
    instruction TEXT NOT NULL,
    test_command TEXT NOT NULL,
    priority INTEGER NOT NULL,
    labels TEXT NOT NULL,                  -- JSON array of strings
    attempts INTEGER NOT NULL,
    budget_steps INTEGER NOT NULL,
    budget_tokens INTEGER NOT NULL,
    budget_seconds INTEGER NOT NULL,
    reason TEXT,                           -- why it failed or was canceled
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_hash BLOB                      -- SHA-256 of the body the key came with
);

CREATE TABLE task_labels (
    label TEXT NOT NULL,
    task_seq INTEGER NOT NULL REFERENCES tasks(seq) ON DELETE CASCADE,
    PRIMARY KEY (label, task_seq)
) WITHOUT ROWID;

CREATE INDEX tasks_by_state ON tasks(state, seq);
CREATE INDEX tasks_by_repo ON tasks(repo_identity, seq);
