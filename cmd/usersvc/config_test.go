package main

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func envMap(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(envMap("AUTH_DISABLED", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":5002" || c.LogLevel != slog.LevelInfo || c.LogFormat != "json" ||
		c.ProxyClient != "embedded" || c.EmbeddedDBPath != "./data/usersvc.db" || c.ShutdownTimeout != 20*time.Second ||
		c.MetricsAddr != ":9102" || c.PprofEnabled {
		t.Fatalf("defaults = %+v", c)
	}
	if c, err := loadConfig(envMap("AUTH_DISABLED", "true", "METRICS_ADDR", "off")); err != nil || c.MetricsAddr != "" {
		t.Fatalf("METRICS_ADDR=off: %q, %v", c.MetricsAddr, err)
	}
	if _, err := loadConfig(envMap("AUTH_DISABLED", "true", "METRICS_ADDR", "9102")); err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("bad METRICS_ADDR accepted: %v", err)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantVar string
	}{
		{"auth or opt-out required", nil, "FLASK_OIDC_CONFIG_URL"},
		{"auth and opt-out together", []string{"AUTH_DISABLED", "true", "FLASK_OIDC_CONFIG_URL", "https://idp.example.com/.well-known/openid-configuration"}, "AUTH_DISABLED"},
		{"discovery URL not absolute", []string{"FLASK_OIDC_CONFIG_URL", "idp.example.com", "FLASK_OIDC_CLIENT_ID", "c"}, "FLASK_OIDC_CONFIG_URL"},
		{"no audience", []string{"FLASK_OIDC_CONFIG_URL", "https://idp.example.com/.well-known/openid-configuration"}, "OIDC_AUDIENCE"},
		{"skew too large", []string{"FLASK_OIDC_CONFIG_URL", "https://idp.example.com/x", "OIDC_AUDIENCE", "a", "OIDC_CLOCK_SKEW", "1h"}, "OIDC_CLOCK_SKEW"},
		{"cache size not a number", []string{"AUTH_DISABLED", "true", "OIDC_TOKEN_CACHE_SIZE", "lots"}, "OIDC_TOKEN_CACHE_SIZE"},
		{"auth not a bool", []string{"AUTH_DISABLED", "maybe"}, "AUTH_DISABLED"},
		{"bad listen addr", []string{"AUTH_DISABLED", "true", "LISTEN_ADDR", "5002"}, "LISTEN_ADDR"},
		{"bad port", []string{"AUTH_DISABLED", "true", "LISTEN_ADDR", ":99999"}, "LISTEN_ADDR"},
		{"pprof without the metrics listener", []string{"AUTH_DISABLED", "true", "METRICS_ADDR", "off", "PPROF_ENABLED", "true"}, "PPROF_ENABLED"},
		{"pprof not a bool", []string{"AUTH_DISABLED", "true", "PPROF_ENABLED", "yes please"}, "PPROF_ENABLED"},
		{"bad log level", []string{"AUTH_DISABLED", "true", "LOG_LEVEL", "loud"}, "LOG_LEVEL"},
		{"bad log format", []string{"AUTH_DISABLED", "true", "LOG_FORMAT", "xml"}, "LOG_FORMAT"},
		{"bad proxy client", []string{"AUTH_DISABLED", "true", "PROXY_CLIENT", "mysql"}, "PROXY_CLIENT"},
		{"bad shutdown timeout", []string{"AUTH_DISABLED", "true", "SHUTDOWN_TIMEOUT", "soon"}, "SHUTDOWN_TIMEOUT"},
		{"bad sync interval", []string{"AUTH_DISABLED", "true", "SYNC_INTERVAL", "hourly"}, "SYNC_INTERVAL"},
		{"guard over 100", []string{"AUTH_DISABLED", "true", "SYNC_MAX_DEACTIVATE_PERCENT", "101"}, "SYNC_MAX_DEACTIVATE_PERCENT"},
		{"team pattern not a regexp", []string{"AUTH_DISABLED", "true", "SYNC_TEAM_GROUP_PATTERN", "team-("}, "SYNC_TEAM_GROUP_PATTERN"},
		{"lease too short", []string{"AUTH_DISABLED", "true", "SYNC_LEASE_TTL", "5s"}, "SYNC_LEASE_TTL"},
		{"unknown directory", []string{"AUTH_DISABLED", "true", "DIRECTORY", "novell"}, "DIRECTORY"},
		{"file directory without a file", []string{"AUTH_DISABLED", "true", "DIRECTORY", "file"}, "DIRECTORY_FILE"},
		{"okta directory without okta", []string{"AUTH_DISABLED", "true", "DIRECTORY", "okta"}, "OKTA_CLIENT_ORGURL"},
		{"unknown validation mode", []string{"AUTH_DISABLED", "true", "OIDC_TOKEN_VALIDATION", "opaque"}, "OIDC_TOKEN_VALIDATION"},
		{"introspection without a secret", []string{"FLASK_OIDC_CONFIG_URL", "https://org.okta.com/.well-known/openid-configuration",
			"FLASK_OIDC_CLIENT_ID", "c", "OIDC_TOKEN_VALIDATION", "introspection"}, "OIDC_TOKEN_VALIDATION"},
		{"introspection without a client id", []string{"FLASK_OIDC_CONFIG_URL", "https://org.okta.com/.well-known/openid-configuration",
			"OIDC_AUDIENCE", "a", "FLASK_OIDC_CLIENT_SECRET", "s", "OIDC_TOKEN_VALIDATION", "introspection"}, "OIDC_TOKEN_VALIDATION"},
		{"introspection URL not absolute", []string{"AUTH_DISABLED", "true", "OIDC_INTROSPECTION_URL", "/oauth2/v1/introspect"}, "OIDC_INTROSPECTION_URL"},
		{"rate zero", []string{"AUTH_DISABLED", "true", "OIDC_INTROSPECTION_RATE", "0"}, "OIDC_INTROSPECTION_RATE"},
		{"rate not a number", []string{"AUTH_DISABLED", "true", "OIDC_INTROSPECTION_RATE", "20/s"}, "OIDC_INTROSPECTION_RATE"},
		{"cache TTL zero", []string{"AUTH_DISABLED", "true", "OIDC_INTROSPECTION_CACHE_TTL", "0s"}, "OIDC_INTROSPECTION_CACHE_TTL"},
		{"negative TTL not a duration", []string{"AUTH_DISABLED", "true", "OIDC_INTROSPECTION_NEGATIVE_TTL", "half"}, "OIDC_INTROSPECTION_NEGATIVE_TTL"},
		{"other key not a property name", []string{"AUTH_DISABLED", "true", "USER_OTHER_KEYS", "okta_id,cost-center"}, "USER_OTHER_KEYS"},
		{"other key is a user property", []string{"AUTH_DISABLED", "true", "USER_OTHER_KEYS", "display_name"}, "USER_OTHER_KEYS"},
		{"other key is the node key", []string{"AUTH_DISABLED", "true", "USER_OTHER_KEYS", "key"}, "USER_OTHER_KEYS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envMap(tt.env...))
			if !namesVar(err, tt.wantVar) {
				t.Fatalf("error = %v, want one naming %s", err, tt.wantVar)
			}
		})
	}
}

