// Package amundsen runs Amundsen's real code on loopback for tests, from
// PyPI packages pinned in virtualenvs in the user's cache directory (each
// built once per requirements file):
//   - the metadata service (amundsen-metadata, requirements.txt): gunicorn
//     serving metadata_app.py, a small driver that builds the app with
//     Amundsen's own create_app (StartMetadata), and neo4jproxy_call.py,
//     which calls its Neo4jProxy directly (CallNeo4jProxy);
//   - databuilder (amundsen-databuilder, requirements-databuilder.txt):
//     databuilder_load.py publishes CSVs to Neo4j through databuilder's
//     CSV extractor, loader and Neo4jCsvPublisher (Publish).
//
// It also builds, the same way, the virtualenv of a checker that is not
// Amundsen's: scim2-tester, python-scim's SCIM compliance checker
// (requirements-scim.txt, EnsureSCIMTesterVenv), which testsupport/scimtester
// runs against usersvc's SCIM endpoint.
package amundsen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed requirements.txt requirements-databuilder.txt requirements-frontend.txt requirements-scim.txt metadata_app.py frontend_app.py gunicorn_conf.py neo4jproxy_call.py databuilder_load.py
var files embed.FS

// PythonEnv names the interpreter EnsureVenv builds the virtualenv with when
// set; otherwise it is python3 from PATH. The pinned set needs CPython 3.11
// or older (Amundsen's config imports distutils).
const PythonEnv = "USERSVC_AMUNDSEN_PYTHON"

// ErrNoPython is returned (wrapped) by EnsureVenv when there is no
// interpreter to build the virtualenv with.
var ErrNoPython = errors.New("no python3 to build Amundsen's virtualenv with")

// Python returns the interpreter EnsureVenv uses, or an error wrapping
// ErrNoPython.
func Python() (string, error) {
	name := os.Getenv(PythonEnv)
	if name == "" {
		name = "python3"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoPython, err)
	}
	return p, nil
}

// venv is one pinned virtualenv: its directory name prefix, its embedded
// requirements file and the imports that prove it works.
type venv struct {
	prefix, requirements, check, what string
}

// The two virtualenvs: Amundsen's metadata service, and its databuilder
// (requirements-databuilder.txt says why they cannot share one).
var (
	metadataVenv = venv{"amundsen-venv", "requirements.txt",
		"import gunicorn, metadata_service.config, metadata_service.proxy.neo4j_proxy", "amundsen-metadata"}
	databuilderVenv = venv{"databuilder-venv", "requirements-databuilder.txt",
		"import databuilder.publisher.neo4j_csv_publisher, databuilder.loader.file_system_neo4j_csv_loader, " +
			"databuilder.extractor.csv_extractor, databuilder.models.user, databuilder.models.table_owner, " +
			"databuilder.models.table_column_usage, databuilder.models.dashboard.dashboard_owner, amundsen_common.models.user",
		"amundsen-databuilder"}
)

// scimTesterVenv is scim2-tester with scim2-client's httpx2 engine
// (requirements-scim.txt), for testsupport/scimtester.
var scimTesterVenv = venv{"scimtester-venv", "requirements-scim.txt",
	"import httpx2, scim2_client.engines.httpx2, scim2_tester; from scim2_tester import check_server, Status", "scim2-tester"}

// hash is the first 12 hex digits of the requirements file's SHA-256: a new
// pin set gets a new virtualenv.
func (v venv) hash() string {
	b, _ := files.ReadFile(v.requirements)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

func (v venv) dir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "usersvc", v.prefix+"-"+v.hash()), nil
}

// VenvDir is where EnsureVenv keeps the virtualenv:
// os.UserCacheDir()/usersvc/amundsen-venv-<hash of requirements.txt>.
func VenvDir() (string, error) { return metadataVenv.dir() }

// DatabuilderVenvDir is where EnsureDatabuilderVenv keeps its virtualenv:
// os.UserCacheDir()/usersvc/databuilder-venv-<hash of
// requirements-databuilder.txt>.
func DatabuilderVenvDir() (string, error) { return databuilderVenv.dir() }

// stampName marks a finished virtualenv; its content names the interpreter
// it was built with, so a changed python3 rebuilds it.
const stampName = "usersvc-complete"

// EnsureVenv returns the python of a virtualenv with requirements.txt
// installed, building it first when it is missing, half-built (no stamp) or
// was built by another interpreter. Concurrent callers, in this process or
// in other test binaries, wait on a file lock beside the directory. A
// failed install is an error (with pip's output), never a skip.
func EnsureVenv(ctx context.Context) (python string, err error) { return metadataVenv.ensure(ctx) }

// EnsureDatabuilderVenv is EnsureVenv for the databuilder virtualenv
// (requirements-databuilder.txt).
func EnsureDatabuilderVenv(ctx context.Context) (python string, err error) {
	return databuilderVenv.ensure(ctx)
}

// EnsureSCIMTesterVenv is EnsureVenv for the scim2-tester virtualenv
// (requirements-scim.txt), kept in
// os.UserCacheDir()/usersvc/scimtester-venv-<hash of requirements-scim.txt>.
func EnsureSCIMTesterVenv(ctx context.Context) (python string, err error) {
	return scimTesterVenv.ensure(ctx)
}

func (v venv) ensure(ctx context.Context) (python string, err error) {
	base, err := Python()
	if err != nil {
		return "", err
	}
	dir, err := v.dir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()

	identity, err := interpreterIdentity(ctx, base)
	if err != nil {
		return "", err
	}
	python = filepath.Join(dir, "bin", "python")
	if got, err := os.ReadFile(filepath.Join(dir, stampName)); err == nil && string(got) == identity {
		return python, nil
	}

	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if out, err := run(ctx, base, "-m", "venv", dir); err != nil {
		return "", fmt.Errorf("%s -m venv %s: %w\n%s", base, dir, err, out)
	}
	req := filepath.Join(dir, "requirements.txt")
	b, _ := files.ReadFile(v.requirements)
	if err := os.WriteFile(req, b, 0o644); err != nil {
		return "", err
	}
	if out, err := run(ctx, python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "-r", req); err != nil {
		return "", fmt.Errorf("pip install -r %s into %s: %w\n%s", v.requirements, dir, err, tail(out, 8000))
	}
	// What installs must also import on this interpreter.
	if out, err := run(ctx, python, "-c", v.check); err != nil {
		return "", fmt.Errorf("%s does not import in %s (built with %s): %w\n%s", v.what, dir, identity, err, tail(out, 8000))
	}
	if err := os.WriteFile(filepath.Join(dir, stampName), []byte(identity), 0o644); err != nil {
		return "", err
	}
	return python, nil
}

// interpreterIdentity is the resolved executable and full version of base.
func interpreterIdentity(ctx context.Context, base string) (string, error) {
	out, err := run(ctx, base, "-c", "import sys, os; print(os.path.realpath(sys.executable), sys.version.split()[0])")
	if err != nil {
		return "", fmt.Errorf("%s: %w\n%s", base, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("..."), b[len(b)-n:]...)
	}
	return b
}

// lockFile takes an exclusive flock on path, polling so that ctx can end the
// wait (a cold build holds the lock for about half a minute).
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
