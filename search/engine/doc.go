// Package engine runs an architecture search's trials on River
// (github.com/riverqueue/river), a job queue over a database (issue 10
// item 4, shared spec nas.md §4.3, §5): one SQLite file through the pure-Go
// riversqlite + modernc.org/sqlite drivers on one machine, PostgreSQL
// through riverpgxv5 + pgx across machines. The same tables and the same
// code serve both.
//
// # Tables
//
// Beside River's own tables (river_job, river_leader, …) the engine keeps
// four, created by Open's migrations:
//
//   - nas_search: one row per search — its name, space, proxy preset,
//     algorithm and configuration (as JSON), the trial budget, the in-flight
//     target, and the count of results recorded so far (results).
//   - nas_trial: one row per proposal — its seq, decisions, architecture
//     hash, origin, the River job that owns it (job_id), state (queued,
//     running, done, failed, reused), attempts, the worker and its last
//     heartbeat.
//   - nas_result: at most one row per trial (trial_id is the primary key):
//     the reward or the failure reason, the metrics JSON, and rseq, the
//     result's position in the search's result sequence (1, 2, 3, … in
//     commit order).
//   - nas_checkpoint: the controller's state after each step (the
//     algorithm's MarshalState and the last rseq it consumed); the newest
//     few versions are kept.
//
// # Exactly-once results
//
// A trial is a River job whose arguments name the trial; the architecture
// lives in nas_trial. A worker records a trial's outcome in one
// transaction: it bumps nas_search.results (which locks the search's row,
// so rseq order is commit order), inserts the result row (a second result
// for the trial is refused by the primary key and the whole transaction
// rolls back), marks the trial done or failed, completes the River job
// (river.JobCompleteTx) and queues a controller step. A crash before the
// commit leaves nothing behind; a crash after it loses nothing.
//
// # The controller
//
// Each controller step is a River job on its own queue. One transaction
// locks the search row, restores the algorithm from the newest checkpoint
// (or creates it), observes the results after the checkpoint's last rseq in
// rseq order, proposes trials up to the in-flight target and the trial
// budget, inserts them with their jobs, and writes the next checkpoint. A
// step that finds nothing new changes nothing, so duplicate steps are
// harmless; any process working the controller queue may run it, and the
// row lock serialises them. Proposals whose architecture already has a
// result (algo.Proposal.Known) are recorded at once with that reward
// (state reused) instead of being trained again; they count against the
// budget like any trial.
//
// # Lost workers
//
// River has no per-job heartbeat (its rescuer only puts back jobs running
// longer than a client-wide horizon), so the engine keeps its own: a
// worker stamps its trial's heartbeat_at every HeartbeatInterval, and every
// working process reaps trials whose heartbeat is older than LostAfter by
// giving them a new River job. nas_trial.job_id names the job that owns the
// trial; a stale job (rescued by River later, or a retry) that no longer
// owns its trial completes without training. A trial started
// MaxTrialAttempts times without an outcome (a worker killed each time) is
// recorded as failed ("attempts"), not retried forever. A trial that fails
// because of its candidate (invalid architecture, non-finite loss, its
// timeout) is recorded as failed with that reason and not retried. On a
// graceful stop a running trial is snoozed (river.JobSnooze(0)) and starts
// again, from scratch, on the next worker; trials are not checkpointed
// midway.
//
// # Timeouts
//
// Each trial's timeout is TimeoutFactor × proxy.EstimateSeconds of its
// model's MACs (at least MinTrialTimeout), fixed when it is proposed and
// given to River as the job's timeout; its context's deadline makes the
// proxy stop the trial as failed ("timeout").
package engine
