//go:build unix

package core

import "golang.org/x/sys/unix"

// fileIdent names the open file behind a descriptor: a descriptor number
// reused for another file (close, then dup2 or open) has another identity.
type fileIdent struct{ dev, ino uint64 }

func identify(fd int) (fileIdent, error) {
	var st unix.Stat_t
	for {
		err := unix.Fstat(fd, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fileIdent{}, err
		}
		return fileIdent{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
	}
}
