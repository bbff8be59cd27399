package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// ownPrefixes mark variables meant for usersvc (or for the Amundsen
// settings it takes over): one of these that usersvc does not read is a typo
// or a setting of another product, and silently ignoring it hides a
// misconfiguration.
var ownPrefixes = []string{"FLASK_OIDC_", "OIDC_", "OKTA_", "PROXY_", "CREDENTIALS_PROXY_", "NEO4J_", "SYNC_", "USERSVC_",
	"UPSTREAM_", "EMBEDDED_", "METADATA_", "NEGATIVE_CACHE_", "DIRECTORY_", "LDAP_", "ENTRA_", "GOOGLE_", "SCIM_"}

// testOnly are the test suite's own knobs (README, "Set up"; make exports
// NEO4J_VERSION to what it runs), not settings of the service.
var testOnly = []string{"NEO4J_TEST_", "NEO4J_VERSION", "USERSVC_NEO4J_", "USERSVC_AMUNDSEN_"}

// otherProducts maps names other tools use for the same settings (Neo4j's
// and Okta's own conventions) to usersvc's.
var otherProducts = map[string]string{
	"NEO4J_URI": "PROXY_HOST", "NEO4J_URL": "PROXY_HOST", "NEO4J_HOST": "PROXY_HOST",
	"NEO4J_USER": "CREDENTIALS_PROXY_USER", "NEO4J_USERNAME": "CREDENTIALS_PROXY_USER",
	"NEO4J_PASSWORD": "CREDENTIALS_PROXY_PASSWORD", "NEO4J_DATABASE": "PROXY_DATABASE",
	"OKTA_DOMAIN": "OKTA_CLIENT_ORGURL", "OKTA_ORG_URL": "OKTA_CLIENT_ORGURL", "OKTA_ORGURL": "OKTA_CLIENT_ORGURL",
	"OKTA_API_TOKEN": "OKTA_CLIENT_TOKEN", "OKTA_TOKEN": "OKTA_CLIENT_TOKEN",
}

// warnUnknownVariables writes one line for each variable of environ
// (NAME=value) that has one of usersvc's prefixes but is not a setting it
// reads, naming the nearest one it does read. Values are never printed.
func warnUnknownVariables(environ []string, w io.Writer) {
	known := make([]string, len(envVars))
	for i, v := range envVars {
		known[i] = v.Name
	}
	var names []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(known, name) || !hasAnyPrefix(name, ownPrefixes) || hasAnyPrefix(name, testOnly) {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		fmt.Fprintf(w, "usersvc: warning: %s is not a setting usersvc reads; it is ignored (did you mean %s? `usersvc env` lists them)\n", name, nearest(name, known))
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// nearest is the known name closest to name: another product's name for
// the setting, else the smallest edit distance.
func nearest(name string, known []string) string {
	if n, ok := otherProducts[name]; ok {
		return n
	}
	best, bestDist := "", -1
	for _, k := range known {
		if d := editDistance(name, k); bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
