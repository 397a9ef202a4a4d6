package sdes

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

func TestAcceptAndAnsweredPickTheOffersSuite(t *testing.T) {
	theirs, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := NewKeys()
	offer := []Crypto{theirs[1]} // only _32
	offer[0].Tag = 7
	local, remote, ok := Accept(offer, ours)
	if !ok || local.Suite.Name != "AES_CM_128_HMAC_SHA1_32" || local.Tag != 7 || remote.Tag != 7 {
		t.Fatalf("Accept = %v %v %v, want our _32 key with tag 7", local, remote, ok)
	}
	if _, _, ok := Answered([]Crypto{{Tag: 9, Suite: local.Suite, Key: local.Key}}, ours); ok {
		t.Error("an answer with a tag we never offered was accepted")
	}
	if l, _, ok := Answered([]Crypto{{Tag: 2, Suite: ours[1].Suite, Key: theirs[1].Key}}, ours); !ok || l.String() != ours[1].String() {
		t.Error("the answer accepting our second line was not matched to it")
	}
}

func TestParseRoundTripAndMalformed(t *testing.T) {
	keys, _ := NewKeys()
	for _, k := range keys {
		c, ok, err := Parse(k.String())
		if !ok || err != nil || c.String() != k.String() {
			t.Errorf("Parse(%q) = %v %v %v", k.String(), c, ok, err)
		}
	}
	if _, _, err := Parse("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="); !errors.Is(err, ErrMalformed) {
		t.Errorf("short key: err = %v, want ErrMalformed", err)
	}
}

func TestStreamsBothWays(t *testing.T) {
	a, _ := NewKeys()
	b, _ := NewKeys()
	for i := range a {
		alice, err := NewStreams(a[i], b[i])
		if err != nil {
			t.Fatal(err)
		}
		bob, _ := NewStreams(b[i], a[i])
		pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, SSRC: 5}, Payload: bytes.Repeat([]byte{0xd5}, 160)}).Marshal()
		enc, err := alice.EncryptRTP(nil, pkt, nil)
		if err != nil || bytes.Contains(enc, bytes.Repeat([]byte{0xd5}, 16)) {
			t.Fatalf("%s: encrypted packet still readable (err %v)", a[i].Suite.Name, err)
		}
		dec, err := bob.DecryptRTP(enc)
		if err != nil || !bytes.Equal(dec, pkt) {
			t.Fatalf("%s: decrypt: %v", a[i].Suite.Name, err)
		}
		if _, err := bob.DecryptRTP(enc); err == nil {
			t.Errorf("%s: a replayed packet was accepted", a[i].Suite.Name)
		}
	}
}

// After a re-offer changing only the remote's key, what we send goes on in the same context: a
// peer that kept its own (its rollover counter at 1 after a sequence wrap) still authenticates
// it. A changed local key starts afresh.
func TestRekeyedKeepsTheSendingContext(t *testing.T) {
	ours, _ := NewKeys()
	theirs, _ := NewKeys()
	st, err := NewStreams(ours[0], theirs[0])
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := NewStreams(theirs[0], ours[0])
	send := func(st *Streams, seq uint16) error { return through(t, st, peer, seq) }
	for _, seq := range []uint16{65534, 65535, 0} {
		if err := send(st, seq); err != nil {
			t.Fatal(err)
		}
	}
	newTheirs, _ := NewKeys()
	re, err := st.Rekeyed(ours[0], newTheirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := send(re, 1); err != nil {
		t.Fatalf("after a rekey of the remote's key: %v", err)
	}
	if fresh, _ := re.Rekeyed(ours[1], newTheirs[0]); fresh.tx == re.tx {
		t.Error("a new local key kept the old sending context")
	}
}

// The mirror image: a re-offer that changes only our key keeps the receiving context, so the
// far end's packets past a sequence wrap still decrypt (and its replay window stays).
func TestRekeyedKeepsTheReceivingContext(t *testing.T) {
	ours, _ := NewKeys()
	theirs, _ := NewKeys()
	st, err := NewStreams(ours[0], theirs[0])
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := NewStreams(theirs[0], ours[0])
	receive := func(st *Streams, seq uint16) error { return through(t, peer, st, seq) }
	for _, seq := range []uint16{65534, 65535, 0} {
		if err := receive(st, seq); err != nil {
			t.Fatal(err)
		}
	}
	re, err := st.Rekeyed(ours[1], theirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := receive(re, 1); err != nil {
		t.Fatalf("after a rekey of our own key: %v", err)
	}
}

// through sends one RTP packet with sequence number seq from one end to the other and reports
// whether it decrypted there.
func through(t *testing.T, from, to *Streams, seq uint16) error {
	t.Helper()
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, SSRC: 7}, Payload: []byte{1, 2, 3}}).Marshal()
	enc, err := from.EncryptRTP(nil, pkt, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = to.DecryptRTP(enc)
	return err
}
