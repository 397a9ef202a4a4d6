// Package sipcheck applies the RFC 3261 / RFC 4475 sanity rules that sipgo's parser leaves to the
// application, so a registrar, a proxy or a user agent can answer a malformed request with the
// status the RFC asks for instead of acting on it.
package sipcheck

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Limits bound what a request may carry. The zero value means DefaultLimits. The number of
// header fields (and of Via entries: RFC 4475 §3.1.1.7 has 34) is bounded only by the size of
// the message, which the transport limits.
type Limits struct {
	MaxTokenLength int // tags, branch, Call-ID
	MaxHeaderBytes int // one header value
}

// DefaultLimits are generous for real phones and small enough to keep a hostile message cheap.
func DefaultLimits() Limits {
	return Limits{MaxTokenLength: 256, MaxHeaderBytes: 4096}
}

// Error is a request that must be refused with Status and Reason (RFC 3261 §21).
type Error struct {
	Status int
	Reason string // reason phrase, safe to put on a status line
	Detail string // for logs
}

// Error gives the status, the reason and the detail, for logs.
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Reason, e.Detail) }

func bad(status int, reason, format string, args ...any) *Error {
	return &Error{Status: status, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// countedHeaders are the headers Request counts: the first mandatoryHeaders must be present
// (RFC 3261 §8.1.1), and all but Via may appear at most once (RFC 3261 §7.3: only comma-list
// headers repeat).
var countedHeaders = [...]string{"Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type", "Expires"}

const mandatoryHeaders = 5

// counted is the index in countedHeaders of a header name, full or compact, in any case; -1 for
// the others. It allocates nothing.
func counted(name string) int {
	if len(name) == 1 {
		switch name[0] | 0x20 {
		case 'v':
			return 0
		case 'f':
			return 1
		case 't':
			return 2
		case 'i':
			return 3
		case 'l':
			return 6
		case 'c':
			return 7
		}
		return -1
	}
	for i, n := range countedHeaders {
		if strings.EqualFold(name, n) {
			return i
		}
	}
	return -1
}

// valueWriters are reused buffers for header values (WriteHeader).
var valueWriters = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 512)) }}

// Request checks req and returns a *Error saying how to refuse it, or nil.
// It covers the RFC 4475 §3.1.2 and §3.3 cases sipgo accepts: wrong SIP version (505), unknown
// URI scheme (416), missing or repeated mandatory headers, CSeq/method mismatch, non-numeric
// Expires, control characters in header values and oversized tokens (400).
func Request(req *sip.Request, lim Limits) *Error {
	if lim == (Limits{}) {
		lim = DefaultLimits()
	}
	if req.SipVersion != "SIP/2.0" {
		return bad(505, "Version Not Supported", "version %q", req.SipVersion)
	}
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips":
	case "tel":
	default:
		return bad(416, "Unsupported URI Scheme", "request-URI scheme %q", req.Recipient.Scheme)
	}
	if req.Recipient.Host == "" && !strings.EqualFold(req.Recipient.Scheme, "tel") {
		return bad(400, "Bad Request-URI", "request-URI without host")
	}
	var counts [len(countedHeaders)]int
	w := valueWriters.Get().(*bytes.Buffer)
	defer valueWriters.Put(w)
	for _, h := range req.Headers() {
		name := h.Name()
		if err := Token(name); err != nil {
			return bad(400, "Bad Header", "header name %q: %v", name, err)
		}
		// The value as sipgo writes it, into a reused buffer: Value() builds a new string for
		// every typed header.
		w.Reset()
		WriteHeader(w, h)
		v := w.Bytes()[min(len(name)+2, w.Len()):]
		if len(v) > lim.MaxHeaderBytes {
			return bad(400, "Header Too Long", "%s is %d bytes", name, len(v))
		}
		if err := wireText(v); err != nil {
			return bad(400, "Bad Header", "%s: %v", name, err)
		}
		if why := parseError(h); why != "" {
			canon := canonical(name)
			return bad(400, "Bad "+canon, "%s %q: %s", canon, v, why)
		}
		if i := counted(name); i >= 0 {
			counts[i]++
		}
	}
	for i, n := range countedHeaders[:mandatoryHeaders] {
		if counts[i] == 0 {
			return bad(400, "Missing "+n, "no %s header", n)
		}
	}
	for i, n := range countedHeaders[1:] { // every counted header but Via appears at most once
		if counts[i+1] > 1 {
			return bad(400, "Repeated "+n, "%d %s headers", counts[i+1], n)
		}
	}
	from, to, callID, cseq, via := req.From(), req.To(), req.CallID(), req.CSeq(), req.Via()
	if from == nil || to == nil || callID == nil || cseq == nil || via == nil {
		return bad(400, "Bad Header", "mandatory header does not parse")
	}
	if cseq.SeqNo >= 1<<31 {
		return bad(400, "Bad CSeq", "CSeq number %d is not below 2^31 (RFC 3261 §8.1.1.5)", cseq.SeqNo)
	}
	if !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return bad(400, "CSeq Method Mismatch", "CSeq %s on %s", cseq.MethodName, req.Method)
	}
	if via.ProtocolName != "SIP" || via.ProtocolVersion != "2.0" {
		return bad(400, "Bad Via", "Via protocol %s/%s", via.ProtocolName, via.ProtocolVersion)
	}
	if b := via.Params.GetOr("branch", ""); b == "z9hG4bK" {
		return bad(400, "Bad Via Branch", "branch is only the magic cookie (RFC 3261 §8.1.1.7)")
	}
	for _, t := range []struct{ what, v string }{
		{"Call-ID", callID.Value()},
		{"From tag", from.Params.GetOr("tag", "")},
		{"To tag", to.Params.GetOr("tag", "")},
		{"branch", via.Params.GetOr("branch", "")},
	} {
		if len(t.v) > lim.MaxTokenLength {
			return bad(400, "Bad "+t.what, "%s is %d bytes", t.what, len(t.v))
		}
	}
	if h := Header(req.Headers(), "Expires"); h != nil {
		if _, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32); err != nil {
			return bad(400, "Bad Expires", "Expires %q", h.Value())
		}
	}
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		return bad(400, "Bad Content-Length", "Content-Length %d, body %d bytes", *cl, len(req.Body()))
	}
	return nil
}

