package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// TrialInfo is one trial as status and reports show it.
type TrialInfo struct {
	// ID is the trial's row id, Seq its proposal's number.
	ID  int64 `json:"id"`
	Seq int64 `json:"seq"`
	// ArchHash and ArchName identify the architecture; Decisions choose it.
	ArchHash  string          `json:"arch_hash"`
	ArchName  string          `json:"arch_name"`
	Decisions json.RawMessage `json:"decisions,omitempty"`
	// Origin says how the proposal came about; ParentSeq and Mutation
	// name a mutation's parent and operator; DuplicateOf the first trial
	// of the same architecture.
	Origin      string `json:"origin"`
	ParentSeq   int64  `json:"parent_seq,omitempty"`
	Mutation    string `json:"mutation,omitempty"`
	DuplicateOf int64  `json:"duplicate_of,omitempty"`
	// State is queued, running, done, failed or reused.
	State string `json:"state"`
	// Reward is the result's reward (nil without a successful result);
	// Reason and Error say why a trial failed.
	Reward *float64 `json:"reward"`
	Reason string   `json:"reason,omitempty"`
	Error  string   `json:"error,omitempty"`
	// Rseq is the result's position in the search's result sequence (0:
	// no result yet).
	Rseq int64 `json:"rseq,omitempty"`
	// MACs and Params are the trial model's cost at the proxy's size.
	MACs   int64 `json:"macs"`
	Params int64 `json:"params"`
	// Attempts counts starts; Worker is the last worker that started it.
	Attempts int64  `json:"attempts"`
	Worker   string `json:"worker,omitempty"`
	// Seconds is the training's wall time (0 for reused results).
	Seconds float64 `json:"seconds"`
	// Metrics are the trial's stored metrics (the proxy's Result).
	Metrics json.RawMessage `json:"metrics,omitempty"`
	// CreatedMS and RecordedMS are Unix milliseconds of the proposal and
	// the result (0: none yet).
	CreatedMS  int64 `json:"created_ms"`
	RecordedMS int64 `json:"recorded_ms,omitempty"`
}

// Status is a search's progress.
type Status struct {
	// Name, Algorithm, Space and Proxy say what the search is.
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Space     string `json:"space"`
	Proxy     string `json:"proxy"`
	// Status is running or done; Target the trial budget.
	Status string `json:"status"`
	Target int64  `json:"target"`
	// Proposed counts trials; Completed those with a successful result
	// (Reused of them answered from an earlier result of the same
	// architecture); Failed, Running and Queued the others by state.
	Proposed  int64 `json:"proposed"`
	Completed int64 `json:"completed"`
	Reused    int64 `json:"reused"`
	Failed    int64 `json:"failed"`
	Running   int64 `json:"running"`
	Queued    int64 `json:"queued"`
	// Best is the trial with the highest reward (the earliest among
	// equals), nil before the first.
	Best *TrialInfo `json:"best"`
	// TrialsPerHour is trained results (done or failed) per hour of wall
	// time between the first start and the last result.
	TrialsPerHour float64 `json:"trials_per_hour"`
	// Checkpoint is the controller's newest checkpoint version.
	Checkpoint int64 `json:"checkpoint"`
	// Trials lists every trial in proposal order.
	Trials []TrialInfo `json:"trials"`
}

