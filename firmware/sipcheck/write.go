package sipcheck

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// WriteHeader writes h as h.StringWrite does ("Name: value"), without the string sipgo's Via
// builds for its value on every write.
func WriteHeader(w *bytes.Buffer, h sip.Header) {
	switch h := h.(type) {
	case *sip.ViaHeader:
		WriteViaWith(w, h)
	case *sip.FromHeader:
		writeNameAddr(w, "From: ", h.DisplayName, &h.Address, h.Params)
	case *sip.ToHeader:
		writeNameAddr(w, "To: ", h.DisplayName, &h.Address, h.Params)
	case *sip.ContactHeader:
		if h.Address.Wildcard {
			w.WriteString("Contact: *")
			return
		}
		writeNameAddr(w, "Contact: ", h.DisplayName, &h.Address, h.Params)
	default:
		h.StringWrite(w)
	}
}

// writeNameAddr writes a From, To or Contact header as sipgo does.
func writeNameAddr(w *bytes.Buffer, name, display string, addr *sip.Uri, params sip.HeaderParams) {
	w.WriteString(name)
	if display != "" {
		w.WriteString(`"`)
		w.WriteString(display)
		w.WriteString(`" `)
	}
	w.WriteString("<")
	WriteURI(w, addr)
	w.WriteString(">")
	for _, kv := range params {
		writeParam(w, ';', kv)
	}
}

// WriteURI writes u as u.StringWrite does, without the strings it builds for the parameters.
func WriteURI(w *bytes.Buffer, u *sip.Uri) {
	scheme := u.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	w.WriteString(scheme)
	w.WriteString(":")
	if raw := u.Raw(); raw != "" {
		w.WriteString(raw)
		return
	}
	if u.HierarhicalSlashes {
		w.WriteString("//")
	}
	if u.User != "" {
		w.WriteString(u.User)
		if u.Password != "" {
			w.WriteString(":")
			w.WriteString(u.Password)
		}
		w.WriteString("@")
	}
	writeHost(w, u.Host, u.Port)
	for _, kv := range u.UriParams {
		writeParam(w, ';', kv)
	}
	for i, kv := range u.Headers {
		sep := byte('&')
		if i == 0 {
			sep = '?'
		}
		writeParam(w, sep, kv)
	}
}

// URIString is u.String(), with one allocation (the string).
func URIString(u *sip.Uri) string {
	w := valueWriters.Get().(*bytes.Buffer)
	w.Reset()
	WriteURI(w, u)
	s := w.String()
	valueWriters.Put(w)
	return s
}

// writeHost writes host[:port], an IPv6 address in brackets.
func writeHost(w *bytes.Buffer, host string, port int) {
	if isIPv6(host) {
		w.WriteString("[")
		w.WriteString(host)
		w.WriteString("]")
	} else {
		w.WriteString(host)
	}
	if port > 0 {
		w.WriteString(":")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(port), 10))
	}
}

// WriteViaWith writes v as WriteHeader does, with the parameters in set as v.Params.Add would
// set them, in order (a value replaced in place, a new parameter appended), without changing v.
func WriteViaWith(w *bytes.Buffer, v *sip.ViaHeader, set ...sip.HeaderKV) {
	w.WriteString("Via: ")
	w.WriteString(v.ProtocolName)
	w.WriteString("/")
	w.WriteString(v.ProtocolVersion)
	w.WriteString("/")
	w.WriteString(v.Transport)
	w.WriteString(" ")
	writeHost(w, v.Host, v.Port)
	for i, kv := range v.Params {
		if !v.Params[:i].Has(kv.K) { // Add changes only the first of a repeated name
			if j := lastKV(set, kv.K); j >= 0 {
				kv.V = set[j].V
			}
		}
		writeParam(w, ';', kv)
	}
	for j, kv := range set {
		if v.Params.Has(kv.K) || slices.ContainsFunc(set[:j], func(e sip.HeaderKV) bool { return e.K == kv.K }) {
			continue // written above, or appended already
		}
		kv.V = set[lastKV(set, kv.K)].V
		writeParam(w, ';', kv)
	}
}

// lastKV is the index of the last element of set named k, or -1.
func lastKV(set []sip.HeaderKV, k string) int {
	for j := len(set) - 1; j >= 0; j-- {
		if set[j].K == k {
			return j
		}
	}
	return -1
}

// writeParam writes ";k=v" (sep first) as HeaderParams.ToStringWrite does, which allocates its
// separator, and ToString, which builds a string.
func writeParam(w *bytes.Buffer, sep byte, kv sip.HeaderKV) {
	w.WriteByte(sep)
	w.WriteString(kv.K)
	if kv.V == "" {
		return
	}
	if strings.ContainsAny(kv.V, " \t") {
		w.WriteString("=\"")
		w.WriteString(kv.V)
		w.WriteString("\"")
	} else {
		w.WriteByte('=')
		w.WriteString(kv.V)
	}
}

// isIPv6 is sipgo's test for a host written in brackets: an IPv6 address, not an IPv4-mapped
// one, without a zone (net.ParseIP's, without its allocation).
func isIPv6(host string) bool {
	if !strings.Contains(host, ":") {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is6() && !a.Is4In6() && a.Zone() == ""
}
