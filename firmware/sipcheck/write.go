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
	if v, ok := h.(*sip.ViaHeader); ok {
		WriteViaWith(w, v)
		return
	}
	h.StringWrite(w)
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
	if isIPv6(v.Host) {
		w.WriteString("[")
		w.WriteString(v.Host)
		w.WriteString("]")
	} else {
		w.WriteString(v.Host)
	}
	if v.Port > 0 {
		w.WriteString(":")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(v.Port), 10))
	}
	for i, kv := range v.Params {
		if !v.Params[:i].Has(kv.K) { // Add changes only the first of a repeated name
			if j := lastKV(set, kv.K); j >= 0 {
				kv.V = set[j].V
			}
		}
		writeParam(w, kv)
	}
	for j, kv := range set {
		if v.Params.Has(kv.K) || slices.ContainsFunc(set[:j], func(e sip.HeaderKV) bool { return e.K == kv.K }) {
			continue // written above, or appended already
		}
		kv.V = set[lastKV(set, kv.K)].V
		writeParam(w, kv)
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

// writeParam writes ";k=v" as HeaderParams.ToStringWrite does, which allocates its separator.
func writeParam(w *bytes.Buffer, kv sip.HeaderKV) {
	w.WriteByte(';')
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
