package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/proxy"
)

// defaultSearchDB is where a search is kept when --db is not given.
const defaultSearchDB = "runs/search.db"

// engineFlags are the flags of every command that opens a search
// database and works on it.
type engineFlags struct {
	DB                   string
	Heartbeat, LostAfter time.Duration
	Verbose              bool
}

func (f *engineFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "search database: a SQLite file (created if missing) or a postgres:// URL")
	cmd.Flags().DurationVar(&f.Heartbeat, "heartbeat", 5*time.Second, "how often a running trial is stamped alive")
	cmd.Flags().DurationVar(&f.LostAfter, "lost-after", 30*time.Second,
		"a running trial not stamped for this long is given to another worker (≥ 3 × --heartbeat)")
	cmd.Flags().BoolVarP(&f.Verbose, "verbose", "v", false, "log the engine's progress (trials started, results) on stderr")
}

// open opens the database with the flags' engine options, logging to
// stderr (warnings only unless --verbose).
func (f *engineFlags) open(ctx context.Context, stderr io.Writer) (*engine.Engine, error) {
	level := slog.LevelWarn
	if f.Verbose {
		level = slog.LevelInfo
	}
	e, err := engine.Open(ctx, f.DB, engine.Options{HeartbeatInterval: f.Heartbeat, LostAfter: f.LostAfter,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		return nil, fmt.Errorf("--db %s: %w", redactDSN(f.DB), err)
	}
	return e, nil
}

// redactDSN hides a password in a database URL, for messages.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && engine.IsPostgres(dsn) {
		return u.Redacted()
	}
	return dsn
}

// algoFlags are the algorithm settings' flags.
type algoFlags struct {
	File string      // --algo-config
	algo algo.Config // the flags' values, over algo.DefaultConfig
}

func (a *algoFlags) register(cmd *cobra.Command) {
	a.algo = algo.DefaultConfig()
	f := cmd.Flags()
	f.StringVar(&a.File, "algo-config", "", "JSON file of algorithm settings (search/algo.Config's keys, e.g. population, learning_rate); flags override it")
	f.Uint64Var(&a.algo.Seed, "seed", a.algo.Seed, "the algorithm's seed")
	f.IntVar(&a.algo.Population, "population", a.algo.Population, "evolution: population size P")
	f.IntVar(&a.algo.Tournament, "tournament", a.algo.Tournament, "evolution: tournament size S")
	f.BoolVar(&a.algo.Baselines, "baselines", a.algo.Baselines, "propose the space's baselines (ResNet order, SpineNet-49) first")
}

// workFlags say how a command that runs a search works it.
type workFlags struct {
	Workers, Parallel, Threads int
	DataDir                    string
	JSON, Quiet                bool
}

func (w *workFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&w.Workers, "workers", 1, "trials this process trains at once (0: controller only, with 'search worker' processes training)")
	f.IntVar(&w.Parallel, "parallel", 0, "trials kept in flight for all workers together (default: --workers, at least 1)")
	f.IntVar(&w.Threads, "threads", 0, "threads per trial (default: the cores divided among --workers)")
	f.StringVar(&w.DataDir, "data", "", "COCO directory for the paper proxy")
	f.BoolVar(&w.JSON, "json", false, "print the final status as JSON (as 'search status --json')")
	f.BoolVar(&w.Quiet, "quiet", false, "no progress bar")
}

// check refuses negative counts.
func (w *workFlags) check() error {
	if w.Workers < 0 || w.Parallel < 0 || w.Threads < 0 {
		return usageError{fmt.Errorf("--workers %d, --parallel %d, --threads %d: want ≥ 0", w.Workers, w.Parallel, w.Threads)}
	}
	return nil
}

// parallel is --parallel, defaulting to --workers (at least 1).
func (w *workFlags) parallel() int {
	if w.Parallel > 0 {
		return w.Parallel
	}
	return max(w.Workers, 1)
}