// Searches lists the names of the searches in the database, oldest first.
func (e *Engine) Searches(ctx context.Context) ([]string, error) {
	var names []string
	err := e.b.inTx(ctx, func(tx *txn) error {
		names = names[:0]
		rs, err := tx.query(ctx, `SELECT name FROM nas_search ORDER BY id`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var n string
			if err := rs.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rs.Err()
	})
	return names, err
}

// Status reads the search name's progress and every trial.
func (e *Engine) Status(ctx context.Context, name string) (*Status, error) {
	var st Status
	err := e.b.inTx(ctx, func(tx *txn) error {
		st = Status{}
		var id int64
		var cfgJSON string
		err := tx.queryRow(ctx, `SELECT id, config, status, trials_target FROM nas_search WHERE name = ?`, name).
			Scan(&id, &cfgJSON, &st.Status, &st.Target)
		if isNoRows(err) {
			return fmt.Errorf("search database: %w named %q", ErrNoSearch, name)
		}
		if err != nil {
			return err
		}
		cfg, err := decodeConfig(cfgJSON)
		if err != nil {
			return err
		}
		st.Name, st.Algorithm, st.Space, st.Proxy = name, cfg.Algorithm, cfg.Space.Name, cfg.Proxy.Name
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM nas_checkpoint WHERE search_id = ?`, id).Scan(&st.Checkpoint); err != nil {
			return err
		}
		rs, err := tx.query(ctx, `SELECT t.id, t.seq, t.arch_hash, t.arch_name, t.decisions, t.origin, t.parent_seq, t.mutation, t.duplicate_of,
			t.state, t.macs, t.params, t.attempts, t.worker, t.created_ms, COALESCE(t.started_ms, 0),
			r.reward, COALESCE(r.reason, ''), COALESCE(r.error, ''), COALESCE(r.rseq, 0), COALESCE(r.seconds, 0), COALESCE(r.metrics, ''), COALESCE(r.recorded_ms, 0)
			FROM nas_trial t LEFT JOIN nas_result r ON r.trial_id = t.id WHERE t.search_id = ? ORDER BY t.seq`, id)
		if err != nil {
			return err
		}
		defer rs.Close()
		var firstStart, lastResult int64
		var trained int64
		for rs.Next() {
			var t TrialInfo
			var dec, metrics string
			var started int64
			if err := rs.Scan(&t.ID, &t.Seq, &t.ArchHash, &t.ArchName, &dec, &t.Origin, &t.ParentSeq, &t.Mutation, &t.DuplicateOf,
				&t.State, &t.MACs, &t.Params, &t.Attempts, &t.Worker, &t.CreatedMS, &started,
				&t.Reward, &t.Reason, &t.Error, &t.Rseq, &t.Seconds, &metrics, &t.RecordedMS); err != nil {
				return err
			}
			t.Decisions = json.RawMessage(dec)
			if metrics != "" {
				t.Metrics = json.RawMessage(metrics)
			}
			st.Proposed++
			switch t.State {
			case StateDone:
				st.Completed++
				trained++
			case StateReused:
				st.Completed++
				st.Reused++
			case StateFailed:
				st.Failed++
				if t.Attempts > 0 {
					trained++
				}
			case StateRunning:
				st.Running++
			case StateQueued:
				st.Queued++
			}
			if started > 0 && (firstStart == 0 || started < firstStart) {
				firstStart = started
			}
			if t.State != StateReused && t.RecordedMS > lastResult {
				lastResult = t.RecordedMS
			}
			if t.Reward != nil && (st.Best == nil || *t.Reward > *st.Best.Reward) {
				b := t
				st.Best = &b
			}
			st.Trials = append(st.Trials, t)
		}
		if err := rs.Err(); err != nil {
			return err
		}
		if hours := time.Duration(lastResult-firstStart) * time.Millisecond; trained > 0 && hours > 0 {
			st.TrialsPerHour = float64(trained) / hours.Hours()
		}
		if st.Trials == nil {
			st.Trials = []TrialInfo{}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Snapshot writes a consistent copy of a SQLite search database, running
// or not, to the new file path (an existing file is refused): a backup, or
// a search to carry to another machine and resume there. A PostgreSQL
// database is copied with pg_dump instead.
func (e *Engine) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("search database snapshot: %s exists; name a new file", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("search database snapshot: %w", err)
		}
	}
	if err := e.b.snapshot(ctx, path); err != nil {
		return fmt.Errorf("search database snapshot: %w", err)
	}
	return nil
}