func TestLoadConfigOtherKeys(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"", "okta_id"},
		{"okta_id, mode_user_id,employee_number", "okta_id|mode_user_id|employee_number"},
		{"none", ""},
	} {
		c, err := loadConfig(envMap("AUTH_DISABLED", "true", "USER_OTHER_KEYS", tt.value))
		if err != nil || strings.Join(c.OtherKeys, "|") != tt.want {
			t.Errorf("USER_OTHER_KEYS=%q: %q, %v; want %q", tt.value, c.OtherKeys, err, tt.want)
		}
	}
	_, err := loadConfig(envMap("AUTH_DISABLED", "true", "USER_OTHER_KEYS", "okta id"))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `USER_OTHER_KEYS: key "okta id" is not a valid property name`) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestLoadConfigParsesValues(t *testing.T) {
	c, err := loadConfig(envMap("AUTH_DISABLED", "1", "LISTEN_ADDR", "127.0.0.1:8080", "LOG_LEVEL", "DEBUG",
		"LOG_FORMAT", "text", "SHUTDOWN_TIMEOUT", "3s", "EMBEDDED_DB_PATH", "/tmp/x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:8080" || c.LogLevel != slog.LevelDebug || c.LogFormat != "text" ||
		c.ShutdownTimeout != 3*time.Second || c.EmbeddedDBPath != "/tmp/x.db" || !c.AuthDisabled {
		t.Fatalf("config = %+v", c)
	}
}

func TestLoadConfigOIDC(t *testing.T) {
	c, err := loadConfig(envMap(
		"FLASK_OIDC_CONFIG_URL", "https://org.okta.com/oauth2/default/.well-known/openid-configuration",
		"FLASK_OIDC_CLIENT_ID", "0oa-client",
		"FLASK_OIDC_WHITELISTED_ENDPOINTS", " status, healthcheck ,api.healthcheck,",
		"OIDC_REQUIRED_SCOPES", "users.read, profile email",
		"OIDC_WRITE_GROUPS", "data-stewards,admins",
	))
	if err != nil {
		t.Fatal(err)
	}
	o := c.OIDC
	if o.Audience != "0oa-client" || o.UserIDField != "email" || o.GroupsClaim != "groups" || o.ClockSkew != time.Minute || o.TokenCacheSize != 10000 {
		t.Fatalf("oidc defaults = %+v", o)
	}
	if strings.Join(o.Whitelist, "|") != "status|healthcheck|api.healthcheck" ||
		strings.Join(o.RequiredScopes, "|") != "users.read|profile|email" ||
		strings.Join(o.WriteGroups, "|") != "data-stewards|admins" {
		t.Fatalf("lists = %q %q %q", o.Whitelist, o.RequiredScopes, o.WriteGroups)
	}
	if o.TokenValidation != "auto" || o.IntrospectionURL != "" || o.IntrospectionCacheTTL != 5*time.Minute ||
		o.IntrospectionNegTTL != 30*time.Second || o.IntrospectionRate != 20 || o.AudienceSet || introspectionAudience(o) != "" {
		t.Fatalf("introspection defaults = %+v", o)
	}
	c, err = loadConfig(envMap(
		"FLASK_OIDC_CONFIG_URL", "https://org.okta.com/.well-known/openid-configuration",
		"FLASK_OIDC_CLIENT_ID", "0oa-client", "FLASK_OIDC_CLIENT_SECRET", "not-a-real-secret",
		"OIDC_TOKEN_VALIDATION", "Introspection", "OIDC_INTROSPECTION_URL", "https://org.okta.com/oauth2/v1/introspect",
		"OIDC_INTROSPECTION_CACHE_TTL", "1m", "OIDC_INTROSPECTION_NEGATIVE_TTL", "5s", "OIDC_INTROSPECTION_RATE", "50",
		"OIDC_AUDIENCE", "https://org.okta.com",
	))
	if err != nil {
		t.Fatal(err)
	}
	o = c.OIDC
	if o.TokenValidation != "introspection" || o.ClientSecret != "not-a-real-secret" || o.IntrospectionURL != "https://org.okta.com/oauth2/v1/introspect" ||
		o.IntrospectionCacheTTL != time.Minute || o.IntrospectionNegTTL != 5*time.Second || o.IntrospectionRate != 50 ||
		introspectionAudience(o) != "https://org.okta.com" {
		t.Fatalf("introspection settings = %+v", o)
	}
	c, _ = loadConfig(envMap("AUTH_DISABLED", "true"))
	if strings.Join(c.OIDC.Whitelist, ",") != "status,healthcheck,health" {
		t.Fatalf("default whitelist = %q", c.OIDC.Whitelist)
	}
	c, _ = loadConfig(envMap("FLASK_OIDC_CONFIG_URL", "http://localhost:8080/.well-known/openid-configuration", "FLASK_OIDC_CLIENT_ID", "c", "OIDC_AUDIENCE", "api://default"))
	if c.OIDC.Audience != "api://default" {
		t.Fatalf("OIDC_AUDIENCE did not override the client id: %q", c.OIDC.Audience)
	}
}

// TestEveryReadVariableIsDocumented keeps the variable list honest both
// ways. Every name loadConfig reads is in envVars (the list `usersvc env`
// prints and the chart checks use) and the other way round; and envVars
// and the table in docs/configuration.md agree row for row: every variable
// has a row with the same default, and every row names a variable in
// envVars.
func TestEveryReadVariableIsDocumented(t *testing.T) {
	inList := map[string]envVar{}
	for _, v := range envVars {
		inList[v.Name] = v
	}
	read := map[string]bool{}
	_, _ = loadConfig(func(k string) string { read[k] = true; return "" })
	// Each directory's settings are read when it is chosen.
	for _, directory := range []string{"", "entra", "google", "ldap"} {
		_, _ = loadConfig(func(k string) string {
			read[k] = true
			switch k {
			case "AUTH_DISABLED":
				return "true"
			case "DIRECTORY":
				return directory
			}
			return ""
		})
	}
	for k := range read {
		if _, ok := inList[k]; !ok {
			t.Errorf("%s is read but not in envVars", k)
		}
	}
	for k := range inList {
		if !read[k] {
			t.Errorf("%s is in envVars but never read", k)
		}
	}

	// The table in docs/configuration.md: the one whose header is
	// | Variable | Default | Meaning |, one variable per row, the name in
	// backticks; the default cell is compared without backticks.
	const docPath = "../../docs/configuration.md"
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	cells := func(line string) []string {
		line = strings.ReplaceAll(strings.TrimSpace(line), `\|`, "\x00")
		parts := strings.Split(strings.Trim(line, "|"), "|")
		for i, c := range parts {
			parts[i] = strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|"))
		}
		return parts
	}
	plain := func(s string) string { return strings.Join(strings.Fields(strings.ReplaceAll(s, "`", "")), " ") }
	rows := map[string]string{} // name -> default as documented
	tables := 0
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		h := cells(lines[i])
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "|") || len(h) < 3 || h[0] != "Variable" || h[1] != "Default" || h[2] != "Meaning" {
			continue
		}
		tables++
		for i += 2; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
			row := cells(lines[i])
			name := row[0]
			if len(row) < 3 || len(name) < 3 || !strings.HasPrefix(name, "`") || !strings.HasSuffix(name, "`") || strings.Count(name, "`") != 2 {
				t.Errorf("%s:%d: want one variable per row, its name in backticks: %s", docPath, i+1, lines[i])
				continue
			}
			name = strings.Trim(name, "`")
			if _, dup := rows[name]; dup {
				t.Errorf("%s:%d: %s has a second row", docPath, i+1, name)
			}
			rows[name] = plain(row[1])
		}
	}
	if tables != 1 {
		t.Fatalf("%s has %d tables headed | Variable | Default | Meaning |, want exactly one", docPath, tables)
	}
	for _, v := range envVars {
		def, ok := rows[v.Name]
		switch {
		case !ok:
			t.Errorf("%s is in envVars but has no row in %s", v.Name, docPath)
		case def != plain(v.Default):
			t.Errorf("%s: %s says default %q, envVars says %q", v.Name, docPath, def, v.Default)
		}
	}
	for name := range rows {
		if _, ok := inList[name]; !ok {
			t.Errorf("%s has a row in %s but is not in envVars", name, docPath)
		}
	}
}