// searchRunOptions are the flags of `spinenet search` (and `search run`).
type searchRunOptions struct {
	engineFlags
	algoFlags
	workFlags
	Name, Space, Algo, Proxy string
	Trials                   int
	TrialSeed                uint64
}

// addSearchRunFlags registers the run flags on cmd.
func addSearchRunFlags(cmd *cobra.Command, o *searchRunOptions) {
	o.engineFlags.register(cmd)
	o.algoFlags.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "default", "the search's name within the database")
	spaceFlag(cmd, &o.Space)
	f.StringVar(&o.Algo, "algo", algo.NameEvolution, "search algorithm: "+strings.Join(algo.Names(), ", "))
	f.StringVar(&o.Proxy, "proxy", "fast", "proxy task every trial trains on: "+strings.Join(proxy.Names(), ", "))
	f.IntVar(&o.Trials, "trials", 0, "the trial budget: the search runs until this many trials have a result (required; raise it to resume a finished search)")
	f.Uint64Var(&o.TrialSeed, "trial-seed", 1, "seed of every trial's training (a repeated architecture trains the same)")
	o.workFlags.register(cmd)
}

// algoConfig is the algorithm's configuration: the defaults, the
// --algo-config file over them, and the algorithm flags given over that.
func (a *algoFlags) config(cmd *cobra.Command) (algo.Config, error) {
	if a.File == "" {
		return a.algo, nil
	}
	c := algo.DefaultConfig()
	b, err := os.ReadFile(a.File)
	if err != nil {
		return c, usageError{fmt.Errorf("--algo-config: %w", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, usageError{fmt.Errorf("--algo-config %s: %w (want a JSON object of search/algo.Config's keys)", a.File, err)}
	}
	fl := cmd.Flags()
	if fl.Changed("seed") {
		c.Seed = a.algo.Seed
	}
	if fl.Changed("population") {
		c.Population = a.algo.Population
	}
	if fl.Changed("tournament") {
		c.Tournament = a.algo.Tournament
	}
	if fl.Changed("baselines") {
		c.Baselines = a.algo.Baselines
	}
	return c, nil
}

// config checks the flags and returns the search's configuration.
func (o *searchRunOptions) config(cmd *cobra.Command) (engine.Config, error) {
	var c engine.Config
	if o.Trials < 1 {
		return c, usageError{errors.New("--trials: give the trial budget (≥ 1)")}
	}
	if err := o.workFlags.check(); err != nil {
		return c, err
	}
	sp, err := namedSpace(o.Space)
	if err != nil {
		return c, err
	}
	p, err := proxy.Named(o.Proxy)
	if err != nil {
		return c, usageError{fmt.Errorf("--proxy: %w", err)}
	}
	ac, err := o.algoFlags.config(cmd)
	if err != nil {
		return c, err
	}
	return engine.Config{Name: o.Name, Space: sp, Proxy: p, Algorithm: o.Algo, Algo: ac, TrialSeed: o.TrialSeed,
		Trials: o.Trials, Parallel: o.parallel()}, nil
}

// threadsPerTrial divides the cores among the trials a process trains at
// once, unless threads is given.
func threadsPerTrial(threads, trials int) int {
	if threads > 0 || trials < 1 {
		return threads
	}
	return max(1, runtime.NumCPU()/trials)
}

func newSearchRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var o searchRunOptions
	cmd := &cobra.Command{
		Use:   "run --trials N [--db FILE|URL] [--space S] [--algo A] [--proxy P]",
		Short: "Run an architecture search (also 'spinenet search --trials N …')",
		Long:  searchRunHelp,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runSearch(cmd, &o, stdout, stderr) },
	}
	addSearchRunFlags(cmd, &o)
	return cmd
}

