package applink

// SetBeforeCommit installs a hook that runs between a request's user lookups
// and its transaction, with the emails of the users about to be created, so
// that tests can create one of them "concurrently".
func SetBeforeCommit(s *Service, f func(newEmails []string)) { s.beforeCommit = f }