func TestNeo4jURIFromAmundsenSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		wantURI string
		wantVar string
	}{
		{"amundsen compose", []string{"PROXY_HOST", "bolt://neo4j_amundsen"}, "bolt://neo4j_amundsen:7687", ""},
		{"no scheme", []string{"PROXY_HOST", "neo4j.example.com", "PROXY_PORT", "7688"}, "bolt://neo4j.example.com:7688", ""},
		{"routing scheme", []string{"PROXY_HOST", "neo4j://cluster.example.com"}, "neo4j://cluster.example.com:7687", ""},
		{"encrypted, validated", []string{"PROXY_HOST", "bolt://db", "PROXY_ENCRYPTED", "true", "PROXY_VALIDATE_SSL", "true"}, "bolt+s://db:7687", ""},
		{"encrypted, any certificate", []string{"PROXY_HOST", "neo4j://db", "PROXY_ENCRYPTED", "true"}, "neo4j+ssc://db:7687", ""},
		{"explicit TLS scheme kept", []string{"PROXY_HOST", "neo4j+s://db", "PROXY_ENCRYPTED", "true"}, "neo4j+s://db:7687", ""},
		{"port in host", []string{"PROXY_HOST", "bolt://db:17687"}, "bolt://db:17687", ""},
		{"ipv6", []string{"PROXY_HOST", "bolt://[::1]"}, "bolt://[::1]:7687", ""},
		{"conflicting ports", []string{"PROXY_HOST", "bolt://db:1", "PROXY_PORT", "2"}, "", "PROXY_PORT"},
		{"bad scheme", []string{"PROXY_HOST", "http://db"}, "", "PROXY_HOST"},
		{"path", []string{"PROXY_HOST", "bolt://db/x"}, "", "PROXY_HOST"},
		{"neo4j without host", []string{"PROXY_CLIENT", "neo4j"}, "", "PROXY_HOST"},
		{"bad port", []string{"PROXY_HOST", "db", "PROXY_PORT", "http"}, "", "PROXY_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envMap(append([]string{"AUTH_DISABLED", "true"}, tt.env...)...))
			if tt.wantVar != "" {
				if !namesVar(err, tt.wantVar) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantVar)
				}
				return
			}
			if err != nil || c.ProxyClient != "neo4j" || c.Neo4j.URI != tt.wantURI {
				t.Fatalf("client %q uri %q err %v; want neo4j %q", c.ProxyClient, c.Neo4j.URI, err, tt.wantURI)
			}
		})
	}
}

