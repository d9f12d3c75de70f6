-- Verification: each task's baseline (its tests on the untouched base
-- commit), each run's patch and verdict, and the run chosen for review.
ALTER TABLE tasks ADD COLUMN verify_repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN baseline_passed INTEGER;  -- NULL until the baseline ran; 1 passed, 0 failed
ALTER TABLE tasks ADD COLUMN baseline TEXT;            -- JSON: exit_code, duration_ms, timed_out, output
ALTER TABLE tasks ADD COLUMN chosen_run TEXT;          -- the run whose patch goes to review

CREATE TABLE patches (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    task_id TEXT NOT NULL,
    diff TEXT NOT NULL,                   -- against the run's base commit, new files included
    files INTEGER NOT NULL,
    insertions INTEGER NOT NULL,
    deletions INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX patches_by_task ON patches(task_id);

CREATE TABLE verifications (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,                  -- pending or done
    verdict TEXT,                         -- passed, failed, error, flaky
    reason TEXT,                          -- why it is not passed
    comparison TEXT,                      -- fixed or already_passing (passed and flaky only)
    exit_code INTEGER,
    duration_ms INTEGER,
    repeats INTEGER NOT NULL DEFAULT 0,   -- test runs done
    output TEXT,                          -- the tail of the last test run's output
    diff_bytes INTEGER,                   -- for ranking: smaller wins ties
    created_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE INDEX verifications_by_task ON verifications(task_id);
CREATE INDEX verifications_pending ON verifications(state);
