package main

import (
	"strings"
	"testing"
	"time"
)

func TestEventsPollConfig(t *testing.T) {
	okta := []string{"AUTH_DISABLED", "true", "OKTA_CLIENT_ORGURL", "https://acme.okta.com", "OKTA_CLIENT_TOKEN", "t"}
	file := []string{"AUTH_DISABLED", "true", "DIRECTORY_FILE", "people.json"}
	ok := []struct {
		name     string
		env      []string
		interval time.Duration
		rate     int
	}{
		{"on by default with okta", okta, 30 * time.Second, 10},
		{"off by default with the file", file, 0, 10},
		{"off without a directory", []string{"AUTH_DISABLED", "true"}, 0, 10},
		{"set", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "2m", "OKTA_EVENTS_POLL_MAX_RATE", "4"}, okta...), 2 * time.Minute, 4},
		{"off", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "off"}, okta...), 0, 10},
		{"OFF", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "OFF"}, okta...), 0, 10},
		{"zero", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "0"}, okta...), 0, 10},
		{"off with the file", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "off"}, file...), 0, 10},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(envMap(tt.env...))
			if err != nil || c.EventsPoll.Interval != tt.interval || c.EventsPoll.MaxRate != tt.rate {
				t.Fatalf("events poll = %+v, %v; want %s, %d/min", c.EventsPoll, err, tt.interval, tt.rate)
			}
		})
	}
	bad := []struct {
		name, varName, says string
		env                 []string
	}{
		{"not a duration", "OKTA_EVENTS_POLL_INTERVAL", "duration", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "often"}, okta...)},
		{"negative", "OKTA_EVENTS_POLL_INTERVAL", "duration", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "-5s"}, okta...)},
		{"too short", "OKTA_EVENTS_POLL_INTERVAL", "1s to 24h", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "100ms"}, okta...)},
		{"with the file", "OKTA_EVENTS_POLL_INTERVAL", "DIRECTORY=okta", append([]string{"OKTA_EVENTS_POLL_INTERVAL", "30s"}, file...)},
		{"without a directory", "OKTA_EVENTS_POLL_INTERVAL", "DIRECTORY=okta", []string{"AUTH_DISABLED", "true", "OKTA_EVENTS_POLL_INTERVAL", "30s"}},
		{"rate", "OKTA_EVENTS_POLL_MAX_RATE", "integer", append([]string{"OKTA_EVENTS_POLL_MAX_RATE", "0"}, okta...)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(envMap(tt.env...))
			if !namesVar(err, tt.varName) || !strings.Contains(err.Error(), tt.says) || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("error %v: want one line naming %s and saying %q", err, tt.varName, tt.says)
			}
		})
	}
}

// TestBinaryEventsPollBadValueExits2: a bad value stops the binary with
// exit 2 and one line naming the variable.
func TestBinaryEventsPollBadValueExits2(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, v := range []string{"soon", "30s"} { // a bad duration; polling with the file directory
		_, stderr, code := runBinary(t, []string{"AUTH_DISABLED=true", "LISTEN_ADDR=127.0.0.1:0", "METRICS_ADDR=off",
			"DIRECTORY_FILE=../../examples/directory.json", "OKTA_EVENTS_POLL_INTERVAL=" + v})
		if code != exitConfig || !strings.HasPrefix(stderr, "usersvc: invalid configuration: OKTA_EVENTS_POLL_INTERVAL: ") || strings.Count(stderr, "\n") != 1 {
			t.Fatalf("OKTA_EVENTS_POLL_INTERVAL=%s: exit %d, stderr %q; want 2 and one line", v, code, stderr)
		}
	}
}
