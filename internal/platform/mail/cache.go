package mail

import (
	"errors"
	"log/slog"
	"sync"
)

// Cache hands out one Sender per distinct Config, so that every realm using
// the same SMTP server shares one connection pool. It is safe for concurrent use.
type Cache struct {
	logger  *slog.Logger
	mu      sync.Mutex
	senders map[Config]Sender
}

// NewCache returns an empty cache; logger receives the LogSender's mails.
func NewCache(logger *slog.Logger) *Cache {
	if logger == nil {
		logger = slog.Default()
	}
	return &Cache{logger: logger, senders: map[Config]Sender{}}
}

// Sender returns the cached sender for cfg, building it with New on first
// use. Configuration errors are returned (and not cached).
func (c *Cache) Sender(cfg Config) (Sender, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.senders[cfg]; ok {
		return s, nil
	}
	s, err := New(cfg, c.logger)
	if err != nil {
		return nil, err
	}
	c.senders[cfg] = s
	return s, nil
}

// Close closes the idle connections of every cached SMTP sender and empties
// the cache.
func (c *Cache) Close() error {
	c.mu.Lock()
	senders := c.senders
	c.senders = map[Config]Sender{}
	c.mu.Unlock()
	var errs []error
	for _, s := range senders {
		if sc, ok := s.(*SMTPSender); ok {
			errs = append(errs, sc.Close())
		}
	}
	return errors.Join(errs...)
}
