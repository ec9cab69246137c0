package mail

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// dialKey carries a *dialState through go-mail's dial so that the sender
// learns which socket belongs to the client go-mail builds.
type dialKey struct{}

// dialState links one dial to the sender's context: go-mail applies the
// context to the TCP connect only, so the socket's deadline is tied to ctx
// for the rest of the handshake (EHLO, STARTTLS, AUTH) until stop is called.
type dialState struct {
	ctx  context.Context
	raw  *cancelConn
	stop func() bool
}

// dialer returns go-mail's dial function: TCP, wrapped in a cancelConn, and
// for implicit TLS the handshake on top (bounded by ctx).
func dialer(implicit bool, tlsCfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		raw := &cancelConn{Conn: c}
		if st, ok := ctx.Value(dialKey{}).(*dialState); ok {
			st.raw, st.stop = raw, context.AfterFunc(st.ctx, raw.cancel)
		}
		if !implicit {
			return raw, nil
		}
		tc := tls.Client(raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// cancelConn is a socket whose deadline can be forced into the past from
// another goroutine, and stays there: go-mail holds a lock for a whole SMTP
// command and refreshes deadlines itself, so closing its client or setting a
// deadline once would not reliably interrupt a blocked command.
type cancelConn struct {
	net.Conn
	mu        sync.Mutex
	cancelled bool
}

var past = time.Unix(1, 0)

func (c *cancelConn) clamp(t time.Time) time.Time {
	if c.cancelled {
		return past
	}
	return t
}

// SetDeadline implements net.Conn.
func (c *cancelConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetDeadline(c.clamp(t))
}

// SetReadDeadline implements net.Conn.
func (c *cancelConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetWriteDeadline implements net.Conn.
func (c *cancelConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// cancel makes every pending and future read and write fail at once.
func (c *cancelConn) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelled = true
	_ = c.Conn.SetDeadline(past)
}
