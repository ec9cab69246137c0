package main

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
)

// urlRE finds URLs in decoded mail text; quotes and angle brackets end one.
var urlRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

// findLink returns the first URL containing substr in the message's decoded
// text/plain parts, then its text/html parts (HTML entities unescaped), or ""
// when there is none. Mail libraries wrap long lines with quoted-printable
// soft breaks and encode "=" as "=3D", so the raw bytes are searched only as
// a last resort (for input that is not a MIME message).
func findLink(raw []byte, substr string) string {
	var plain, htm strings.Builder
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		plain.Write(raw)
	} else {
		walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, &plain, &htm, 0)
	}
	for _, text := range []string{plain.String(), html.UnescapeString(htm.String()), string(raw)} {
		for _, u := range urlRE.FindAllString(text, -1) {
			if strings.Contains(u, substr) {
				return u
			}
		}
	}
	return ""
}

// walk decodes one MIME entity into plain or htm, descending into multiparts
// (at most a few levels deep: real mail nests two).
func walk(ctype, enc string, body io.Reader, plain, htm *strings.Builder, depth int) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth > 4 {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, plain, htm, depth+1)
		}
	}
	r := body
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	switch mt {
	case "text/plain":
		plain.Write(b)
		plain.WriteByte('\n')
	case "text/html":
		htm.Write(b)
		htm.WriteByte('\n')
	}
}

// newlineStripper drops CR and LF, which base64 bodies carry every 76 characters.
type newlineStripper struct{ r io.Reader }

func (s newlineStripper) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		kept := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' {
				p[kept] = c
				kept++
			}
		}
		if kept > 0 || err != nil {
			return kept, err
		}
	}
}
