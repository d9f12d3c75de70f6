-- Runs (one per attempt and review round), the events of every step, and
-- the per-repository memory that agents and reviewers write.
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,               -- public id, "r_..."
    task_id TEXT NOT NULL REFERENCES tasks(id),
    attempt INTEGER NOT NULL,              -- from 1, across attempts and review rounds
    slot INTEGER NOT NULL,                 -- the fleet slot that ran it
    state TEXT NOT NULL,                   -- running or ended
    outcome TEXT,                          -- why it ended (proto/outcome.c)
    detail TEXT,                           -- a message about the outcome
    base_commit TEXT,                      -- the commit the workspace started from
    steps INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,  -- prompt tokens the model read
    tokens_out INTEGER NOT NULL DEFAULT 0, -- tokens the model generated
    changed INTEGER,                       -- 1 when the workspace had changes at the end
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE INDEX runs_by_task ON runs(task_id, seq);
CREATE INDEX runs_by_state ON runs(state);

CREATE TABLE events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,                  -- per task, across its runs
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,                    -- run_started, step, run_ended
    data TEXT NOT NULL,                    -- JSON object
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;

CREATE TABLE memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,                   -- "global" or a repository identity
    text TEXT NOT NULL,
    source TEXT NOT NULL,                  -- a task id, a reviewer, or "api"
    trust TEXT NOT NULL,                   -- agent or human
    pinned INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX memories_by_scope ON memories(scope, id);

-- The scheduler's question: the highest priority, then oldest, queued task.
CREATE INDEX tasks_queue ON tasks(state, priority DESC, seq);
