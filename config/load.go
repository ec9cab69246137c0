package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable that overrides a config key:
// server.listen is overridden by LATCHKEY_SERVER_LISTEN.
const EnvPrefix = "LATCHKEY"

// Load reads the config file at path, applies environment overrides, expands
// "${VAR}" references, applies defaults and validates the result. The format
// follows the extension: .yaml or .yml, .toml, .json. An empty path loads the
// embedded demo config (DemoYAML), still with environment overrides.
//
// A file that cannot be read or parsed gives a wrapped error; a file with
// unknown keys, values of the wrong type or invalid settings gives an error
// wrapping a *ValidationError that lists every problem.
func Load(path string) (*Config, error) {
	if path == "" {
		cfg, err := LoadBytes(DemoYAML, "yaml")
		if err != nil {
			return nil, wrapLoadError("embedded demo config", err)
		}
		return cfg, nil
	}
	format, err := formatOf(path)
	if err != nil {
		return nil, fmt.Errorf("config %q: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, err)
	}
	cfg, err := LoadBytes(data, format)
	if err != nil {
		return nil, wrapLoadError(fmt.Sprintf("config %q", path), err)
	}
	return cfg, nil
}

// LoadBytes is Load for a config held in memory; format is "yaml", "yml",
// "toml" or "json" (a leading dot is ignored). Environment overrides and
// "${VAR}" expansion apply as in Load. Problems with the content are returned
// as a *ValidationError.
func LoadBytes(data []byte, format string) (*Config, error) {
	return load(data, format, true)
}

func wrapLoadError(what string, err error) error {
	var verr *ValidationError
	if errors.As(err, &verr) {
		return fmt.Errorf("invalid %s:\n%w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// formatOf maps a file name to its format by extension.
func formatOf(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".yaml", ".yml", ".toml", ".json":
		return ext[1:], nil
	}
	return "", fmt.Errorf("unsupported config file extension %q (want .yaml, .yml, .toml or .json)", ext)
}

// load is the whole pipeline; env=false skips environment overrides (Demo).
func load(data []byte, format string, env bool) (*Config, error) {
	raw, err := parse(data, format)
	if err != nil {
		return nil, err
	}
	var p problems
	// Check keys against the admin's own spelling before viper lower-cases them.
	checkKeys(raw, configType, "", &p)
	resendSet := explicitResendIntervals(raw)

	v := viper.New()
	if env {
		v.SetEnvPrefix(EnvPrefix)
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		v.AutomaticEnv()
		// AutomaticEnv only answers for keys viper already knows; bind every
		// scalar key so an override works even when the file omits the key.
		for _, key := range envKeys(configType, "") {
			if err := v.BindEnv(key); err != nil {
				return nil, fmt.Errorf("bind env for %s: %w", key, err)
			}
		}
	}
	if err := v.MergeConfigMap(raw); err != nil {
		return nil, fmt.Errorf("merge config: %w", err)
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook())); err != nil {
		decodeProblems(err, len(p) > 0, &p)
		if len(p) == 0 { // an error mapstructure did not attribute to a key
			return nil, fmt.Errorf("decode config: %w", err)
		}
	}
	if len(p) > 0 {
		// The struct is only partly decoded; validating it would add noise.
		return nil, p.err()
	}
	for i := range cfg.Realms {
		if resendSet[i] {
			cfg.Realms[i].MagicLink.resendIntervalSet = true
		}
	}

	expandEnv(reflect.ValueOf(&cfg).Elem(), "", &p)
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		var verr *ValidationError
		if !errors.As(err, &verr) {
			return nil, err
		}
		// A key whose ${VAR} was unset is already reported; its empty value
		// would only be reported again as "required".
		seen := map[string]bool{}
		for _, q := range p {
			seen[q.Key] = true
		}
		for _, q := range verr.Problems {
			if !seen[q.Key] {
				p = append(p, q)
			}
		}
	}
	if len(p) > 0 {
		return nil, p.err()
	}
	return &cfg, nil
}

// parse decodes data into a generic map, keeping the admin's key spelling.
func parse(data []byte, format string) (map[string]any, error) {
	raw := map[string]any{}
	var err error
	switch strings.ToLower(strings.TrimPrefix(format, ".")) {
	case "yaml", "yml":
		err = yaml.Unmarshal(data, &raw)
	case "toml":
		err = toml.Unmarshal(data, &raw)
	case "json":
		err = json.Unmarshal(data, &raw)
	default:
		return nil, fmt.Errorf("unsupported config format %q (want yaml, toml or json)", format)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", format, err)
	}
	if raw == nil { // an empty YAML document
		raw = map[string]any{}
	}
	return raw, nil
}

// envKeys lists the dotted keys of every scalar (or string list) reachable from
// t through nested structs. Lists of structs (realms) are not overridable.
func envKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || !f.IsExported() {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			keys = append(keys, envKeys(ft, key)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			// realms: configured in the file only.
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

// explicitResendIntervals reports, per realm index, whether the file wrote
// magicLink.resendInterval (where 0 means "off" rather than "default").
func explicitResendIntervals(raw map[string]any) map[int]bool {
	out := map[int]bool{}
	realms, _ := lookupFold(raw, "realms").([]any)
	for i, r := range realms {
		rm, _ := asStringMap(r)
		ml, _ := asStringMap(lookupFold(rm, "magicLink"))
		if _, ok := findFold(ml, "resendInterval"); ok {
			out[i] = true
		}
	}
	return out
}

func lookupFold(m map[string]any, key string) any {
	v, _ := findFold(m, key)
	return v
}

func findFold(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
