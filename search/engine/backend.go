package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// txn is one open transaction: a querier for the engine's own SQL and the
// driver's transaction value for River's Tx functions.
type txn struct {
	querier
	raw any // *sql.Tx (SQLite) or pgx.Tx (PostgreSQL)
}

// backend is a database with River on it. Everything above it is written
// once for both databases; the River generics (the client's transaction
// type, JobCompleteTx's driver type) stay in here.
type backend interface {
	dialect() dialect
	// inTx runs fn in a transaction, committing when it returns nil.
	inTx(ctx context.Context, fn func(tx *txn) error) error
	// insertJobs inserts River jobs within tx and returns their ids.
	insertJobs(ctx context.Context, tx *txn, params []river.InsertManyParams) ([]int64, error)
	// completeTrial and completeStep mark a running job completed within tx.
	completeTrial(ctx context.Context, tx *txn, job *river.Job[trialArgs]) error
	completeStep(ctx context.Context, tx *txn, job *river.Job[stepArgs]) error
	// startClient starts a River client that works the configured queues.
	startClient(ctx context.Context, cfg *river.Config) (stop func(context.Context) error, err error)
	// snapshot writes a consistent copy of the database to a new SQLite
	// file (SQLite only; nil for PostgreSQL).
	snapshot(ctx context.Context, path string) error
	close()
}

// riverBackend is backend over a River driver whose transactions are TTx.
type riverBackend[TTx any] struct {
	d        dialect
	driver   riverdriver.Driver[TTx]
	inserter *river.Client[TTx] // an insert-only client
	begin    func(ctx context.Context) (TTx, querier, error)
	commit   func(ctx context.Context, tx TTx) error
	rollback func(ctx context.Context, tx TTx) error
	complete func(ctx context.Context, tx TTx, job any) error
	closeDB  func()
	copyTo   func(ctx context.Context, path string) error // nil: not supported
}

func (b *riverBackend[TTx]) dialect() dialect { return b.d }

func (b *riverBackend[TTx]) inTx(ctx context.Context, fn func(tx *txn) error) (err error) {
	raw, q, err := b.begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// The transaction is abandoned; a rollback error adds nothing.
			_ = b.rollback(context.WithoutCancel(ctx), raw)
		}
	}()
	if err = fn(&txn{querier: q, raw: raw}); err != nil {
		return err
	}
	return b.commit(ctx, raw)
}

