package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/space"
)

// Config is a search: what it searches, how, and on which proxy. Everything
// but Trials and Parallel is fixed when the search is created; a later
// Start with the same Name must give the same values.
type Config struct {
	// Name names the search within its database (default "default").
	Name string `json:"name"`
	// Space is the search space.
	Space *space.Space `json:"space"`
	// Proxy is the proxy task every trial trains on (stored whole, so that
	// workers on other machines train exactly this preset).
	Proxy proxy.Preset `json:"proxy"`
	// Algorithm is an algo.New name; Algo its configuration (the seed
	// included).
	Algorithm string      `json:"algorithm"`
	Algo      algo.Config `json:"algo"`
	// TrialSeed seeds every trial's training (default 1), so that a
	// repeated architecture gets the same training.
	TrialSeed uint64 `json:"trial_seed"`
	// TimeoutFactor × proxy.EstimateSeconds is a trial's timeout (default
	// 3, nas.md §4.3), and at least MinTrialTimeoutSeconds (default 60).
	TimeoutFactor          float64 `json:"timeout_factor"`
	MinTrialTimeoutSeconds float64 `json:"min_trial_timeout_seconds"`
	// MaxTrialAttempts is how many times a trial may be started without an
	// outcome before it is recorded as failed (default 3).
	MaxTrialAttempts int `json:"max_trial_attempts"`

	// Trials is the budget: the number of trials (proposals) the search
	// runs to a result. Raising it on a finished search resumes it.
	Trials int `json:"-"`
	// Parallel is the number of trials kept in flight (queued or running),
	// normally the number of workers (default 1).
	Parallel int `json:"-"`
}

// fill sets the defaults of the zero fields.
func (c *Config) fill() {
	if c.Name == "" {
		c.Name = "default"
	}
	if c.TrialSeed == 0 {
		c.TrialSeed = 1
	}
	if c.TimeoutFactor == 0 {
		c.TimeoutFactor = 3
	}
	if c.MinTrialTimeoutSeconds == 0 {
		c.MinTrialTimeoutSeconds = 60
	}
	if c.MaxTrialAttempts == 0 {
		c.MaxTrialAttempts = 3
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
}

// ConfigError reports a search configuration that cannot be used, or that
// differs from the stored search of the same name.
type ConfigError struct {
	Field, Reason string
}

// Error names the field and the reason.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("search config: %s: %s", e.Field, e.Reason)
}

// validate checks the filled configuration.
func (c *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Space == nil:
		return bad("space", "missing")
	case c.Trials < 1 || c.Trials > 10_000_000:
		return bad("trials", "%d, want 1..10000000", c.Trials)
	case c.Parallel < 1 || c.Parallel > 100_000:
		return bad("parallel", "%d, want 1..100000", c.Parallel)
	case !(c.TimeoutFactor >= 1 && c.TimeoutFactor <= 1000):
		return bad("timeout_factor", "%v, want 1..1000", c.TimeoutFactor)
	case !(c.MinTrialTimeoutSeconds > 0 && c.MinTrialTimeoutSeconds <= 7*24*3600):
		return bad("min_trial_timeout_seconds", "%v, want (0, 604800]", c.MinTrialTimeoutSeconds)
	case c.MaxTrialAttempts < 1 || c.MaxTrialAttempts > 100:
		return bad("max_trial_attempts", "%d, want 1..100", c.MaxTrialAttempts)
	case len(c.Name) > 200 || strings.ContainsAny(c.Name, "\x00\n"):
		return bad("name", "%q: want at most 200 characters, no newlines", c.Name)
	}
	if err := c.Space.Validate(); err != nil {
		return err
	}
	if strings.EqualFold(c.Algorithm, algo.NameList) && c.Trials > len(c.Algo.List) {
		return bad("trials", "%d, but the list algorithm has %d architectures to propose", c.Trials, len(c.Algo.List))
	}
	// The algorithm is checked by creating it (its name and config).
	if _, err := algo.New(c.Algorithm, c.Space, c.Algo); err != nil {
		return err
	}
	return nil
}

