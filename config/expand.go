package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
)

// expandEnv replaces "${NAME}" in every string (and string list element)
// reachable from v, recording a problem for each reference to an unset
// variable. Only the braced form is expanded, so "$" elsewhere (argon2id
// hashes begin with "$argon2id$") is left alone; "$${" stands for a literal
// "${".
func expandEnv(v reflect.Value, path string, p *problems) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandEnv(v.Elem(), path, p)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || !f.IsExported() {
				continue
			}
			expandEnv(v.Field(i), joinKey(path, tag), p)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", path, i), p)
		}
	case reflect.String:
		if !strings.Contains(v.String(), "${") {
			return
		}
		s, err := expandString(v.String(), os.LookupEnv)
		if err != nil {
			p.add(path, "%v", err)
		}
		v.SetString(s)
	}
}

// expandString expands "${NAME}" references in s with lookup. It returns the
// first problem (an unset variable or a malformed reference); the returned
// string then has the faulty reference replaced by "".
func expandString(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				fail(fmt.Errorf("unterminated %q (write ${NAME}, or $${ for a literal ${)", s[i:]))
				return b.String(), firstErr
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			if !validEnvName(name) {
				fail(fmt.Errorf("invalid environment reference %q (write ${NAME}, or $${ for a literal ${)", "${"+name+"}"))
				continue
			}
			val, ok := lookup(name)
			if !ok {
				fail(fmt.Errorf("environment variable %s is not set", name))
				continue
			}
			b.WriteString(val)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), firstErr
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