func TestOktaConfig(t *testing.T) {
	okta := "https://example.okta.com/oauth2/default/.well-known/openid-configuration"
	tests := []struct {
		name    string
		env     []string
		enabled bool
		orgURL  string
		wantVar string
	}{
		{"no okta: resolution off", nil, false, "", ""},
		{"org and token", []string{"OKTA_CLIENT_ORGURL", "https://example.okta.com/", "OKTA_CLIENT_TOKEN", "t"}, true, "https://example.okta.com", ""},
		{"org derived from an Okta issuer", []string{"FLASK_OIDC_CONFIG_URL", okta, "OIDC_AUDIENCE", "api://default", "OKTA_CLIENT_TOKEN", "t"}, true, "https://example.okta.com", ""},
		{"non-Okta issuer: no derived org", []string{"FLASK_OIDC_CONFIG_URL", "https://accounts.google.com/.well-known/openid-configuration", "OIDC_AUDIENCE", "a"}, false, "", ""},
		{"token without org", []string{"AUTH_DISABLED", "true", "OKTA_CLIENT_TOKEN", "t"}, false, "", "OKTA_CLIENT_ORGURL"},
		{"org without token", []string{"OKTA_CLIENT_ORGURL", "https://example.okta.com"}, false, "", "OKTA_CLIENT_TOKEN"},
		{"http org refused", []string{"OKTA_CLIENT_ORGURL", "http://127.0.0.1:9", "OKTA_CLIENT_TOKEN", "t"}, false, "", "OKTA_CLIENT_ORGURL"},
		{"http org for tests", []string{"OKTA_CLIENT_ORGURL", "http://127.0.0.1:9", "OKTA_CLIENT_TOKEN", "t", "OKTA_TESTING_DISABLE_HTTPS_CHECK", "true"}, true, "http://127.0.0.1:9", ""},
		{"private key mode needs a client", []string{"OKTA_CLIENT_ORGURL", "https://e.okta.com", "OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey", "OKTA_CLIENT_PRIVATEKEY", "x"}, false, "", "OKTA_CLIENT_CLIENTID"},
		{"private key mode needs a key", []string{"OKTA_CLIENT_ORGURL", "https://e.okta.com", "OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey", "OKTA_CLIENT_CLIENTID", "c"}, false, "", "OKTA_CLIENT_PRIVATEKEY"},
		{"unreadable key", []string{"OKTA_CLIENT_ORGURL", "https://e.okta.com", "OKTA_CLIENT_AUTHORIZATIONMODE", "privatekey", "OKTA_CLIENT_CLIENTID", "c", "OKTA_CLIENT_PRIVATEKEY", "/nonexistent/key.pem"}, false, "", "OKTA_CLIENT_PRIVATEKEY"},
		{"bad mode", []string{"OKTA_CLIENT_AUTHORIZATIONMODE", "password"}, false, "", "OKTA_CLIENT_AUTHORIZATIONMODE"},
		{"concurrency over Okta's cap", []string{"OKTA_MAX_CONCURRENT", "100"}, false, "", "OKTA_MAX_CONCURRENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if !strings.Contains(strings.Join(env, " "), "FLASK_OIDC_CONFIG_URL") && !strings.Contains(strings.Join(env, " "), "AUTH_DISABLED") {
				env = append(env, "AUTH_DISABLED", "true")
			}
			c, err := loadConfig(envMap(env...))
			if tt.wantVar != "" {
				if !namesVar(err, tt.wantVar) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantVar)
				}
				return
			}
			if err != nil || c.Okta.Enabled != tt.enabled || (tt.enabled && c.Okta.OrgURL != tt.orgURL) {
				t.Fatalf("okta = %+v, err %v", c.Okta, err)
			}
		})
	}
}

