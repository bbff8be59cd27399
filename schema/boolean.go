package schema

import "encoding/json"

// Amundsen loads is_active with marshmallow's fields.Boolean, whose default
// truthy and falsy sets are the only non-boolean inputs it accepts
// (marshmallow src/marshmallow/fields.py, class Boolean). Python's set
// membership makes JSON true, 1 and 1.0 equal to the member 1, and false,
// 0, 0.0 and -0.0 equal to 0; any other value is "Not a valid boolean.".
var (
	marshmallowTruthy = map[string]bool{
		"t": true, "T": true, "true": true, "True": true, "TRUE": true,
		"on": true, "On": true, "ON": true, "y": true, "Y": true,
		"yes": true, "Yes": true, "YES": true, "1": true,
	}
	marshmallowFalsy = map[string]bool{
		"f": true, "F": true, "false": true, "False": true, "FALSE": true,
		"off": true, "Off": true, "OFF": true, "n": true, "N": true,
		"no": true, "No": true, "NO": true, "0": true,
	}
)

// parseBoolean reads a JSON value as marshmallow's fields.Boolean does;
// ok is false for anything outside its sets, null included.
func parseBoolean(raw json.RawMessage) (value, ok bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false
	}
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		if marshmallowTruthy[v] {
			return true, true
		}
		if marshmallowFalsy[v] {
			return false, true
		}
	case float64:
		switch v {
		case 1:
			return true, true
		case 0:
			return false, true
		}
	}
	return false, false
}