const searchRunHelp = `run starts a search, or resumes the search of the same --name in --db, and
works it until --trials trials have a result: the controller proposes
architectures of --space with --algo, and trials train each on --proxy and
record its held-out AP as the reward. Everything lives in the database —
River's job queue, the trials, their results and the controller's state — so
a killed run loses nothing: run the same command again and it goes on where
it stopped (a running trial starts over). Raising --trials resumes a finished
search; every other setting of a stored search is fixed.

--db is a SQLite file (the default, ` + defaultSearchDB + `: no server) or a
postgres:// URL. With PostgreSQL, trials can train on other machines:
'spinenet search worker --db URL' there, and here --workers 0 (controller
only) or a few; --parallel says how many trials are kept in flight for all
of them. Ctrl-C (SIGINT) or SIGTERM stops after handing running trials back.

Watch it with 'spinenet search status', draw it with 'spinenet search report'.`

// runSearch is `spinenet search [run]`.
func runSearch(cmd *cobra.Command, o *searchRunOptions, stdout, stderr io.Writer) error {
	cfg, err := o.config(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := o.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	return workSearch(ctx, e, o.DB, cfg, &o.workFlags, stdout, stderr)
}

// workSearch starts or resumes cfg on e and works it in this process as w
// says until it is done or ctx ends; it prints the final status.
func workSearch(ctx context.Context, e *engine.Engine, db string, cfg engine.Config, w *workFlags, stdout, stderr io.Writer) error {
	_, created, err := e.Start(ctx, cfg)
	if err != nil {
		return err
	}
	st, err := e.Status(ctx, cfg.Name)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "search %q created in %s: %s on %s, proxy %s, %d trials\n", cfg.Name, redactDSN(db), cfg.Algorithm, cfg.Space.Name, cfg.Proxy.Name, cfg.Trials)
	} else {
		fmt.Fprintf(stderr, "search %q resumed in %s: %d of %d trials have a result\n", cfg.Name, redactDSN(db), st.Completed+st.Failed, cfg.Trials)
	}
	var progress func(final bool)
	if !w.Quiet {
		progress = searchProgress(ctx, e, cfg.Name, stderr)
	}
	werr := e.Work(ctx, engine.WorkOptions{Trials: w.Workers, Controller: true, UntilDone: []string{cfg.Name},
		Trainer: engine.ProxyTrainer{Threads: threadsPerTrial(w.Threads, w.Workers), DataDir: w.DataDir}})
	// The final status is read with a fresh context: ctx may be done.
	st, err = e.Status(context.WithoutCancel(ctx), cfg.Name)
	if progress != nil {
		progress(err == nil && st.Status == engine.StatusDone)
	}
	if werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if st.Status != engine.StatusDone {
		return fmt.Errorf("search %q stopped with %d of %d trials recorded: run the same command again to resume", cfg.Name, st.Completed+st.Failed, st.Target)
	}
	return printSearchStatus(stdout, st, w.JSON, false)
}

