package sipcheck

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

var (
	crlf       = []byte("\r\n")
	headersEnd = []byte("\r\n\r\n")
)

// Screen reads a UDP datagram before sipgo does, for the faults that make sipgo's parser give
// up on the whole message and leave the sender without an answer (RFC 4475 §3.1.2):
//
//   - extra spaces between the parts of the request line, or after it (§3.1.2.9, §3.1.2.10),
//     are forgiven: it returns a copy with single spaces;
//   - spaces inside the Request-URI, a Request-URI in angle brackets (§3.1.2.7, §3.1.2.8) or an
//     unknown URI scheme (§3.3.2, §3.3.3: 416) refuse the request;
//   - a CSeq number that is not a number below 2^31 (§3.1.2.4), a Content-Length that is not a
//     number (§3.1.2.3) or larger than the body that arrived (§3.1.2.2; RFC 3261 §18.3) refuse it.
//
// It returns the datagram to parse (data itself when nothing needed repair), or an *Error:
// Salvage builds the answer from what can be read of the request. Responses and datagrams that
// are not SIP at all are passed on untouched. Stream transports cannot use it: a TCP read is not
// one message.
func Screen(data []byte) ([]byte, *Error) {
	end := bytes.Index(data, headersEnd)
	line, _, _ := bytes.Cut(data, crlf)
	if end < 0 || len(line) == 0 || bytes.HasPrefix(line, []byte("SIP/")) {
		return data, nil
	}
	fixed, e := requestLine(string(line))
	if e != nil {
		return nil, e
	}
	body := len(data) - end - len(headersEnd)
	for name, value := range headerFields(data[len(line)+len(crlf) : end+len(crlf)]) {
		switch {
		case bytes.EqualFold(name, []byte("cseq")):
			num, _, _ := bytes.Cut(plainValue(value), []byte(" "))
			if n, ok := number(num, 1<<31); ok && n < 1<<31 {
				continue // the usual case, read without allocating
			}
			v := fieldValue(value)
			num2, _, _ := strings.Cut(v, " ")
			if !digits(num2) {
				return nil, bad(400, "Bad CSeq", "CSeq %q does not start with a number", v)
			}
			if n, err := strconv.ParseUint(num2, 10, 64); err != nil || n >= 1<<31 {
				return nil, bad(400, "Bad CSeq", "CSeq number %s is not below 2^31 (RFC 3261 §8.1.1.5)", num2)
			}
		case bytes.EqualFold(name, []byte("content-length")), bytes.EqualFold(name, []byte("l")):
			if n, ok := number(plainValue(value), uint64(body)+1); ok && n <= uint64(body) {
				continue
			}
			v := fieldValue(value)
			if !digits(v) {
				return nil, bad(400, "Bad Content-Length", "Content-Length %q is not a number", v)
			}
			if n, err := strconv.ParseUint(v, 10, 64); err != nil || n > uint64(body) {
				return nil, bad(400, "Bad Content-Length", "Content-Length %s, but the body that arrived is %d bytes", v, body)
			}
		}
	}
	if fixed == string(line) {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	out = append(out, fixed...)
	return append(out, data[len(line):]...), nil
}

// requestLine returns the request line with single spaces, or why it is refused. A line that is
// not a request line at all is returned as it is: sipgo drops it.
func requestLine(line string) (string, *Error) {
	var words [3]string
	f := words[:0] // no allocation for the usual "METHOD URI SIP/2.0"
	if singleSpaced(line) {
		for w := range strings.SplitSeq(line, " ") {
			f = append(f, w)
		}
	} else {
		f = strings.Fields(line)
	}
	if len(f) < 3 || !strings.HasPrefix(f[len(f)-1], "SIP/") {
		return line, nil
	}
	if len(f) > 3 {
		return "", bad(400, "Bad Request-URI", "spaces inside the Request-URI in %q", line)
	}
	uri := f[1]
	if strings.HasPrefix(uri, "<") {
		return "", bad(400, "Bad Request-URI", "Request-URI %q is enclosed in <>", uri)
	}
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || !validScheme(scheme) {
		return "", bad(400, "Bad Request-URI", "Request-URI %q has no scheme", uri)
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
	default:
		return "", bad(416, "Unsupported URI Scheme", "request-URI scheme %q", scheme)
	}
	if singleSpaced(line) {
		return line, nil
	}
	return strings.Join(f, " "), nil
}

// singleSpaced reports whether line has no white space other than single spaces between
// non-empty words: what strings.Join(strings.Fields(line), " ") would leave unchanged.
func singleSpaced(line string) bool {
	if line == "" || line[0] == ' ' || line[len(line)-1] == ' ' {
		return false
	}
	for i := 0; i < len(line); i++ {
		if line[i] >= 0x80 {
			return false // perhaps a Unicode space: leave it to strings.Fields
		}
		switch line[i] {
		case '\t', '\n', '\v', '\f', '\r':
			return false
		case ' ':
			if line[i+1] == ' ' {
				return false
			}
		}
	}
	return true
}

// validScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// headerFields yields each header field of a header section (every line ending in CRLF) as
// its name, spaces trimmed, and its raw value (see fieldValue). It allocates nothing: Screen
// reads every datagram and looks at two headers.
func headerFields(section []byte) func(yield func(name, value []byte) bool) {
	return func(yield func(name, value []byte) bool) {
		for len(section) > 0 {
			n := fieldLength(section)
			field := section[:n]
			section = section[n:]
			name, value, ok := bytes.Cut(field, []byte(":"))
			if !ok {
				continue
			}
			if !yield(bytes.TrimSpace(name), value) {
				return
			}
		}
	}
}

// plainValue is fieldValue without allocating for a value on one line with single spaces
// (what phones send); nil for another, which number refuses and Screen then reads with
// fieldValue.
func plainValue(value []byte) []byte {
	v := bytes.Trim(value, " \t\r\n")
	for i, c := range v {
		if c == '\r' || c == '\n' || c == '\t' || c >= 0x80 || c == ' ' && v[i+1] == ' ' {
			return nil
		}
	}
	return v
}

// number reads b as a decimal number, stopping once it reaches limit (then n >= limit). ok is
// false when b is empty or not all digits.
func number(b []byte, limit uint64) (n uint64, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + uint64(c-'0')
		}
	}
	return n, true
}

