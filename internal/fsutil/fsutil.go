// Package fsutil holds the few file operations that must survive a crash:
// copying a file so that it is on disk before it is used, and making the
// renames in a directory durable.
package fsutil

import (
	"io"
	"io/fs"
	"os"
)

// CopyFile copies src to dst, a new file (it fails if dst exists) with
// mode perm, and syncs it before it returns.
func CopyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// SyncDir makes the renames and creations in dir durable (best effort: a
// file system that cannot sync a directory has nothing to sync).
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
