// Package atomicfile writes files so that a crash leaves either the old
// file or the complete new one: the content goes to a temporary file in the
// same directory, which is synced and renamed over the target.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Mode is the permission of the files Write creates: readable by everyone,
// as os.Create would make them under the usual umask (os.CreateTemp alone
// would leave them 0600).
const Mode os.FileMode = 0o644

// Write creates path atomically with the bytes write produces; the file gets
// permission Mode.
func Write(path string, write func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(Mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
