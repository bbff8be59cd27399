// Command ensurevenv builds (once) the virtualenvs that testsupport/amundsen
// runs Amundsen's metadata service, databuilder and frontend from, and
// testsupport/scimtester runs scim2-tester from, and prints their pythons.
// make runs it before the tests so that no test waits on pip.
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
	for _, v := range []struct {
		name   string
		ensure func(context.Context) (string, error)
	}{
		{"metadata", amundsen.EnsureVenv},
		{"databuilder", amundsen.EnsureDatabuilderVenv},
		{"frontend", amundsen.EnsureFrontendVenv},
		{"scim2-tester", amundsen.EnsureSCIMTesterVenv},
	} {
		start := time.Now()
		python, err := v.ensure(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ensurevenv (%s): %v\n", v.name, err)
			os.Exit(1)
		}
		fmt.Printf("%s: %s (%.1fs)\n", v.name, python, time.Since(start).Seconds())
	}
}
