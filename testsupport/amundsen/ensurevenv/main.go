// Command ensurevenv builds (once) the virtualenv that
// testsupport/amundsen runs Amundsen's metadata service from, and prints its
// python. make runs it before the tests so that no test waits on pip.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/usersvc/usersvc/testsupport/amundsen"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	python, err := amundsen.EnsureVenv(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ensurevenv:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (%.1fs)\n", python, time.Since(start).Seconds())
}
