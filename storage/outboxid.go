package storage

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// OutboxIDs hands out the IDs of outbox entries enqueued without one, the
// same on every backend: 16 hex digits of big-endian Unix nanoseconds, then
// 16 random hex digits. Fixed width makes byte order time order; the
// nanoseconds are kept strictly increasing within the process so that the
// entries of one call stay in order, and the random half keeps IDs of
// replicas that hit the same nanosecond apart. The zero value is ready.
type OutboxIDs struct{ last atomic.Int64 }

// Next returns a new ID for an entry enqueued at now.
func (g *OutboxIDs) Next(now time.Time) string {
	nanos := now.UnixNano()
	for {
		last := g.last.Load()
		if nanos <= last {
			nanos = last + 1
		}
		if g.last.CompareAndSwap(last, nanos) {
			break
		}
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(nanos))
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
