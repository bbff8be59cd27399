package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// MaxBodyBytes caps request bodies (DESIGN §2, input limits).
const MaxBodyBytes = 1 << 20

// MsgNoUserInformation is Amundsen's answer to an empty PUT /user body.
const MsgNoUserInformation = "No user information provided in the request."

var errTooLarge = schema.Errorf(schema.KindTooLarge, "request body must not exceed 1 MiB")

// readJSONObject reads the body as exactly one JSON object and returns its
// members. An empty body returns (nil, nil) so the caller can answer with
// its own message.
func readJSONObject(c *gin.Context) (map[string]json.RawMessage, error) {
	if c.Request.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, schema.Errorf(schema.KindInvalid, "request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	err = dec.Decode(&fields)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return nil, schema.Errorf(schema.KindInvalid, "request body must be a JSON object")
	case err != nil:
		return nil, schema.Errorf(schema.KindInvalid, "request body is not valid JSON: %s", jsonProblem(err))
	case fields == nil:
		return nil, schema.Errorf(schema.KindInvalid, "request body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, schema.Errorf(schema.KindInvalid, "request body must contain exactly one JSON value")
	}
	return fields, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return "syntax error at byte " + strconv.FormatInt(syntax.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return "malformed"
}
