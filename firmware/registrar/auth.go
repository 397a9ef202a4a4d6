package registrar

import (
	"crypto/subtle"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
	"github.com/deskphone/deskphone/firmware/sipcheck"
)

// authenticate checks the request's digest credentials for our realm (RFC 3261 §22.4).
func (r *Registrar) authenticate(req *sip.Request, proxy bool) (accounts.Account, authResult) {
	name := "Authorization"
	if proxy {
		name = "Proxy-Authorization"
	}
	src := sourceIP(req).String()
	result := authNone
	for h := range sipcheck.Headers(req.Headers(), name) {
		c, err := parseCredentials(h.Value())
		if err != nil {
			result = authFailed
			continue
		}
		if c.Realm != r.cfg.Realm {
			continue
		}
		acct, known := r.accts.Lookup(c.Username)
		pass := acct.Password
		if !known {
			pass = dummyHA1 // hash anyway: unknown users cost the same as known ones
		}
		h1 := md5Hex(c.Username, ":", r.cfg.Realm, ":", pass)
		if !checkDigest(c, string(h1[:]), string(req.Method)) || !known {
			return accounts.Account{}, authFailed
		}
		switch r.nonces.use(c.Nonce, src, c.QOP, c.NC, transactionHash(req), r.clock.Now()) {
		case nonceOK:
			return acct, authOK
		case nonceAgain:
			return acct, authAgain
		case nonceStale:
			return accounts.Account{}, authStale
		default:
			return accounts.Account{}, authFailed
		}
	}
	return accounts.Account{}, result
}

// challenge answers 401 (REGISTER) or 407 (proxied requests) with a fresh nonce. Unknown users,
// wrong passwords and missing credentials all get exactly this response (field notes §1.6.1).
func (r *Registrar) challenge(req *sip.Request, tx responder, proxy, stale bool) {
	nonce := r.nonces.issue(sourceIP(req).String(), r.clock.Now())
	value := challenge(r.cfg.Realm, nonce, r.opaque, stale)
	if proxy {
		r.answer(tx, req, 407, "Proxy Authentication Required", sip.NewHeader("Proxy-Authenticate", value))
		return
	}
	r.answer(tx, req, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", value))
}

// authorize runs authenticate and answers the request itself unless the result is authOK.
func (r *Registrar) authorize(req *sip.Request, tx responder, proxy bool) (accounts.Account, bool) {
	acct, res := r.authorizeOrAgain(req, tx, proxy, false)
	return acct, res == authOK
}

// authorizeOrAgain is authorize that, when again is set, also returns authAgain without
// answering: a retransmission of a request already accepted, which the caller answers without
// acting on it again. Otherwise authAgain is challenged with stale=true, not counted as a failure.
func (r *Registrar) authorizeOrAgain(req *sip.Request, tx responder, proxy, again bool) (accounts.Account, authResult) {
	acct, res := r.authenticate(req, proxy)
	switch res {
	case authOK:
		return acct, res
	case authAgain:
		if again {
			return acct, res
		}
	case authFailed:
		user := ""
		if h := req.From(); h != nil {
			user = h.Address.User
		}
		r.log.Warn("authentication failed", "method", string(req.Method), "src", req.Source(), "from_user", user)
		if r.guard.authFailed(sourceIP(req)) {
			return acct, res // banned now: say nothing more
		}
	}
	r.challenge(req, tx, proxy, res == authStale || res == authAgain)
	return acct, res
}

// dummyHA1 is used for unknown users so they cost the same hashing as known ones.
const dummyHA1 = "00000000000000000000000000000000"

// authResult says what authenticate found.
type authResult int

const (
	authNone   authResult = iota // no credentials for our realm: challenge
	authOK                       // valid credentials
	authStale                    // valid digest, stale nonce: challenge with stale=true
	authFailed                   // wrong password, unknown user, replay or malformed: challenge, count a failure
	authAgain                    // valid credentials of a request already accepted: its retransmission
)

// checkDigest compares a response in constant time.
func checkDigest(c credentials, ha1, method string) bool {
	want := responseHex(c, ha1, method)
	return subtle.ConstantTimeCompare(want[:], []byte(c.Response)) == 1
}