// Options are an Engine's settings; the zero value gives the defaults.
type Options struct {
	// HeartbeatInterval is how often a worker stamps its running trial and
	// reaps lost ones (default 5 s); LostAfter is how old a heartbeat may
	// get before its trial is given to another worker (default 30 s, at
	// least 3 × HeartbeatInterval).
	HeartbeatInterval, LostAfter time.Duration
	// PollInterval is how often River looks for new jobs where it has no
	// notifications (SQLite; default 500 ms).
	PollInterval time.Duration
	// Logger receives the engine's log (default: discarded).
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.LostAfter == 0 {
		o.LostAfter = 30 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HeartbeatInterval < 10*time.Millisecond || o.LostAfter < 3*o.HeartbeatInterval || o.PollInterval < time.Millisecond {
		return fmt.Errorf("search engine options: heartbeat %v, lost after %v, poll %v: want heartbeat ≥ 10ms, lost after ≥ 3 × heartbeat, poll ≥ 1ms",
			o.HeartbeatInterval, o.LostAfter, o.PollInterval)
	}
	return nil
}

// Engine is an open search database. Its methods are safe for concurrent
// use.
type Engine struct {
	b   backend
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	configs map[int64]*Config // search id → its stored config, decoded once
}

// Open opens the search database dsn names: a postgres:// (or
// postgresql://) URL, or a SQLite file path (sqlite:PATH also works),
// created with its directory if missing. It runs River's migrations and
// the engine's.
func Open(ctx context.Context, dsn string, opt Options) (*Engine, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	b, err := openBackend(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &Engine{b: b, opt: opt, log: opt.Logger, configs: map[int64]*Config{}}, nil
}

// Close closes the database.
func (e *Engine) Close() { e.b.close() }

// Dialect names the database kind: "sqlite" or "postgres".
func (e *Engine) Dialect() string { return e.b.dialect().String() }

// The search statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
)

// The trial states.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
	StateReused  = "reused"
)

// Job kinds and queues.
const (
	trialKind       = "nas_trial"
	stepKind        = "nas_controller_step"
	trialQueue      = "nas_trial"
	controllerQueue = "nas_controller"
)

// trialArgs are a trial job's arguments: the trial, and its timeout.
type trialArgs struct {
	SearchID  int64 `json:"search_id"`
	TrialID   int64 `json:"trial_id"`
	TimeoutMS int64 `json:"timeout_ms"`
}

// Kind is River's job kind.
func (trialArgs) Kind() string { return trialKind }

// InsertOpts puts trials on their queue; attempts are counted by the
// engine (Config.MaxTrialAttempts), River's are a backstop for errors of
// the engine itself.
func (trialArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: trialQueue, MaxAttempts: 5}
}

// stepArgs are a controller step's arguments.
type stepArgs struct {
	SearchID int64 `json:"search_id"`
}

// Kind is River's job kind.
func (stepArgs) Kind() string { return stepKind }

// InsertOpts puts steps on the controller queue.
func (stepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: controllerQueue, MaxAttempts: 10}
}

// configJSON is the stored form of a Config (without Trials and Parallel).
func configJSON(c *Config) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// decodeConfig reads a stored Config.
func decodeConfig(s string) (*Config, error) {
	var c Config
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, fmt.Errorf("search database: stored search config: %w", err)
	}
	if c.Space == nil {
		return nil, errors.New("search database: stored search config has no space")
	}
	if err := c.Space.Validate(); err != nil {
		return nil, fmt.Errorf("search database: stored search space: %w", err)
	}
	return &c, nil
}

// diffConfig names the first top-level field where two stored configs
// differ, or "" when they are equal.
func diffConfig(stored, given string) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(stored), &a) != nil || json.Unmarshal([]byte(given), &b) != nil {
		return "config"
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		if !jsonEqual(a[k], b[k]) {
			return k
		}
	}
	return ""
}

