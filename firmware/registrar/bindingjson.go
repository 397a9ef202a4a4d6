package registrar

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// The journal and the bindings file are written on every REGISTER that changes a binding, and
// encoding/json's reflection was a tenth of a REGISTER's CPU time. These appenders write the
// same JSON (same keys, same order; encoding/json reads it back) without reflection.

// appendJournalRecord appends rec as one JSON object.
func appendJournalRecord(b []byte, rec journalRecord) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, rec.Seq, 10)
	b = append(b, `,"aor":`...)
	b = appendJSONString(b, rec.AOR)
	b = append(b, `,"bindings":`...)
	b = appendBindings(b, rec.Bindings)
	return append(b, '}')
}

// appendStoreFile appends f as one JSON object.
func appendStoreFile(b []byte, f storeFile) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(f.Version), 10)
	b = append(b, `,"saved":`...)
	b = appendJSONTime(b, f.Saved)
	if f.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, f.Seq, 10)
	}
	b = append(b, `,"bindings":`...)
	b = appendBindings(b, f.Bindings)
	return append(b, '}')
}

func appendBindings(b []byte, bs []Binding) []byte {
	if bs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range bs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBinding(b, x)
	}
	return append(b, ']')
}

func appendBinding(b []byte, x Binding) []byte {
	b = append(b, `{"aor":`...)
	b = appendJSONString(b, x.AOR)
	b = append(b, `,"extension":`...)
	b = appendJSONString(b, x.Extension)
	b = append(b, `,"contact":`...)
	b = appendJSONString(b, x.Contact)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, x.Source)
	b = append(b, `,"transport":`...)
	b = appendJSONString(b, x.Transport)
	b = append(b, `,"call_id":`...)
	b = appendJSONString(b, x.CallID)
	b = append(b, `,"cseq":`...)
	b = strconv.AppendUint(b, uint64(x.CSeq), 10)
	b = append(b, `,"expires":`...)
	b = appendJSONTime(b, x.Expires)
	b = append(b, `,"registered":`...)
	b = appendJSONTime(b, x.Registered)
	if x.UserAgent != "" {
		b = append(b, `,"user_agent":`...)
		b = appendJSONString(b, x.UserAgent)
	}
	b = append(b, `,"reachable":`...)
	b = strconv.AppendBool(b, x.Reachable)
	if x.Instance != "" {
		b = append(b, `,"instance":`...)
		b = appendJSONString(b, x.Instance)
	}
	return append(b, '}')
}

// appendJSONTime writes t as time.Time's MarshalJSON does (RFC 3339 with nanoseconds).
func appendJSONTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		j, _ := json.Marshal(t) // out of range: encoding/json's own answer (an error, so null)
		if j == nil {
			return append(b, "null"...)
		}
		return append(b, j...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString writes s as a JSON string. Text from the network can hold anything: control
// characters are escaped, invalid UTF-8 is left to encoding/json (which replaces it).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	mark := len(b)
	b = append(b, '"')
	start, checked := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			if !checked && !utf8.ValidString(s[i:]) {
				j, _ := json.Marshal(s)
				return append(b[:mark], j...)
			}
			checked = true
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
