package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// EventHookPath is where Okta delivers event hooks.
const EventHookPath = "/okta/event-hooks"

// EventHookConfig turns on Okta Event Hooks at EventHookPath. The route
// sits outside the bearer-token middleware: Okta authenticates with the
// secret it is configured to send in Header (Okta's "Authentication field"
// and "Authentication secret"), not with a token.
type EventHookConfig struct {
	Header string // default Authorization
	Secret string
	Sink   EventSink
}

// EventSink takes the events of one delivery, quickly: the work happens
// after the answer. An error of kind unavailable (queue full) is answered
// 503 with Retry-After.
type EventSink interface {
	SubmitHookEvents(events []schema.HookEvent) error
}

// maxHookBody bounds a delivery (Okta sends at most 50 events per call).
const maxHookBody = 1 << 20

// hookPayload is the part of Okta's delivery usersvc reads:
// {"eventType":"com.okta.event_hook","eventTypeVersion":"1.0",
// "cloudEventsVersion":"0.1","source":...,"eventId":...,
// "data":{"events":[<LogEvent>...]}}, each event a System Log LogEvent.
type hookPayload struct {
	EventType string `json:"eventType"`
	Data      *struct {
		Events []schema.LogEvent `json:"events"`
	} `json:"data"`
}

// eventHook serves EventHookPath.
type eventHook struct {
	header string
	digest [sha256.Size]byte
	sink   EventSink
}

func newEventHook(cfg *EventHookConfig) *eventHook {
	if cfg == nil || cfg.Secret == "" || cfg.Sink == nil {
		return nil
	}
	h := &eventHook{header: cfg.Header, digest: sha256.Sum256([]byte(cfg.Secret)), sink: cfg.Sink}
	if h.header == "" {
		h.header = "Authorization"
	}
	return h
}

// authorized compares the configured header with the secret in constant
// time: both sides are hashed first, so not even the length leaks. The
// header's value is never logged.
func (h *eventHook) authorized(r *http.Request) bool {
	values := r.Header.Values(h.header)
	if len(values) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(values[0]))
	return subtle.ConstantTimeCompare(got[:], h.digest[:]) == 1
}

// isEventHook reports whether the request is for the event-hook route,
// which authenticates on its own.
func (s *server) isEventHook(c *gin.Context) bool {
	return s.hook != nil && c.FullPath() == EventHookPath
}

// verifyEventHook answers Okta's one-time verification GET: the value of
// X-Okta-Verification-Challenge echoed as {"verification": ...}.
func (s *server) verifyEventHook(c *gin.Context) {
	if !s.hook.authorized(c.Request) {
		abortJSON(c, http.StatusUnauthorized, "event hook authentication failed")
		return
	}
	challenge := c.GetHeader("X-Okta-Verification-Challenge")
	if challenge == "" || len(challenge) > 1024 || !utf8.ValidString(challenge) || schema.HasControl(challenge) {
		abortJSON(c, http.StatusBadRequest, "X-Okta-Verification-Challenge is missing or invalid")
		return
	}
	c.JSON(http.StatusOK, gin.H{"verification": challenge})
}

// receiveEventHook acknowledges a delivery once its events are queued;
// nothing is done for a delivery that is refused.
func (s *server) receiveEventHook(c *gin.Context) {
	if !s.hook.authorized(c.Request) {
		abortJSON(c, http.StatusUnauthorized, "event hook authentication failed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxHookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abortJSON(c, http.StatusRequestEntityTooLarge, "the delivery is larger than 1 MiB")
			return
		}
		abortJSON(c, http.StatusBadRequest, "could not read the delivery")
		return
	}
	events, msg := parseHookPayload(body)
	if msg != "" {
		abortJSON(c, http.StatusBadRequest, msg)
		return
	}
	if err := s.hook.sink.SubmitHookEvents(events); err != nil {
		respondError(c, s.log, err)
		return
	}
	c.Status(http.StatusOK)
}

// parseHookPayload validates a delivery and returns its events, or the
// reason it is refused.
func parseHookPayload(body []byte) ([]schema.HookEvent, string) {
	var p hookPayload
	if !json.Valid(body) {
		return nil, "the delivery is not valid JSON"
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "the delivery is not an Okta event hook payload: " + err.Error()
	}
	if p.Data == nil {
		return nil, "the delivery has no data.events"
	}
	events := make([]schema.HookEvent, 0, len(p.Data.Events))
	for _, e := range p.Data.Events {
		switch {
		case e.UUID == "" || e.EventType == "":
			return nil, "every event needs a uuid and an eventType"
		case !e.Usable():
			return nil, "an event's uuid or eventType is invalid"
		case e.BadUserTargets() > 0:
			return nil, "a User target's id is missing or invalid"
		}
		events = append(events, e.HookEvent())
	}
	return events, ""
}