// searchProgress draws a progress bar of the search's recorded trials on
// w, refreshed every second until ctx ends or the returned function is
// called (with whether the search finished).
func searchProgress(ctx context.Context, e *engine.Engine, name string, w io.Writer) func(final bool) {
	bar := progressbar.NewOptions64(1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("trials"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(24),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	update := func(ctx context.Context) {
		st, err := e.Status(ctx, name)
		if err != nil {
			return
		}
		bar.ChangeMax64(st.Target)
		desc := fmt.Sprintf("trials: %d running, %d failed", st.Running, st.Failed)
		if st.Best != nil {
			desc += fmt.Sprintf(", best %.4f", *st.Best.Reward)
		}
		bar.Describe(desc)
		if !bar.IsFinished() {
			_ = bar.Set64(st.Completed + st.Failed)
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			update(ctx)
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func(final bool) {
		close(done)
		<-stopped
		if final {
			update(context.Background())
			if !bar.IsFinished() {
				_ = bar.Finish()
			}
			return
		}
		_ = bar.Exit()
		fmt.Fprintln(w)
	}
}

// searchWorkerOptions are the flags of `spinenet search worker`.
type searchWorkerOptions struct {
	engineFlags
	Workers, Threads int
	Name, DataDir    string
	NoController     bool
	UntilDone        bool
}

func newSearchWorkerCmd(stderr io.Writer) *cobra.Command {
	var o searchWorkerOptions
	cmd := &cobra.Command{
		Use:   "worker --db URL",
		Short: "Train the trials of the searches in a database (run one per machine)",
		Long: `worker trains trials for every search in --db (any number of workers, on any
machines that reach the database; SQLite works for processes on one machine)
and, unless --no-controller, runs controller steps too, so a search goes on
while any process of it is alive. It runs until Ctrl-C (SIGINT) or SIGTERM,
which hands its running trials back, or with --until-done until every search
in the database is done (waiting for one to exist first). A worker killed
outright loses its running trials' progress only: after --lost-after another
worker starts them again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Workers < 1 || o.Threads < 0 {
				return usageError{fmt.Errorf("--workers %d, --threads %d: want ≥ 1 and ≥ 0", o.Workers, o.Threads)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			e, err := o.open(ctx, stderr)
			if err != nil {
				return err
			}
			defer e.Close()
			opt := engine.WorkOptions{Trials: o.Workers, Controller: !o.NoController, Name: o.Name,
				Trainer: engine.ProxyTrainer{Threads: threadsPerTrial(o.Threads, o.Workers), DataDir: o.DataDir}}
			if o.UntilDone {
				if opt.UntilDone, err = waitForSearches(ctx, e); err != nil || ctx.Err() != nil {
					return err
				}
			}
			return e.Work(ctx, opt)
		},
	}
	o.engineFlags.register(cmd)
	cmd.Flags().IntVar(&o.Workers, "workers", 1, "trials this process trains at once")
	cmd.Flags().IntVar(&o.Threads, "threads", 0, "threads per trial (default: the cores divided among --workers)")
	cmd.Flags().StringVar(&o.Name, "name", "", "this worker's name in the trial table (default host:pid)")
	cmd.Flags().StringVar(&o.DataDir, "data", "", "COCO directory for the paper proxy")
	cmd.Flags().BoolVar(&o.NoController, "no-controller", false, "train trials only, leave controller steps to other processes")
	cmd.Flags().BoolVar(&o.UntilDone, "until-done", false, "exit when every search in the database is done")
	return cmd
}

// waitForSearches returns the names of the database's searches, waiting
// until there is at least one (nil if ctx ends first).
func waitForSearches(ctx context.Context, e *engine.Engine) ([]string, error) {
	for {
		names, err := e.Searches(ctx)
		if err != nil || len(names) > 0 {
			return names, err
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func newSearchStatusCmd(stdout, stderr io.Writer) *cobra.Command {
	var f engineFlags
	var name string
	var asJSON, trials bool
	cmd := &cobra.Command{
		Use:   "status [--db FILE|URL] [--name NAME]",
		Short: "Show a search's progress: trials done, running, failed, the best so far",
		Long: `status reads a search from --db and prints its progress: trials with a
result (trained, reused from a duplicate, failed), running and queued, the best
architecture so far and trials per hour; --trials lists every trial. --json
prints everything as one object (completed, running, failed, best, trials with
each trial's id, arch_hash, reward, macs, state, …). --name picks the search
when the database holds several.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := readSearch(cmd.Context(), &f, name, stderr)
			if err != nil {
				return err
			}
			return printSearchStatus(stdout, st, asJSON, trials)
		},
	}
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "search database: a SQLite file or a postgres:// URL")
	cmd.Flags().StringVar(&name, "name", "", "the search (default: the database's only search)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&trials, "trials", false, "list every trial")
	return cmd
}

// openExisting opens the database f names for reading; a SQLite file that
// does not exist is an error (Open would create it).
func openExisting(ctx context.Context, f *engineFlags, stderr io.Writer) (*engine.Engine, error) {
	if !engine.IsPostgres(f.DB) {
		path := strings.TrimPrefix(f.DB, "sqlite:")
		if _, err := os.Stat(path); err != nil {
			return nil, usageError{fmt.Errorf("--db %s: no search database there (start one with 'spinenet search --db %s --trials N')", f.DB, f.DB)}
		}
	}
	return f.open(ctx, stderr) // zero heartbeat settings: the engine's defaults
}

// readSearch reads the status of the search name (or the only one) from
// the existing database f names.
func readSearch(ctx context.Context, f *engineFlags, name string, stderr io.Writer) (*engine.Status, error) {
	e, err := openExisting(ctx, f, stderr)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if name, err = pickSearch(ctx, e, name); err != nil {
		return nil, err
	}
	return e.Status(ctx, name)
}

// pickSearch returns name, or the database's only search when name is
// empty.
func pickSearch(ctx context.Context, e *engine.Engine, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	names, err := e.Searches(ctx)
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", errors.New("the database holds no search yet")
	case 1:
		return names[0], nil
	}
	return "", usageError{fmt.Errorf("--name: the database holds %d searches, name one: %s", len(names), strings.Join(names, ", "))}
}

// printSearchStatus writes st as JSON or as a summary (with every trial
// when trials is set).
func printSearchStatus(w io.Writer, st *engine.Status, asJSON, trials bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(st)
	}
	fmt.Fprintf(w, "search %q: %s on %s, proxy %s — %s\n", st.Name, st.Algorithm, st.Space, st.Proxy, st.Status)
	fmt.Fprintf(w, "  trials   %d of %d recorded: %d with a result (%d reused), %d failed; %d running, %d queued\n",
		st.Completed+st.Failed, st.Target, st.Completed, st.Reused, st.Failed, st.Running, st.Queued)
	if st.TrialsPerHour > 0 {
		fmt.Fprintf(w, "  rate     %.1f trials/hour\n", st.TrialsPerHour)
	}
	if b := st.Best; b != nil {
		fmt.Fprintf(w, "  best     reward %.4f: trial %d, %s, %.2f M multiply-adds, %d parameters\n",
			*b.Reward, b.Seq, b.ArchName, float64(b.MACs)/1e6, b.Params)
	}
	if !trials {
		return nil
	}
	fmt.Fprintf(w, "\n%5s  %-8s  %-12s  %8s  %9s  %7s  %s\n", "trial", "state", "arch hash", "reward", "M MACs", "seconds", "origin")
	for _, t := range st.Trials {
		reward := "-"
		if t.Reward != nil {
			reward = fmt.Sprintf("%.4f", *t.Reward)
		}
		origin := t.Origin
		if t.Mutation != "" {
			origin = fmt.Sprintf("%s of %d (%s)", origin, t.ParentSeq, t.Mutation)
		}
		if t.Reason != "" {
			origin += ", failed: " + t.Reason
		}
		fmt.Fprintf(w, "%5d  %-8s  %-12.12s  %8s  %9.2f  %7.1f  %s\n", t.Seq, t.State, t.ArchHash, reward, float64(t.MACs)/1e6, t.Seconds, origin)
	}
	return nil
}

func newSearchExportCmd(stdout, stderr io.Writer) *cobra.Command {
	var f engineFlags
	var output string
	cmd := &cobra.Command{
		Use:   "export --db FILE --output NEW.db",
		Short: "Copy a SQLite search database consistently, even while it runs",
		Long: `export writes a consistent copy of the SQLite search database --db to the new
file --output (SQLite's VACUUM INTO), while searches and workers keep running on
it: a backup, or a search to resume elsewhere ('spinenet search --db NEW.db …'
goes on from the copy; trials that were running start again). A PostgreSQL
database is copied with pg_dump.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return usageError{errors.New("--output: name the new file")}
			}
			ctx := cmd.Context()
			e, err := openExisting(ctx, &f, stderr)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.Snapshot(ctx, output); err != nil {
				return err
			}
			fi, err := os.Stat(output)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "copied %s to %s (%d bytes)\n", f.DB, output, fi.Size())
			return nil
		},
	}
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "the SQLite search database")
	cmd.Flags().StringVar(&output, "output", "", "the new file")
	return cmd
}
