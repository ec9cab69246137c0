package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
)

// fieldInfo is one config key of a struct: its canonical spelling and type.
type fieldInfo struct {
	key string
	typ reflect.Type
}

// fieldsOf maps the lower-cased mapstructure key of every tagged field of the
// struct type t (viper and mapstructure match keys case-insensitively).
func fieldsOf(t reflect.Type) map[string]fieldInfo {
	out := make(map[string]fieldInfo, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || !f.IsExported() {
			continue
		}
		out[strings.ToLower(tag)] = fieldInfo{key: tag, typ: f.Type}
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkKeys reports every key of raw that no field of the struct type t
// accepts, and keys written twice with different case, recursing into nested
// structs and lists of structs. Paths use the canonical spelling for known
// keys and the admin's spelling for unknown ones.
func checkKeys(raw map[string]any, t reflect.Type, path string, p *problems) {
	fields := fieldsOf(t)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]string{}
	for _, k := range keys {
		lower := strings.ToLower(k)
		if prev, dup := seen[lower]; dup {
			p.add(joinKey(path, k), "duplicate key (also written as %q; keys are case-insensitive)", prev)
			continue
		}
		seen[lower] = k
		f, ok := fields[lower]
		if !ok {
			p.add(joinKey(path, k), "unknown key%s", suggest(k, fields))
			continue
		}
		checkValue(raw[k], f.typ, joinKey(path, f.key), p)
	}
}

func checkValue(v any, t reflect.Type, path string, p *problems) {
	t = deref(t)
	switch t.Kind() {
	case reflect.Struct:
		if m, ok := asStringMap(v); ok {
			checkKeys(m, t, path, p)
		}
	case reflect.Slice:
		et := deref(t.Elem())
		if et.Kind() != reflect.Struct {
			return
		}
		list, _ := v.([]any)
		for i, e := range list {
			checkValue(e, et, fmt.Sprintf("%s[%d]", path, i), p)
		}
	}
	// Type mismatches are left to mapstructure, which names the key too.
}

// asStringMap accepts the map shapes the YAML, TOML and JSON decoders produce.
func asStringMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	}
	return nil, false
}

// suggest returns ` (did you mean "x"?)` for the known key closest to key,
// or "" when none is close: snake_case or kebab-case spellings and small
// typos are the usual mistakes.
func suggest(key string, fields map[string]fieldInfo) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	known := make([]string, 0, len(fields))
	for _, f := range fields {
		known = append(known, f.key)
	}
	sort.Strings(known)
	best, bestDist := "", -1
	for _, k := range known {
		if norm(k) == norm(key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		d := levenshtein(strings.ToLower(key), strings.ToLower(k))
		if d <= max(1, min(3, len(k)/4)) && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// canonicalPath rewrites a key path as viper or mapstructure spell it
// ("realms[0].tokens.accesstokenlifespan") with the camelCase keys of the
// struct tags ("realms[0].tokens.accessTokenLifespan"), and returns the type
// of the value it names (nil when unknown). Unknown segments are kept as they
// are.
func canonicalPath(path string) (string, reflect.Type) {
	if path == "" {
		return "", configType
	}
	t := configType
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		base, idx := seg, ""
		if j := strings.IndexByte(seg, '['); j >= 0 {
			base, idx = seg[:j], seg[j:]
		}
		if t == nil || t.Kind() != reflect.Struct {
			t = nil
			continue
		}
		f, ok := fieldsOf(t)[strings.ToLower(base)]
		if !ok {
			t = nil
			continue
		}
		segs[i] = f.key + idx
		t = deref(f.typ)
		for n := strings.Count(idx, "["); n > 0 && t != nil; n-- {
			if t.Kind() != reflect.Slice {
				t = nil
				break
			}
			t = deref(t.Elem())
		}
	}
	return strings.Join(segs, "."), t
}

// decodeProblems turns mapstructure's joined errors into problems keyed by
// canonical paths. Unknown-key errors are skipped when checkKeys already
// reported them (it keeps the admin's spelling, mapstructure does not).
func decodeProblems(err error, skipUnknown bool, p *problems) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			decodeProblems(e, skipUnknown, p)
		}
		return
	}
	de, ok := err.(*mapstructure.DecodeError)
	if !ok {
		if inner := errors.Unwrap(err); inner != nil { // viper's "decoding failed" wrapper
			decodeProblems(inner, skipUnknown, p)
			return
		}
		p.add("", "%v", err)
		return
	}
	inner := de.Unwrap()
	var nested *mapstructure.DecodeError
	if _, joined := inner.(interface{ Unwrap() []error }); joined || errors.As(inner, &nested) {
		decodeProblems(inner, skipUnknown, p)
		return
	}
	key, typ := canonicalPath(de.Name())
	if rest, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
		if skipUnknown {
			return
		}
		for _, k := range strings.Split(rest, ", ") {
			full, _ := canonicalPath(joinKey(de.Name(), k))
			p.add(full, "unknown key")
		}
		return
	}
	p.add(key, "%s", describeDecodeError(inner, typ))
}

// describeDecodeError words a mapstructure error for an admin.
func describeDecodeError(err error, target reflect.Type) string {
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case target == durationType && !strings.Contains(err.Error(), "has no unit"):
		return fmt.Sprintf(`invalid duration: %v (write a number with a unit, e.g. "90s", "5m", "24h")`, err)
	case errors.As(err, &pe):
		return fmt.Sprintf("cannot read %q as %s", fmt.Sprint(pe.Value), describeType(pe.Expected.Type()))
	case errors.As(err, &ue):
		return fmt.Sprintf("expected %s, got %s", describeType(ue.Expected.Type()), describeValue(ue.Value))
	}
	msg := err.Error()
	msg = strings.Replace(msg, "expected a map or struct", "expected a mapping (key: value pairs)", 1)
	return msg
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value pairs)"
	}
	return t.String()
}

func describeValue(v any) string {
	if v == nil {
		return "nothing"
	}
	if _, ok := asStringMap(v); ok {
		return "a mapping"
	}
	return describeType(reflect.TypeOf(v))
}

// decodeHook converts the strings and numbers of a file or environment
// variable into the config's types.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		numberDurationHook,
		mapstructure.StringToTimeDurationHookFunc(),
		stringToListHook,
	)
}

// numberDurationHook refuses a bare non-zero number where a duration is
// expected: mapstructure would read "lifespan: 300" as 300 nanoseconds.
func numberDurationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit (write e.g. \"%vs\" or \"%vm\")", data, data, data)
	}
	return data, nil
}

// stringToListHook splits "a, b" into [a b] for string lists, which is how a
// list arrives from an environment variable (LATCHKEY_SERVER_TRUSTEDPROXIES).
func stringToListHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() != reflect.String {
		return data, nil
	}
	out := []string{}
	for s := range strings.SplitSeq(data.(string), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
