// Package config loads and validates Latchkey's configuration file.
//
// A file is YAML, TOML or JSON (chosen by extension) and is read with viper.
// Every scalar key of server, storage, smtp and log, and defaultRealm, can be
// overridden by an environment variable LATCHKEY_<KEY PATH> (dots become
// underscores, e.g. LATCHKEY_SERVER_LISTEN, LATCHKEY_STORAGE_PATH), and
// "${VAR}" in any string value is replaced by that environment variable, so
// secrets can stay out of the file.
//
// Load returns a Config with defaults applied (see Config.ApplyDefaults) that
// passed Config.Validate; anything wrong with the file is reported as one
// *ValidationError listing every problem with its key path, for example
// "realms[0].clients[1].redirectUris[2]: must not contain a fragment".
//
// With no file at all, Load("") and Demo return the embedded demo realm.
//
// The structs here are the file's shape: the realm package turns them into the
// runtime model, so besides the code that starts a server (cmd/latchkey,
// internal/server, internal/testkit, bench/cmd/profserve) only realm should
// import this package.
package config
