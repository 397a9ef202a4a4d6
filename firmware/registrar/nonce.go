package registrar

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Nonces (RFC 2617 §3.2.1) that need no table to verify, as Kamailio's auth module does: a nonce
// is its issue time and a serial number, signed with a per-start secret and the address the
// challenge went to. Any number of challenges costs no memory, so a flood of them cannot push out
// the nonce a real phone is answering with.
//
// Replay protection (RFC 2617 §3.2.2: the nonce-count must increase) needs a record, but only of
// nonces answered with a correct digest, which only password holders can send. Records leave
// when their nonce expires.
const (
	nonceStampLen = 8 + 4 // issue time (Unix ns) and serial
	nonceMACLen   = 16
	nonceLen      = nonceStampLen + nonceMACLen
)

type nonceKey [nonceMACLen]byte

// ncRecord is what is remembered of a nonce after its first correct answer.
type ncRecord struct {
	issued int64  // Unix ns, from the nonce
	nc     uint64 // highest nonce-count accepted so far
	used   bool   // accepted once without qop
	tx     uint64 // transactionHash of the request that brought nc (or the use without qop)
}

// nonces issues and checks digest nonces.
type nonces struct {
	secret   []byte
	mac      *macs // keyed with secret
	lifetime time.Duration
	max      int // records kept at most (see use)
	serial   atomic.Uint32

	mu    sync.Mutex
	used  map[nonceKey]*ncRecord
	floor int64 // nonces issued before this (Unix ns) are stale: their records had to go
}

func newNonces(lifetime time.Duration, max int) *nonces {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &nonces{secret: secret, mac: newMACs(secret), lifetime: lifetime, max: max, used: map[nonceKey]*ncRecord{}}
}

// macs hands out HMAC-SHA256 states keyed once: hmac.New costs two hash states and the key
// schedule, on every challenge and every answer.
type macs struct{ pool sync.Pool }

// macState is a keyed state and a buffer for the string it hashes (io.WriteString would copy
// it: the HMAC has no WriteString).
type macState struct {
	h   hash.Hash
	buf []byte
}

func newMACs(key []byte) *macs {
	m := &macs{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return m
}

// sum appends the MAC of a followed by b to dst.
func (m *macs) sum(dst, a []byte, b string) []byte {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(a)
	st.buf = append(st.buf[:0], b...)
	st.h.Write(st.buf)
	dst = st.h.Sum(dst)
	m.pool.Put(st)
	return dst
}

func (t *nonces) sign(stamp []byte, source string) nonceKey {
	var sum [sha256.Size]byte
	var k nonceKey
	copy(k[:], t.mac.sum(sum[:0], stamp, source))
	return k
}

// issue creates a nonce for a challenge sent to source (an IP address).
func (t *nonces) issue(source string, now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	binary.BigEndian.PutUint32(b[8:12], t.serial.Add(1))
	k := t.sign(b[:nonceStampLen], source)
	copy(b[nonceStampLen:], k[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// size is the number of nonce-count records held.
func (t *nonces) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.used)
}

// nonceVerdict is the outcome of checking a nonce whose digest was already found correct.
type nonceVerdict int

const (
	nonceOK     nonceVerdict = iota
	nonceStale               // not ours, expired or from another address: challenge again with stale=true
	nonceReplay              // nonce-count not increasing: a replayed request
	nonceAgain               // the request that brought the current nonce-count, again: a retransmission
)

// use checks a nonce for one request whose digest is correct, and records its nonce-count. tx
// identifies the request's transaction (transactionHash): the same nonce-count from the same
// transaction is a retransmission, not a replay.
func (t *nonces) use(nonce, source, qop, ncHex string, tx uint64, now time.Time) nonceVerdict {
	var b [nonceLen]byte
	if base64.RawURLEncoding.DecodedLen(len(nonce)) != nonceLen {
		return nonceStale
	}
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(nonce)); err != nil || n != nonceLen {
		return nonceStale
	}
	k := t.sign(b[:nonceStampLen], source)
	if !hmac.Equal(k[:], b[nonceStampLen:]) {
		return nonceStale
	}
	issued := int64(binary.BigEndian.Uint64(b[:8]))
	age := now.UnixNano() - issued
	if age > int64(t.lifetime) || age < -int64(time.Minute) {
		return nonceStale
	}
	var nc uint64
	if qop != "" {
		var err error
		if nc, err = strconv.ParseUint(ncHex, 16, 64); err != nil || len(ncHex) != 8 || nc == 0 {
			return nonceReplay
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if issued < t.floor {
		return nonceStale
	}
	rec, ok := t.used[k]
	if !ok {
		if len(t.used) >= t.max {
			t.makeRoomLocked(now)
			if issued < t.floor {
				return nonceStale
			}
		}
		rec = &ncRecord{issued: issued}
		t.used[k] = rec
	}
	if qop == "" {
		if rec.used {
			return t.again(rec, tx)
		}
		rec.used, rec.tx = true, tx
		return nonceOK
	}
	if nc == rec.nc {
		return t.again(rec, tx)
	}
	if nc < rec.nc {
		return nonceReplay
	}
	rec.nc, rec.tx = nc, tx
	return nonceOK
}

func (t *nonces) again(rec *ncRecord, tx uint64) nonceVerdict {
	if tx != 0 && rec.tx == tx {
		return nonceAgain
	}
	return nonceReplay
}

// expire forgets the records of expired nonces.
func (t *nonces) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now)
}

func (t *nonces) expireLocked(now time.Time) {
	oldest := now.UnixNano() - int64(t.lifetime)
	for k, rec := range t.used {
		if rec.issued < oldest {
			delete(t.used, k)
		}
	}
}

// makeRoomLocked frees records when max of them are held: expired ones first; failing that
// (more than max correct answers within one nonce lifetime, which no office of phones produces)
// the older half of the nonces becomes stale, so their clients are simply challenged again. A
// forgotten record never lets a replay through.
func (t *nonces) makeRoomLocked(now time.Time) {
	t.expireLocked(now)
	for len(t.used) >= t.max {
		oldest := now.UnixNano()
		for _, rec := range t.used {
			oldest = min(oldest, rec.issued)
		}
		t.floor = max(t.floor, oldest+(now.UnixNano()-oldest)/2+1)
		for k, rec := range t.used {
			if rec.issued < t.floor {
				delete(t.used, k)
			}
		}
	}
}
