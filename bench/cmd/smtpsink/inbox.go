package main

import (
	"context"
	"strings"
	"sync"
)

// message is one stored mail; seq orders messages across recipients.
type message struct {
	seq uint64
	raw []byte
}

// inbox keeps the newest messages per recipient. Messages are parsed only
// when a link is asked for, so that a flood of issuance mail costs the sink
// (which shares a core with the load tool) as little as possible.
type inbox struct {
	keep, maxRcpts int

	mu       sync.Mutex
	byRcpt   map[string][]message
	seq      uint64
	received uint64
	stored   int
	// arrived is closed (and replaced) whenever a message is stored, waking
	// every waiting nextLink.
	arrived chan struct{}
}

func newInbox(keep, maxRcpts int) *inbox {
	return &inbox{
		keep: max(keep, 1), maxRcpts: max(maxRcpts, 1),
		byRcpt: map[string][]message{}, arrived: make(chan struct{}),
	}
}

// add stores raw under each recipient (case-insensitively), dropping the
// oldest message of a recipient that already holds keep of them.
func (in *inbox) add(rcpts []string, raw []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.received++
	stored := false
	for _, r := range rcpts {
		r = normalize(r)
		q, known := in.byRcpt[r]
		if !known && len(in.byRcpt) >= in.maxRcpts {
			continue
		}
		in.seq++
		if len(q) >= in.keep {
			q = append(q[:0], q[1:]...)
			in.stored--
		}
		in.byRcpt[r] = append(q, message{seq: in.seq, raw: raw})
		in.stored++
		stored = true
	}
	if stored {
		close(in.arrived)
		in.arrived = make(chan struct{})
	}
}

// nextLink removes messages for rcpt (oldest first; any recipient when rcpt
// is empty) until one holds a URL containing substr, which it returns. It
// waits for new mail until ctx ends.
func (in *inbox) nextLink(ctx context.Context, rcpt, substr string) (string, bool) {
	rcpt = normalize(rcpt)
	for {
		raw, ok, arrived := in.pop(rcpt)
		if ok {
			if link := findLink(raw, substr); link != "" {
				return link, true
			}
			continue
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-arrived:
		}
	}
}

// pop removes the oldest message for rcpt (or overall when rcpt is empty).
// When there is none it returns the channel that the next arrival closes.
func (in *inbox) pop(rcpt string) (raw []byte, ok bool, arrived <-chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if rcpt == "" {
		var oldest uint64
		for r, q := range in.byRcpt {
			if len(q) > 0 && (rcpt == "" || q[0].seq < oldest) {
				rcpt, oldest = r, q[0].seq
			}
		}
	}
	q := in.byRcpt[rcpt]
	if len(q) == 0 {
		return nil, false, in.arrived
	}
	raw = q[0].raw
	q[0] = message{} // let the bytes go
	in.byRcpt[rcpt] = q[1:]
	in.stored--
	return raw, true, nil
}

// stats reports messages accepted and messages still stored.
func (in *inbox) stats() (received uint64, stored int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.received, in.stored
}

// normalize strips SMTP path brackets and folds case.
func normalize(addr string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
}