// jsonEqual compares two JSON values after compacting them.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// Start creates the search cfg names, or resumes the stored one: its
// configuration must match cfg (only Trials and Parallel may change; a
// difference is a *ConfigError naming the field), and Trials may not go
// below the trials already proposed. It queues a controller step, so that
// the search proposes trials as soon as some process works the controller
// queue (Work). It returns the search's id and whether it was created.
func (e *Engine) Start(ctx context.Context, cfg Config) (id int64, created bool, err error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return 0, false, err
	}
	js, err := configJSON(&cfg)
	if err != nil {
		return 0, false, err
	}
	d := e.b.dialect()
	err = e.b.inTx(ctx, func(tx *txn) error {
		var stored string
		err := tx.queryRow(ctx, `SELECT id, config FROM nas_search WHERE name = ?`, cfg.Name).Scan(&id, &stored)
		switch {
		case isNoRows(err):
			created = true
			err = tx.queryRow(ctx, `INSERT INTO nas_search (name, config, trials_target, parallel, status, created_ms, updated_ms)
				VALUES (?, ?, ?, ?, ?, `+d.nowMS()+`, `+d.nowMS()+`) RETURNING id`,
				cfg.Name, js, cfg.Trials, cfg.Parallel, StatusRunning).Scan(&id)
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if f := diffConfig(stored, js); f != "" {
				return &ConfigError{Field: f, Reason: fmt.Sprintf("differs from the stored search %q (only the trial budget and parallelism may change on resume; use another --name for a new search)", cfg.Name)}
			}
			var proposed int64
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM nas_trial WHERE search_id = ?`, id).Scan(&proposed); err != nil {
				return err
			}
			if int64(cfg.Trials) < proposed {
				return &ConfigError{Field: "trials", Reason: fmt.Sprintf("%d, but search %q has proposed %d trials already", cfg.Trials, cfg.Name, proposed)}
			}
			if _, err := tx.exec(ctx, `UPDATE nas_search SET trials_target = ?, parallel = ?,
				status = CASE WHEN results >= ? THEN ? ELSE ? END, updated_ms = `+d.nowMS()+` WHERE id = ?`,
				cfg.Trials, cfg.Parallel, cfg.Trials, StatusDone, StatusRunning, id); err != nil {
				return err
			}
		}
		_, err = e.b.insertJobs(ctx, tx, []river.InsertManyParams{{Args: stepArgs{SearchID: id}}})
		return err
	})
	if err != nil {
		return 0, false, err
	}
	e.log.Info("search started", "search", cfg.Name, "id", id, "created", created, "trials", cfg.Trials)
	return id, created, nil
}

// config returns the stored configuration of search id, decoded once.
func (e *Engine) config(ctx context.Context, tx *txn, id int64) (*Config, error) {
	e.mu.Lock()
	c, ok := e.configs[id]
	e.mu.Unlock()
	if ok {
		return c, nil
	}
	var s string
	if err := tx.queryRow(ctx, `SELECT config FROM nas_search WHERE id = ?`, id).Scan(&s); err != nil {
		return nil, fmt.Errorf("search database: search %d: %w", id, err)
	}
	c, err := decodeConfig(s)
	if err != nil {
		return nil, err
	}
	c.fill()
	e.mu.Lock()
	e.configs[id] = c
	e.mu.Unlock()
	return c, nil
}

// trialTimeout is a trial's timeout under c for a model of macs MACs.
func trialTimeout(c *Config, macs int64) time.Duration {
	s := c.TimeoutFactor * proxy.EstimateSeconds(c.Proxy, macs)
	s = max(s, c.MinTrialTimeoutSeconds)
	if math.IsNaN(s) || s > 7*24*3600 {
		s = 7 * 24 * 3600
	}
	return time.Duration(s * float64(time.Second))
}

// workerName names this process in the trial table: host:pid.
func workerName() string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// Config returns the stored configuration of the search name, its trial
// budget and parallelism included; a search that does not exist is an
// error wrapping ErrNoSearch.
func (e *Engine) Config(ctx context.Context, name string) (*Config, error) {
	var c *Config
	err := e.b.inTx(ctx, func(tx *txn) error {
		var s string
		var trials, parallel int
		err := tx.queryRow(ctx, `SELECT config, trials_target, parallel FROM nas_search WHERE name = ?`, name).Scan(&s, &trials, &parallel)
		if isNoRows(err) {
			return fmt.Errorf("search database: %w named %q", ErrNoSearch, name)
		}
		if err != nil {
			return err
		}
		if c, err = decodeConfig(s); err != nil {
			return err
		}
		c.fill()
		c.Trials, c.Parallel = trials, parallel
		return nil
	})
	return c, err
}

// ErrNoSearch reports a search name the database does not hold.
var ErrNoSearch = errors.New("no search")
