package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/proxy"
)

// keepCheckpoints is how many controller checkpoints a search keeps.
const keepCheckpoints = 5

// stepWorker works controller steps.
type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	e *Engine
}

// Work runs one controller step and completes its job in the same
// transaction.
func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	return w.e.b.inTx(ctx, func(tx *txn) error {
		if err := w.e.step(ctx, tx, job.Args.SearchID); err != nil {
			return fmt.Errorf("search %d: controller step: %w", job.Args.SearchID, err)
		}
		return w.e.b.completeStep(ctx, tx, job)
	})
}

// stepReport is what one step did, for the log.
type stepReport struct {
	observed, proposed, reused int
	version                    int64
}

// step is one controller step in tx (see the package doc): observe the new
// results in rseq order, propose up to the in-flight target and the
// budget, write the next checkpoint.
func (e *Engine) step(ctx context.Context, tx *txn, searchID int64) error {
	d := e.b.dialect()
	var results, target, parallel int64
	var status string
	// The UPDATE locks the search row (PostgreSQL) or takes the write lock
	// (SQLite) first, so that steps and result recordings are serialised.
	err := tx.queryRow(ctx, `UPDATE nas_search SET steps = steps + 1 WHERE id = ?
		RETURNING results, trials_target, parallel, status`, searchID).Scan(&results, &target, &parallel, &status)
	if err != nil {
		return err
	}
	if status != StatusRunning {
		return nil
	}
	cfg, err := e.config(ctx, tx, searchID)
	if err != nil {
		return err
	}
	var version, lastRseq int64
	var state string
	var alg algo.Algorithm
	err = tx.queryRow(ctx, `SELECT version, last_rseq, state FROM nas_checkpoint WHERE search_id = ? ORDER BY version DESC LIMIT 1`,
		searchID).Scan(&version, &lastRseq, &state)
	switch {
	case isNoRows(err):
		alg, err = algo.New(cfg.Algorithm, cfg.Space, cfg.Algo)
	case err == nil:
		alg, err = algo.Restore(cfg.Space, []byte(state))
	}
	if err != nil {
		return err
	}

	var rep stepReport
	news, err := newResults(ctx, tx, searchID, lastRseq)
	if err != nil {
		return err
	}
	if err := alg.Observe(news); err != nil {
		return fmt.Errorf("observing results %d..%d: %w", lastRseq+1, results, err)
	}
	rep.observed = len(news)

	for {
		st := alg.Stats()
		n := min(parallel-int64(st.Pending), target-st.Proposed)
		if n <= 0 {
			break
		}
		props, err := alg.Propose(int(n))
		if err != nil {
			return err
		}
		known, queued, err := e.insertProposals(ctx, tx, searchID, cfg, props, &results)
		if err != nil {
			return err
		}
		rep.proposed += len(props)
		rep.reused += len(known)
		if err := alg.Observe(known); err != nil {
			return fmt.Errorf("observing reused results: %w", err)
		}
		if queued == len(props) {
			break // nothing was answered at once, so nothing freed a slot
		}
	}

	st := alg.Stats()
	if rep.observed == 0 && rep.proposed == 0 {
		return nil // nothing new: the step changes nothing
	}
	status = StatusRunning
	if results >= target && st.Pending == 0 {
		status = StatusDone
	}
	if _, err := tx.exec(ctx, `UPDATE nas_search SET results = ?, status = ?, updated_ms = `+d.nowMS()+` WHERE id = ?`,
		results, status, searchID); err != nil {
		return err
	}
	b, err := alg.MarshalState()
	if err != nil {
		return err
	}
	rep.version = version + 1
	if _, err := tx.exec(ctx, `INSERT INTO nas_checkpoint (search_id, version, last_rseq, state, created_ms) VALUES (?, ?, ?, ?, `+d.nowMS()+`)`,
		searchID, rep.version, results, string(b)); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `DELETE FROM nas_checkpoint WHERE search_id = ? AND version <= ?`, searchID, rep.version-keepCheckpoints); err != nil {
		return err
	}
	e.log.Info("controller step", "search", cfg.Name, "observed", rep.observed, "proposed", rep.proposed, "reused", rep.reused,
		"results", results, "target", target, "checkpoint", rep.version, "status", status)
	return nil
}

