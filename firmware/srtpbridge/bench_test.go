package srtpbridge

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/deskphone/deskphone/firmware/sdes"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelay: one bridged call (SRTP softphone ↔ plain phone, 20 ms G.711 packets), each
// iteration a packet each way through the bridge. cpu-ms/s is the CPU of one second of call
// (50 packets each way), test phones' own SRTP included, so the bridge's share is lower.
func BenchmarkRelay(b *testing.B) {
	br := newBridge(b)
	soft, plain := newPhone(b, true), newPhone(b, false)
	if err := br.Start("bench", true, false, loopback, loopback); err != nil {
		b.Fatal(err)
	}
	toPlain, err := br.Offer(context.Background(), "bench", true, soft.sdp(soft.keys))
	if err != nil {
		b.Fatal(err)
	}
	toSoft, err := br.Answer(context.Background(), "bench", false, plain.sdp(nil))
	if err != nil {
		b.Fatal(err)
	}
	fwd, ans := mustAudio(b, toPlain), mustAudio(b, toSoft)
	local, _, _ := sdes.Answered(ans.crypto, soft.keys)
	if soft.streams, err = sdes.NewStreams(local, ans.crypto[0]); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := range b.N {
		seq := uint16(i + 1)
		soft.send(ans.rtp, packet(seq, 0, 0x55))
		if got := plain.receive(); !bytes.Equal(got[12:], packet(seq, 0, 0x55)[12:]) {
			b.Fatal("plain phone got another payload")
		}
		plain.send(fwd.rtp, packet(seq, 0, 0x66))
		if got := soft.receive(); got[12] != 0x66 {
			b.Fatal("softphone got another payload")
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N)*50, "cpu-ms/s")
}
