package registrar

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// credentials are the fields of an Authorization or Proxy-Authorization header (RFC 3261 §25.1
// "credentials", RFC 2617 §3.2.2).
type credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string
	Cnonce    string
	Opaque    string
	QOP       string
	NC        string
}

// errBadCredentials says a credentials header could not be parsed.
var errBadCredentials = errors.New("malformed digest credentials")

// maxCredentialsLength bounds the header a client may send (a real one is under 512 bytes).
const maxCredentialsLength = 2048

// parseCredentials parses `Digest k=v, k="v", …`. It rejects duplicate parameters, unterminated
// quotes and control characters, and never allocates more than the input size.
// field is the member of c a credentials parameter sets, and a bit of its own; nil for others.
func (c *credentials) field(key string) (*string, uint16) {
	switch key {
	case "username":
		return &c.Username, 1 << 0
	case "realm":
		return &c.Realm, 1 << 1
	case "nonce":
		return &c.Nonce, 1 << 2
	case "uri":
		return &c.URI, 1 << 3
	case "response":
		return &c.Response, 1 << 4
	case "algorithm":
		return &c.Algorithm, 1 << 5
	case "cnonce":
		return &c.Cnonce, 1 << 6
	case "opaque":
		return &c.Opaque, 1 << 7
	case "qop":
		return &c.QOP, 1 << 8
	case "nc":
		return &c.NC, 1 << 9
	}
	return nil, 0
}

func parseCredentials(s string) (credentials, error) {
	var c credentials
	if len(s) > maxCredentialsLength {
		return c, fmt.Errorf("%w: %d bytes", errBadCredentials, len(s))
	}
	s = strings.TrimLeft(s, " \t")
	if len(s) < 7 || !strings.EqualFold(s[:6], "Digest") || (s[6] != ' ' && s[6] != '\t') {
		return c, fmt.Errorf("%w: not a Digest scheme", errBadCredentials)
	}
	s = s[7:]
	// Which parameters were seen: the known ones by bit, any others by name (rare).
	var seen uint16
	var seenOther []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return c, fmt.Errorf("%w: parameter without value", errBadCredentials)
		}
		key := strings.ToLower(strings.TrimRight(s[:eq], " \t"))
		for i := 0; i < len(key); i++ {
			if !(key[i] >= 'a' && key[i] <= 'z' || key[i] == '-' || key[i] == '_' || key[i] >= '0' && key[i] <= '9') {
				return c, fmt.Errorf("%w: bad parameter name", errBadCredentials)
			}
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b []byte // only for a value with quoted-pairs; others are a substring of s
			i := 1
			closed := false
			for ; i < len(s); i++ {
				ch := s[i]
				if ch == '\\' && i+1 < len(s) {
					if b == nil {
						b = append(make([]byte, 0, len(s)), s[1:i]...)
					}
					i++
					b = append(b, s[i])
					continue
				}
				if ch == '"' {
					closed = true
					break
				}
				if b != nil {
					b = append(b, ch)
				}
			}
			if !closed {
				return c, fmt.Errorf("%w: unterminated quoted string", errBadCredentials)
			}
			if b != nil {
				val = string(b)
			} else {
				val = s[1:i]
			}
			s = s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimRight(s[:end], " \t")
			s = s[end:]
		}
		for i := 0; i < len(val); i++ {
			if val[i] < 0x20 || val[i] == 0x7f {
				return c, fmt.Errorf("%w: control character", errBadCredentials)
			}
		}
		f, bit := c.field(key)
		if seen&bit != 0 || bit == 0 && slices.Contains(seenOther, key) {
			return c, fmt.Errorf("%w: repeated %s", errBadCredentials, key)
		}
		if f != nil {
			seen |= bit
			*f = val
		} else {
			seenOther = append(seenOther, key)
		}
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return c, fmt.Errorf("%w: missing comma", errBadCredentials)
		}
		s = s[1:]
	}
	if c.Username == "" || c.Realm == "" || c.Nonce == "" || c.URI == "" || c.Response == "" {
		return c, fmt.Errorf("%w: username, realm, nonce, uri and response are required", errBadCredentials)
	}
	if c.Algorithm != "" && !strings.EqualFold(c.Algorithm, "MD5") {
		return c, fmt.Errorf("%w: algorithm %q not supported", errBadCredentials, c.Algorithm)
	}
	if c.QOP != "" && c.QOP != "auth" {
		return c, fmt.Errorf("%w: qop %q not supported", errBadCredentials, c.QOP)
	}
	if c.QOP == "auth" && (c.NC == "" || c.Cnonce == "") {
		return c, fmt.Errorf("%w: qop=auth needs nc and cnonce", errBadCredentials)
	}
	if len(c.Response) != 32 {
		return c, fmt.Errorf("%w: response is not an MD5 digest", errBadCredentials)
	}
	return c, nil
}

// hexDigest is an MD5 digest in lower-case hex, as digest authentication writes them.
type hexDigest [2 * md5.Size]byte

// md5Hex is the hexDigest of the parts one after the other (no allocation for a short input).
func md5Hex(parts ...string) hexDigest {
	var buf [256]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	sum := md5.Sum(b)
	var h hexDigest
	hex.Encode(h[:], sum[:])
	return h
}

// ha1 is H(username:realm:password), RFC 2617 §3.2.2.2.
func ha1(user, realm, password string) string {
	h := md5Hex(user, ":", realm, ":", password)
	return string(h[:])
}

// expectedResponse is the request-digest of RFC 2617 §3.2.2.1 for method.
func expectedResponse(c credentials, ha1, method string) string {
	h := responseHex(c, ha1, method)
	return string(h[:])
}

func responseHex(c credentials, ha1, method string) hexDigest {
	ha2 := md5Hex(method, ":", c.URI)
	if c.QOP == "auth" {
		return md5Hex(ha1, ":", c.Nonce, ":", c.NC, ":", c.Cnonce, ":auth:", string(ha2[:]))
	}
	return md5Hex(ha1, ":", c.Nonce, ":", string(ha2[:]))
}

// challenge is the WWW-Authenticate / Proxy-Authenticate value (RFC 2617 §3.2.1).
func challenge(realm, nonce, opaque string, stale bool) string {
	var b strings.Builder
	b.Grow(len(realm) + len(nonce) + len(opaque) + 80)
	b.WriteString(`Digest realm="`)
	b.WriteString(realm)
	b.WriteString(`", nonce="`)
	b.WriteString(nonce)
	b.WriteString(`", opaque="`)
	b.WriteString(opaque)
	b.WriteString(`", algorithm=MD5, qop="auth"`)
	if stale {
		b.WriteString(`, stale=true`)
	}
	return b.String()
}