// newResults reads the results of search after rseq, in rseq order, as the
// algorithm takes them.
func newResults(ctx context.Context, tx *txn, searchID, after int64) ([]algo.Result, error) {
	rs, err := tx.query(ctx, `SELECT t.seq, t.arch_hash, r.reward, r.failed, r.reason FROM nas_result r
		JOIN nas_trial t ON t.id = r.trial_id WHERE r.search_id = ? AND r.rseq > ? ORDER BY r.rseq`, searchID, after)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []algo.Result
	for rs.Next() {
		var r algo.Result
		var reward *float64
		var failed int64
		if err := rs.Scan(&r.Seq, &r.Hash, &reward, &failed, &r.Reason); err != nil {
			return nil, err
		}
		r.Failed = failed != 0
		if reward != nil {
			r.Reward = *reward
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// insertProposals writes the proposals as trials. A proposal whose
// architecture already has a result (Known) is recorded at once, reusing
// that reward, and returned among known; the others get River jobs.
// *results counts the search's results and advances with each reused one.
func (e *Engine) insertProposals(ctx context.Context, tx *txn, searchID int64, cfg *Config, props []algo.Proposal, results *int64) (known []algo.Result, queued int, err error) {
	d := e.b.dialect()
	var jobs []river.InsertManyParams
	var jobTrials []int64
	peers, err := e.peerSearches(ctx, tx, searchID, cfg)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range props {
		var cached *cachedResult
		if !p.Known {
			if cached, err = cachedTrial(ctx, tx, peers, p.Hash); err != nil {
				return nil, 0, err
			}
		}
		a, err := cfg.Space.Decode(p.Decisions)
		if err != nil {
			return nil, 0, fmt.Errorf("proposal %d does not decode (a bug): %w", p.Seq, err)
		}
		dec, err := json.Marshal(p.Decisions)
		if err != nil {
			return nil, 0, err
		}
		macs, params, costErr := cfg.Proxy.CountCost(a)
		timeout := trialTimeout(cfg, macs)
		state := StateQueued
		switch {
		case p.Known, cached != nil:
			state = StateReused
		case costErr != nil:
			state = StateFailed
		}
		var trialID int64
		err = tx.queryRow(ctx, `INSERT INTO nas_trial (search_id, seq, decisions, arch_hash, arch_name, origin, parent_seq, mutation,
			duplicate_of, policy_version, log_prob, seed, macs, params, timeout_ms, state, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+d.nowMS()+`) RETURNING id`,
			searchID, p.Seq, string(dec), p.Hash, a.Name, string(p.Origin), p.ParentSeq, string(p.Mutation),
			p.DuplicateOf, p.PolicyVersion, p.LogProb, int64(cfg.TrialSeed), macs, params, timeout.Milliseconds(), state).Scan(&trialID)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case p.Known:
			out := outcome{Reward: p.KnownReward, Metrics: json.RawMessage(fmt.Sprintf(`{"reused_from_seq":%d}`, p.DuplicateOf))}
			if err := insertResult(ctx, tx, d, searchID, trialID, out, 0, "", results); err != nil {
				return nil, 0, err
			}
			known = append(known, algo.Result{Seq: p.Seq, Hash: p.Hash, Reward: p.KnownReward})
		case cached != nil:
			out := outcome{Reward: cached.reward, Metrics: json.RawMessage(fmt.Sprintf(`{"reused_from_search":%q,"reused_from_seq":%d}`, cached.search, cached.seq))}
			if err := insertResult(ctx, tx, d, searchID, trialID, out, 0, "", results); err != nil {
				return nil, 0, err
			}
			known = append(known, algo.Result{Seq: p.Seq, Hash: p.Hash, Reward: cached.reward})
		case costErr != nil:
			// The candidate cannot be built: it fails without a job.
			out := outcome{Failed: true, Reason: reasonOf(costErr), Error: costErr.Error()}
			if err := insertResult(ctx, tx, d, searchID, trialID, out, 0, "", results); err != nil {
				return nil, 0, err
			}
			known = append(known, algo.Result{Seq: p.Seq, Hash: p.Hash, Failed: true, Reason: out.Reason})
		default:
			jobs = append(jobs, river.InsertManyParams{Args: trialArgs{SearchID: searchID, TrialID: trialID, TimeoutMS: timeout.Milliseconds()}})
			jobTrials = append(jobTrials, trialID)
		}
	}
	if len(jobs) > 0 {
		ids, err := e.b.insertJobs(ctx, tx, jobs)
		if err != nil {
			return nil, 0, err
		}
		for i, id := range ids {
			if _, err := tx.exec(ctx, `UPDATE nas_trial SET job_id = ? WHERE id = ?`, id, jobTrials[i]); err != nil {
				return nil, 0, err
			}
		}
	}
	return known, len(jobs), nil
}

// peerSearches returns the ids of the other searches whose trials train
// exactly as this one's: the same proxy preset and trial seed. Training is
// deterministic given the preset, the architecture and the seed, so a
// trained result of theirs is this search's result for that architecture.
func (e *Engine) peerSearches(ctx context.Context, tx *txn, searchID int64, cfg *Config) ([]int64, error) {
	key, err := trainingKey(cfg)
	if err != nil {
		return nil, err
	}
	rs, err := tx.query(ctx, `SELECT id FROM nas_search WHERE id <> ? ORDER BY id`, searchID)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			rs.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	var peers []int64
	for _, id := range ids {
		other, err := e.config(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if k, err := trainingKey(other); err == nil && k == key {
			peers = append(peers, id)
		}
	}
	return peers, nil
}

// trainingKey identifies how a search's trials train: its proxy preset
// (stored whole) and trial seed.
func trainingKey(c *Config) (string, error) {
	b, err := json.Marshal(struct {
		Proxy any    `json:"proxy"`
		Seed  uint64 `json:"seed"`
	}{c.Proxy, c.TrialSeed})
	return string(b), err
}

// cachedResult is a peer search's trained result of an architecture.
type cachedResult struct {
	reward float64
	search string
	seq    int64
}

// cachedTrial returns the earliest trained (done) result of the
// architecture hash in the peer searches, or nil.
func cachedTrial(ctx context.Context, tx *txn, peers []int64, hash string) (*cachedResult, error) {
	if len(peers) == 0 {
		return nil, nil
	}
	q := `SELECT r.reward, s.name, t.seq FROM nas_trial t JOIN nas_result r ON r.trial_id = t.id JOIN nas_search s ON s.id = t.search_id
		WHERE t.arch_hash = ? AND t.state = ? AND t.search_id IN (?` + strings.Repeat(", ?", len(peers)-1) + `) ORDER BY r.recorded_ms, t.id LIMIT 1`
	args := []any{hash, StateDone}
	for _, id := range peers {
		args = append(args, id)
	}
	var c cachedResult
	err := tx.queryRow(ctx, q, args...).Scan(&c.reward, &c.search, &c.seq)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// reasonOf is a failure's reason: a proxy.TrialError's, else "error".
func reasonOf(err error) string {
	var te *proxy.TrialError
	if errors.As(err, &te) {
		return te.Reason
	}
	return ReasonError
}
