package neo4jserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A dynamic class data sharing (CDS) archive of the classes Neo4j loads
// cuts the JVM's start by about 40% (5.26: 10s to 6s here). One training
// start per build and JVM records it at exit (-XX:ArchiveClassesAtExit,
// which needs only jars on the class path); later starts map it. An archive
// only fits the JVM that wrote it, hence one per libjvm.

// ensureCDS returns the flags that map the archive, recording it first if
// needed. A JVM that cannot record one gets none, once (a marker file says
// so), rather than a failed start.
func (l *launcher) ensureCDS(ctx context.Context) ([]string, error) {
	id := jvmID(l.java)
	if id == "" {
		return nil, nil
	}
	archive := filepath.Join(l.dir, "cds-"+id+".jsa")
	failed := archive + ".failed"
	use := []string{"-XX:SharedArchiveFile=" + archive}
	if exists(archive) {
		return use, nil
	}
	if exists(failed) {
		return nil, nil
	}
	unlock, err := lockFile(l.dir + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if exists(archive) {
		return use, nil
	}
	tmp := archive + ".tmp"
	_ = os.Remove(tmp)
	srv, err := l.launch(ctx, Options{}, "-XX:ArchiveClassesAtExit="+tmp)
	if err != nil {
		return nil, fmt.Errorf("neo4jserver: recording the class data archive: %w", err)
	}
	srv.Stop() // the JVM writes the archive as it exits
	if fi, err := os.Stat(tmp); err == nil && fi.Size() > 0 && srv.cmd.ProcessState.ExitCode() != -1 {
		return use, os.Rename(tmp, archive)
	}
	_ = os.Remove(tmp)
	note := fmt.Sprintf("%s: no archive (%v); JVM output:\n%s", time.Now().Format(time.RFC3339), srv.cmd.ProcessState, tail(srv.Output(), 4000))
	return nil, os.WriteFile(failed, []byte(note), 0o644)
}

// jvmID names the JVM behind the java binary by its libjvm's path, size and
// time, so a JDK update makes a new archive.
func jvmID(java string) string {
	bin, err := filepath.EvalSymlinks(java)
	if err != nil {
		return ""
	}
	home := filepath.Dir(filepath.Dir(bin))
	fi, err := os.Stat(filepath.Join(home, "lib", "server", "libjvm.so"))
	if err != nil {
		return ""
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", home, fi.Size(), fi.ModTime().UnixNano())))
	return hex.EncodeToString(h[:6])
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
