package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/go-playground/validator/v10"
)

// UserDecoder turns request bodies into validated users. It owns its
// validator instance (safe for concurrent use) rather than sharing a
// package-level one.
type UserDecoder struct {
	validate *validator.Validate
}

// NewUserDecoder builds a decoder with usersvc's validation rules.
func NewUserDecoder() *UserDecoder {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Error messages name the JSON keys callers sent, not Go field names.
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	// Registration only fails for an empty tag or nil function.
	_ = v.RegisterValidation("idchars", func(fl validator.FieldLevel) bool {
		s := fl.Field().String()
		return s == "" || idProblem(s) == ""
	})
	return &UserDecoder{validate: v}
}

// DecodeUser parses the members of a JSON object into a User, applies
// Amundsen's derivation rules and validates it. Every problem is reported in
// one KindInvalid error, "field: reason" separated by "; ".
func (d *UserDecoder) DecodeUser(fields map[string]json.RawMessage) (User, error) {
	u, problems := parseUserFields(fields)
	if len(problems) > 0 {
		return User{}, Errorf(KindInvalid, "%s", strings.Join(problems, "; "))
	}
	u.Normalize()
	problems = u.requiredProblems()
	for _, name := range slices.Sorted(maps.Keys(u.OtherKeyValues)) {
		var e *Error
		if err := CheckOtherKeyName(name); errors.As(err, &e) {
			problems = append(problems, e.Message)
		}
	}
	if len(problems) > 0 {
		return User{}, Errorf(KindInvalid, "%s", strings.Join(problems, "; "))
	}
	if err := d.Validate(u); err != nil {
		return User{}, err
	}
	return u, nil
}

// Validate checks the field limits of a user, however it was built.
func (d *UserDecoder) Validate(u User) error {
	err := d.validate.Struct(u)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate user: %w", err)
	}
	problems := make([]string, 0, len(verrs))
	for _, fe := range verrs {
		problems = append(problems, fieldProblem(fe))
	}
	return Errorf(KindInvalid, "%s", strings.Join(problems, "; "))
}

func fieldProblem(fe validator.FieldError) string {
	name := fe.Field()
	if strings.HasPrefix(name, "other_key_values[") {
		return "other_key_values: keys must be at most 256 and values at most 4096 characters"
	}
	switch fe.Tag() {
	case "idchars":
		s, _ := fe.Value().(string)
		return name + ": " + idProblem(s)
	case "max":
		if name == "other_key_values" {
			return "other_key_values: must have at most " + fe.Param() + " entries"
		}
		return name + ": must be at most " + fe.Param() + " characters"
	default:
		return name + ": is invalid"
	}
}