func TestDirectorySelection(t *testing.T) {
	okta := []string{"OKTA_CLIENT_ORGURL", "https://acme.okta.com", "OKTA_CLIENT_TOKEN", "t"}
	file := []string{"DIRECTORY_FILE", "people.json"}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"nothing configured", nil, ""},
		{"okta configured", okta, "okta"},
		{"file configured", file, "file"},
		{"both: okta wins", append(append([]string{}, okta...), file...), "okta"},
		{"both, file chosen", append(append([]string{"DIRECTORY", "file"}, okta...), file...), "file"},
		{"explicitly off", append([]string{"DIRECTORY", "OFF"}, file...), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envMap(append([]string{"AUTH_DISABLED", "true"}, tt.env...)...))
			if err != nil || c.Directory != tt.want {
				t.Fatalf("directory = %q, %v; want %q", c.Directory, err, tt.want)
			}
		})
	}
}

func TestSyncConfig(t *testing.T) {
	c, err := loadConfig(envMap("AUTH_DISABLED", "true", "SYNC_INTERVAL", "15m", "SYNC_MAX_DEACTIVATE_PERCENT", "25",
		"SYNC_TEAM_GROUP_PATTERN", "^team-(.+)$", "SYNC_TEAM_OVERWRITE", "true", "SYNC_LEASE_TTL", "30m"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sync
	if s.Interval != 15*time.Minute || s.MaxDeactivatePercent != 25 || s.TeamPattern.String() != "^team-(.+)$" || !s.TeamOverwrite || s.LeaseTTL != 30*time.Minute {
		t.Fatalf("sync config = %+v", s)
	}
	if c, _ := loadConfig(envMap("AUTH_DISABLED", "true")); c.Sync.Interval != 0 || c.Sync.MaxDeactivatePercent != 10 || c.Sync.TeamPattern != nil {
		t.Fatalf("sync defaults = %+v", c.Sync)
	}
}

// namesVar reports whether err is the configuration's list of problems and
// one of them is about the variable name.
func namesVar(err error, name string) bool {
	errs, ok := err.(configErrors)
	if !ok {
		return false
	}
	for _, e := range errs {
		if e.Var == name {
			return true
		}
	}
	return false
}

// TestEveryConfigErrorAtOnce: one start of the built binary shows every
// problem, one line each, so that an operator fixes them in one round
// (exit 2).
func TestEveryConfigErrorAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(buildBinary(t))
	cmd.Env = []string{"LOG_LEVEL=chatty", "LISTEN_ADDR=nowhere", "OKTA_MAX_CONCURRENT=100", "SYNC_LEASE_TTL=5s", "AUTH_DISABLED=true"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	exitErr, ok := err.(*exec.ExitError)
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if !ok || exitErr.ExitCode() != exitConfig || len(lines) != 4 {
		t.Fatalf("run = %v, stderr:\n%s\nwant exit 2 and four lines", err, stderr.String())
	}
	for _, v := range []string{"LISTEN_ADDR", "LOG_LEVEL", "OKTA_MAX_CONCURRENT", "SYNC_LEASE_TTL"} {
		if !strings.Contains(stderr.String(), "usersvc: invalid configuration: "+v+": ") {
			t.Errorf("no line names %s", v)
		}
	}
}

// TestBinaryWarnsOfUnknownVariables: variables with usersvc's prefixes that
// it does not read (another product's name for a setting, a typo) get one
// warning line each, naming the nearest setting, and never their value.
func TestBinaryWarnsOfUnknownVariables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(buildBinary(t), "env")
	cmd.Env = []string{"NEO4J_URI=bolt://secret-host", "OKTA_DOMAIN=example.okta.com", "FLASK_OIDC_CONFG_URL=https://x/.well-known/openid-configuration",
		"PROXY_HOST=bolt://neo4j", "HOME=/tmp", "NEO4J_TEST_USER=test-only"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("usersvc env: %v\n%s", err, stderr.String())
	}
	want := map[string]string{"NEO4J_URI": "PROXY_HOST", "OKTA_DOMAIN": "OKTA_CLIENT_ORGURL", "FLASK_OIDC_CONFG_URL": "FLASK_OIDC_CONFIG_URL"}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s\nwant %d warnings", stderr.String(), len(want))
	}
	for name, near := range want {
		if !strings.Contains(stderr.String(), "warning: "+name+" is not a setting usersvc reads; it is ignored (did you mean "+near+"?") {
			t.Errorf("no warning for %s naming %s:\n%s", name, near, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "secret-host") {
		t.Error("a value was printed")
	}
}
