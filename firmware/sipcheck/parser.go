package sipcheck

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// NewParser returns sipgo's parser with two changes to how it reads the headers it types
// (Via, From, To, Contact, CSeq, Content-Length, …):
//
//   - whitespace RFC 3261 allows around ";", "=" and inside a URI's angle brackets is dropped
//     (RFC 4475 §3.1.1.1: "tag = 98asjd8" is the tag "98asjd8"), where sipgo would keep it in
//     the parameter's name and value, lose the tag and quote the value when it writes it back;
//   - a header that does not parse no longer makes the whole message unreadable: it is kept as
//     a plain header of the same name, which Request reports as "400 Bad <header>", so the
//     sender gets an answer instead of silence (RFC 4475 §3.1.2).
//
// Give it to sipgo with sipgo.WithUserAgentParser.
func NewParser() *sip.Parser {
	def := sip.DefaultHeadersParser()
	m := make(map[string]sip.HeaderParser, len(def))
	for name, p := range def {
		m[name] = lenient(p)
	}
	return sip.NewParser(sip.WithHeadersParsers(m))
}

// errComma is the text of the error sipgo's header parsers return to say "one list element
// parsed, another follows after the comma": it is not a failure and must reach sipgo unchanged.
const errComma = "comma detected"

func lenient(parse sip.HeaderParser) sip.HeaderParser {
	return func(name []byte, text string) (sip.Header, error) {
		h, err := strict(parse, name, text)
		if err != nil && err.Error() != errComma {
			return sip.NewHeader(canonical(string(name)), text), nil
		}
		tidy(h)
		return h, err
	}
}

// typed reports whether h is one of the header types sipgo's parser produces; a header of a
// typed name that is not typed did not parse.
func typed(h sip.Header) bool {
	switch h.(type) {
	case *sip.ViaHeader, *sip.FromHeader, *sip.ToHeader, *sip.CallIDHeader, *sip.CSeqHeader,
		*sip.ContactHeader, *sip.MaxForwardsHeader, *sip.ContentLengthHeader, *sip.ContentTypeHeader,
		*sip.RouteHeader, *sip.RecordRouteHeader, *sip.ReferToHeader, *sip.ReferredByHeader:
		return true
	}
	return false
}

// parseError says why the value of a header sipgo types does not parse, or "" when it does or
// when sipgo does not type that header.
func parseError(h sip.Header) string {
	if typed(h) {
		return ""
	}
	var buf [32]byte
	name := appendLower(buf[:0], h.Name())
	parse, ok := sip.DefaultHeadersParser()[string(name)] // no copy for a map index
	if !ok {
		return ""
	}
	if _, err := strict(parse, bytes.Clone(name), h.Value()); err != nil && err.Error() != errComma {
		return err.Error()
	}
	return ""
}

// appendLower appends s lower-cased (ASCII letters; header names are tokens) to b.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// strict is sipgo's parse plus the rule sipgo does not apply: an unquoted display name is
// tokens separated by spaces (RFC 3261 §25.1; RFC 4475 §3.1.2.15 "Bell, Alexander").
func strict(parse sip.HeaderParser, name []byte, text string) (sip.Header, error) {
	h, err := parse(name, text)
	switch string(name) {
	case "from", "f", "to", "t", "contact", "m":
		if err == nil || err.Error() == errComma {
			if dn, ok := unquotedDisplayName(text); ok {
				for _, word := range strings.Fields(dn) {
					if Token(word) != nil {
						return nil, fmt.Errorf("display name %q must be in quotes", strings.TrimSpace(dn))
					}
				}
			}
		}
	}
	return h, err
}

// unquotedDisplayName is the text before "<" in a name-addr without quotes.
func unquotedDisplayName(text string) (string, bool) {
	t := strings.TrimLeft(text, lws)
	if strings.HasPrefix(t, `"`) {
		return "", false
	}
	dn, _, ok := strings.Cut(t, "<")
	return dn, ok && strings.TrimSpace(dn) != ""
}

// tidy drops the whitespace sipgo leaves in parameter names and values, URI hosts and Via
// protocol fields.
func tidy(h sip.Header) {
	switch h := h.(type) {
	case *sip.FromHeader:
		tidyURI(&h.Address)
		h.Params = tidyParams(h.Params)
	case *sip.ToHeader:
		tidyURI(&h.Address)
		h.Params = tidyParams(h.Params)
	case *sip.ContactHeader:
		tidyURI(&h.Address)
		h.Params = tidyParams(h.Params)
	case *sip.RouteHeader:
		tidyURI(&h.Address)
	case *sip.RecordRouteHeader:
		tidyURI(&h.Address)
	case *sip.ViaHeader:
		h.ProtocolName = strings.TrimSpace(h.ProtocolName)
		h.ProtocolVersion = strings.TrimSpace(h.ProtocolVersion)
		h.Transport = strings.TrimSpace(h.Transport)
		h.Host = strings.TrimSpace(h.Host)
		if h.Transport == "" {
			if f := strings.Fields(h.Host); len(f) == 2 {
				h.Transport, h.Host = f[0], f[1] // "SIP/2.0/ UDP host": sipgo takes "UDP host" for the host
			}
		}
		h.Params = tidyParams(h.Params)
	}
}

func tidyURI(u *sip.Uri) {
	u.Host = strings.TrimSpace(u.Host)
	u.UriParams = tidyParams(u.UriParams)
}

const lws = " \t"

func tidyParams(ps sip.HeaderParams) sip.HeaderParams {
	out := ps[:0]
	for _, kv := range ps {
		kv.K = strings.Trim(kv.K, lws+";")
		kv.V = strings.Trim(kv.V, lws)
		if kv.K == "" {
			continue // ";;" or "; ;": an empty parameter
		}
		out = append(out, kv)
	}
	return out
}
