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
