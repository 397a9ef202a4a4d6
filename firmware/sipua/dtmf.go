package sipua

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// SendDTMF sends digits as RFC 4733 events on the negotiated payload type.
func (u *UA) SendDTMF(id, digits string) {
	u.do(id, func(c *call) {
		m := c.media
		c.spawn(func() {
			if err := m.SendDTMF(digits); err != nil {
				c.log.Warn("DTMF not sent", "err", err)
			}
		})
	})
}

// watchDTMF reports the digits the far end sends (RFC 4733 or SIP INFO) until the call ends.
func (c *call) watchDTMF() {
	ch := c.media.DTMF()
	if ch == nil {
		return
	}
	c.spawn(func() {
		for {
			select {
			case <-c.done:
				return
			case r, ok := <-ch:
				if !ok {
					return
				}
				c.post(func() {
					c.log.Info("DTMF received", "digit", string(r))
					c.u.lis.DTMFReceived(c.id, r)
				})
			}
		}
	})
}

// onInfo receives SIP INFO DTMF (application/dtmf-relay "Signal=5", or application/dtmf "5").
func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := u.callOf(req, tx)
	if c == nil {
		return
	}
	digit, code := infoDigit(headerValue(req, "Content-Type"), req.Body())
	if code != 200 {
		tx.Respond(sip.NewResponseFromRequest(req, code, reasonOfInfo(code), nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	c.media.ReceiveSIPInfoDTMF(digit)
}

// infoDigit reads the digit of a SIP INFO DTMF body: "Signal=5" for application/dtmf-relay, "5"
// for application/dtmf. The code is the status to answer: 200, 415 for another type, 400 for no
// digit.
func infoDigit(contentType string, body []byte) (rune, int) {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	text := strings.TrimSpace(string(body))
	var digit rune
	switch {
	case strings.HasPrefix(ct, "application/dtmf-relay"):
		for _, line := range strings.Split(text, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				if v = strings.TrimSpace(v); len(v) > 0 {
					digit = rune(v[0])
				}
			}
		}
	case strings.HasPrefix(ct, "application/dtmf"):
		if len(text) > 0 {
			digit = rune(text[0])
		}
	default:
		return 0, 415
	}
	if digit == 0 || !strings.ContainsRune("0123456789*#ABCDabcd", digit) {
		return 0, 400
	}
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	return digit, 200
}

func reasonOfInfo(code int) string {
	if code == 415 {
		return "Unsupported Media Type"
	}
	return "Bad Request (no DTMF signal)"
}