// fieldValue is a raw header value with folded lines joined and runs of white space made one
// space (RFC 3261 §7.3.1).
func fieldValue(value []byte) string {
	return strings.Join(strings.Fields(string(value)), " ")
}

// fieldLength is the length of the header field that starts section, its CRLF and the
// continuation lines that follow included.
func fieldLength(section []byte) int {
	n := 0
	for {
		i := bytes.Index(section[n:], crlf)
		if i < 0 {
			return len(section)
		}
		n += i + len(crlf)
		if n >= len(section) || (section[n] != ' ' && section[n] != '\t') {
			return n
		}
	}
}

// Salvage builds the response that refuses a request sipgo cannot read, from its Via, From, To,
// Call-ID and CSeq (see Response). The request line is replaced and the body left out before
// parsing with p (use NewParser). It returns nil when data is an ACK (never answered), a
// response, or has no Via, Call-ID and CSeq to answer with. src is the packet's source address
// and port.
func Salvage(p *sip.Parser, data []byte, src, transport string, e *Error) *sip.Response {
	line, _, _ := bytes.Cut(data, crlf)
	method, _, _ := strings.Cut(string(line), " ")
	if method == "ACK" || Token(method) != nil || strings.HasPrefix(method, "SIP/") {
		return nil
	}
	end := bytes.Index(data, headersEnd)
	if end < 0 {
		end = len(data) // cut short: salvage the header fields that arrived whole
	}
	var b bytes.Buffer
	b.WriteString(method + " sip:invalid.invalid SIP/2.0\r\n")
	section := data[min(len(line)+len(crlf), end):end]
	for len(section) > 0 {
		n := fieldLength(section)
		name, _, _ := bytes.Cut(section[:n], []byte(":"))
		switch strings.ToLower(strings.TrimSpace(string(name))) {
		case "content-length", "l":
		default:
			b.Write(section[:n])
			if !bytes.HasSuffix(section[:n], crlf) {
				b.Write(crlf)
			}
		}
		section = section[n:]
	}
	b.Write(crlf)
	msg, err := p.ParseSIP(b.Bytes())
	if err != nil {
		return nil
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.Via() == nil || req.GetHeader("Call-ID") == nil || req.GetHeader("CSeq") == nil {
		return nil
	}
	req.SetSource(src)
	req.SetTransport(transport)
	res := Response(req, e.Status, e.Reason)
	// RFC 3261 §18.2.2, RFC 3581 §4: to the source address, and to the Via's port unless the
	// sender asked for rport (what sipgo's transaction layer does for the requests it reads).
	if via := req.Via(); !via.Params.Has("rport") {
		if ap, err := netip.ParseAddrPort(src); err == nil {
			port := via.Port
			if port == 0 {
				port = sip.DefaultPort(transport)
			}
			res.SetDestination(netip.AddrPortFrom(ap.Addr(), uint16(port)).String())
		}
	}
	return res
}