func (b *riverBackend[TTx]) insertJobs(ctx context.Context, tx *txn, params []river.InsertManyParams) ([]int64, error) {
	res, err := b.inserter.InsertManyTx(ctx, tx.raw.(TTx), params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

func (b *riverBackend[TTx]) completeTrial(ctx context.Context, tx *txn, job *river.Job[trialArgs]) error {
	return b.complete(ctx, tx.raw.(TTx), job)
}

func (b *riverBackend[TTx]) completeStep(ctx context.Context, tx *txn, job *river.Job[stepArgs]) error {
	return b.complete(ctx, tx.raw.(TTx), job)
}

func (b *riverBackend[TTx]) startClient(ctx context.Context, cfg *river.Config) (func(context.Context) error, error) {
	c, err := river.NewClient(b.driver, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c.StopAndCancel, nil
}

func (b *riverBackend[TTx]) close() { b.closeDB() }

func (b *riverBackend[TTx]) snapshot(ctx context.Context, path string) error {
	if b.copyTo == nil {
		return fmt.Errorf("search database: a %s database is copied with its own tools (pg_dump)", b.d)
	}
	return b.copyTo(ctx, path)
}

// completeJob is river.JobCompleteTx for the driver TD, for the engine's
// two job kinds.
func completeJob[TD riverdriver.Driver[TTx], TTx any](ctx context.Context, tx TTx, job any) error {
	var err error
	switch j := job.(type) {
	case *river.Job[trialArgs]:
		_, err = river.JobCompleteTx[TD](ctx, tx, j)
	case *river.Job[stepArgs]:
		_, err = river.JobCompleteTx[TD](ctx, tx, j)
	default:
		err = fmt.Errorf("search engine: cannot complete a %T (a bug)", job)
	}
	return err
}

// IsPostgres reports whether dsn names a PostgreSQL database (a postgres://
// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openBackend opens the database dsn names — a postgres:// URL, or a SQLite
// file path (optionally written sqlite:PATH), created if missing — and
// runs River's migrations and the engine's.
func openBackend(ctx context.Context, dsn string) (backend, error) {
	var b backend
	var err error
	if IsPostgres(dsn) {
		b, err = openPostgres(ctx, dsn)
	} else {
		b, err = openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, b); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// openSQLite opens (or creates) the SQLite file at path in WAL mode with
// one connection (as nas.md advises against SQLITE_BUSY), immediate
// transactions, and a busy timeout for other processes on the same file.
func openSQLite(ctx context.Context, path string) (backend, error) {
	if path == "" {
		return nil, errors.New("search database: empty path (want a SQLite file or a postgres:// URL)")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("search database: %w", err)
		}
	}
	u := url.URL{Scheme: "file", Opaque: path, RawQuery: "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("search database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := whileBusy(ctx, func() error { return db.PingContext(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("search database %s: %w", path, err)
	}
	driver := riversqlite.New(db)
	if err := whileBusy(ctx, func() error { return riverMigrateSQLite(ctx, db, driver) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("search database %s: River's migrations: %w", path, err)
	}
	ins, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &riverBackend[*sql.Tx]{
		d: sqliteDialect, driver: driver, inserter: ins,
		begin: func(ctx context.Context) (*sql.Tx, querier, error) {
			tx, err := db.BeginTx(ctx, nil)
			return tx, sqlQuerier{tx}, err
		},
		commit:   func(_ context.Context, tx *sql.Tx) error { return tx.Commit() },
		rollback: func(_ context.Context, tx *sql.Tx) error { return tx.Rollback() },
		complete: completeJob[*riversqlite.Driver, *sql.Tx],
		closeDB:  func() { db.Close() },
		// VACUUM INTO writes a consistent copy while other connections
		// and processes keep working.
		copyTo: func(ctx context.Context, path string) error {
			_, err := db.ExecContext(ctx, `VACUUM INTO ?`, path)
			return err
		},
	}, nil
}

// sqliteBusyWait bounds how long opening a SQLite file retries while other
// processes hold it; it matches the DSN's busy_timeout.
const sqliteBusyWait = 10 * time.Second

// whileBusy runs f again while it fails with SQLITE_BUSY, for up to
// sqliteBusyWait. SQLite answers BUSY without calling the busy handler in
// a few places that processes opening a new file together reach: the
// connection's first PRAGMA journal_mode=WAL while another connection
// converts the file, and the WAL index's recovery. Ping reconnects (and
// reapplies the DSN's pragmas) after a failed connection.
func whileBusy(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(sqliteBusyWait)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports SQLITE_BUSY (any extended code) from the SQLite driver.
func isBusy(err error) bool {
	var c interface{ Code() int }
	return errors.As(err, &c) && c.Code()&0xff == 5
}

// riverMigrate brings River's own tables up to date.
func riverMigrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// riverMigrateSQLite brings River's tables up to date inside one immediate
// transaction: it holds the file's write lock from reading the applied
// versions to the last change, so that processes opening a new file
// together migrate it one after another (River's own Migrate reads the
// versions outside its per-version transactions, and two processes would
// both apply the same version).
func riverMigrateSQLite(ctx context.Context, db *sql.DB, driver *riversqlite.Driver) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil) // immediate: _txlock in the DSN
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	return tx.Commit()
}

// pgLockKey is the advisory lock that serialises the migrations of
// processes starting together on one PostgreSQL database.
const pgLockKey = 0x5350494e454e4554 // "SPINENET"

// openPostgres connects a pgx pool to url and migrates under an advisory
// lock.
func openPostgres(ctx context.Context, url string) (backend, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("search database: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("search database: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(pgLockKey)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("search database: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(pgLockKey))
	driver := riverpgxv5.New(pool)
	if err := riverMigrate(ctx, driver); err != nil {
		pool.Close()
		return nil, fmt.Errorf("search database: River's migrations: %w", err)
	}
	ins, err := river.NewClient(driver, &river.Config{})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &riverBackend[pgx.Tx]{
		d: postgresDialect, driver: driver, inserter: ins,
		begin: func(ctx context.Context) (pgx.Tx, querier, error) {
			tx, err := pool.Begin(ctx)
			return tx, pgxQuerier{tx}, err
		},
		commit:   func(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) },
		rollback: func(ctx context.Context, tx pgx.Tx) error { return tx.Rollback(ctx) },
		complete: completeJob[*riverpgxv5.Driver, pgx.Tx],
		closeDB:  pool.Close,
	}, nil
}

// isNoRows reports a Scan that found no row, from either driver.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}

// isUniqueViolation reports an insert refused by a primary key or unique
// constraint, from either driver.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// sqlQuerier is a querier over a database/sql transaction (SQLite).
type sqlQuerier struct{ tx *sql.Tx }

func (q sqlQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	r, err := q.tx.ExecContext(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (q sqlQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	r, err := q.tx.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, s string, args ...any) row {
	return q.tx.QueryRowContext(ctx, s, args...)
}

// sqlRows adapts *sql.Rows (whose Close returns an error) to rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// pgxQuerier is a querier over a pgx transaction (PostgreSQL); it rewrites
// the ? placeholders.
type pgxQuerier struct{ tx pgx.Tx }

func (q pgxQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	t, err := q.tx.Exec(ctx, postgresDialect.rebind(s), args...)
	if err != nil {
		return 0, err
	}
	return t.RowsAffected(), nil
}

func (q pgxQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	r, err := q.tx.Query(ctx, postgresDialect.rebind(s), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (q pgxQuerier) queryRow(ctx context.Context, s string, args ...any) row {
	return q.tx.QueryRow(ctx, postgresDialect.rebind(s), args...)
}