// canonical maps compact and odd-case header names to their full RFC 3261 form.
func canonical(name string) string {
	switch strings.ToLower(name) {
	case "v", "via":
		return "Via"
	case "f", "from":
		return "From"
	case "t", "to":
		return "To"
	case "i", "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	case "max-forwards":
		return "Max-Forwards"
	case "l", "content-length":
		return "Content-Length"
	case "c", "content-type":
		return "Content-Type"
	case "expires":
		return "Expires"
	case "m", "contact":
		return "Contact"
	case "route":
		return "Route"
	case "record-route":
		return "Record-Route"
	case "r", "refer-to":
		return "Refer-To"
	case "b", "referred-by":
		return "Referred-By"
	}
	return name
}

// Unsupported lists the option tags of the named header (Require or Proxy-Require) that are not
// in supported, for a 420 Bad Extension with an Unsupported header (RFC 3261 §8.2.2.3, §16.3).
func Unsupported(req *sip.Request, header string, supported ...string) []string {
	var out []string
	for h := range Headers(req.Headers(), header) {
		for _, tag := range strings.Split(h.Value(), ",") {
			tag = strings.TrimSpace(tag)
			if tag == "" {
				continue
			}
			if !slices.ContainsFunc(supported, func(s string) bool { return strings.EqualFold(s, tag) }) {
				out = append(out, tag)
			}
		}
	}
	return out
}

// wireText is Text for a header received from the network: other control characters may appear
// escaped as quoted-pairs inside quoted strings (RFC 3261 §25.1), CR and LF never.
func wireText[T string | []byte](s T) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] != '\r' && s[i+1] != '\n' {
			i++
			continue
		}
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w at byte %d", ErrControl, i)
		}
	}
	return nil
}

// ErrControl is returned for CR, LF, NUL or another control character where SIP text is expected.
var ErrControl = errors.New("control character (CR, LF, NUL, …) not allowed")

// ErrNotToken is returned for a header name or parameter that is not an RFC 3261 §25.1 token.
var ErrNotToken = errors.New("not a SIP token")

// Text reports whether s may be written into a header value: no CR, LF, NUL or other control
// character except horizontal tab. Check every string from a user, a web form or a provisioning
// file with it before it reaches a SIP header.
func Text(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return fmt.Errorf("%w at byte %d", ErrControl, i)
		}
	}
	return nil
}

// Token reports whether s is a non-empty RFC 3261 token (header names, parameter names).
func Token(s string) error {
	if s == "" {
		return ErrNotToken
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return fmt.Errorf("%w: %q", ErrNotToken, s)
		}
	}
	return nil
}

// Header is the first of hs named name, in any case, or nil: a message's GetHeader without
// the allocation sipgo makes for every header of an uncommon name it passes over.
func Header(hs []sip.Header, name string) sip.Header {
	for _, h := range hs {
		if asciiEqualFold(h.Name(), name) {
			return h
		}
	}
	return nil
}

// Headers yields those of hs named name, in any case (GetHeaders without allocating).
func Headers(hs []sip.Header, name string) iter.Seq[sip.Header] {
	return func(yield func(sip.Header) bool) {
		for _, h := range hs {
			if asciiEqualFold(h.Name(), name) && !yield(h) {
				return
			}
		}
	}
}

// asciiEqualFold is strings.EqualFold for ASCII header names, as sipgo compares them.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
