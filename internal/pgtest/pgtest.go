// Package pgtest gives tests an empty PostgreSQL database on the server
// that NAS_PG_URL names (scripts/pg-start prints the variable; .ci/run
// starts a server and sets it). Without the variable the test is skipped.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the server's URL.
const EnvURL = "NAS_PG_URL"

// Fresh creates an empty database on the server and returns its URL; the
// database is dropped when the test ends. The test skips when the
// variable is not set and fails when the server cannot be reached.
func Fresh(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skip(EnvURL + " is not set: no PostgreSQL server to test against (scripts/pg-start starts one; .ci/run does)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	name := fmt.Sprintf("nas_test_%d_%d", os.Getpid(), rand.Uint32())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
