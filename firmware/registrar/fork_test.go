package registrar

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/firmware/accounts"
)

// forkRecorder stands in for the network around a fork transaction: what it answered upstream,
// which branches it cancelled or gave up.
type forkRecorder struct {
	sip.ServerTransaction // only Respond is used

	mu         sync.Mutex
	upstream   []int // status codes sent to the caller, through the transaction or statelessly
	cancelled  []int // branch indexes that got a CANCEL
	terminated []int
	branches   []*branch
}

func (f *forkRecorder) Respond(res *sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upstream = append(f.upstream, res.StatusCode)
	return nil
}
func (f *forkRecorder) reply(_ sip.ServerTransaction, _ *sip.Request, code int, _ string, _ ...sip.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upstream = append(f.upstream, code)
}
func (f *forkRecorder) strayResponse(res *sip.Response) { _ = f.Respond(res) }
func (f *forkRecorder) cancelBranch(_ context.Context, br *branch) {
	br.cancelSent = true
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancelled = append(f.cancelled, slices.Index(f.branches, br))
}

func (f *forkRecorder) seen() (upstream, cancelled, terminated []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.upstream), slices.Clone(f.cancelled), slices.Clone(f.terminated)
}

// startFork runs a fork transaction with n branches in the bubble and returns its recorder, the
// channel its branches' responses go in, the caller's CANCEL channel and the branches' requests.
func startFork(t *testing.T, ctx context.Context, n int) (*forkRecorder, chan branchEvent, chan struct{}, []*sip.Request, <-chan struct{}) {
	t.Helper()
	rec := &forkRecorder{}
	inv := fmt.Sprintf("INVITE sip:7000@10.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKcaller\r\n" +
		"From: <sip:6001@10.0.0.1>;tag=a\r\nTo: <sip:7000@10.0.0.1>\r\nCall-ID: fork-test\r\n" +
		"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	msg, err := sip.NewParser().ParseSIP([]byte(inv))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	f := &forkTx{link: rec, log: slog.New(slog.DiscardHandler), ctx: ctx, req: req, tx: rec,
		caller: accounts.Account{Extension: "6001"}, callee: accounts.Account{Extension: "7000"}, ringTimeout: 30 * time.Second}
	var reqs []*sip.Request
	for i := range n {
		fwd := req.Clone()
		via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "10.0.0.1", Port: 5060, Params: sip.NewParams()}
		via.Params.Add("branch", fmt.Sprintf("%sb%d", branchPrefix, i))
		fwd.PrependHeader(via)
		reqs = append(reqs, fwd)
		f.branches = append(f.branches, &branch{req: fwd, terminate: func() {
			rec.mu.Lock()
			rec.terminated = append(rec.terminated, i)
			rec.mu.Unlock()
		}})
	}
	rec.branches = f.branches
	events := make(chan branchEvent)
	cancelled := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		f.run(events, cancelled)
		close(done)
	}()
	return rec, events, cancelled, reqs, done
}

func respond(i int, fwd *sip.Request, code int) branchEvent {
	return branchEvent{i: i, res: sip.NewResponseFromRequest(fwd, code, "", nil)}
}

func TestForkRingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, events, _, reqs, done := startFork(t, t.Context(), 2)
		events <- respond(0, reqs[0], 180)
		events <- respond(1, reqs[1], 180)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if up, c, _ := rec.seen(); !slices.Equal(up, []int{180, 180}) || len(c) != 0 {
			t.Fatalf("before the ring timeout: caller got %v, cancelled %v; want the two 180s only", up, c)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if up, c, _ := rec.seen(); !slices.Equal(up, []int{180, 180, 480}) || len(c) != 2 {
			t.Fatalf("after the ring timeout: caller got %v, cancelled %v; want 480 and both branches cancelled", up, c)
		}
		events <- respond(0, reqs[0], 487)
		events <- respond(1, reqs[1], 487)
		<-done
		if up, _, _ := rec.seen(); len(up) != 3 {
			t.Fatalf("the branches' 487s reached the caller after its 480: %v", up)
		}
	})
}

func TestForkAnswerCancelsOtherBranches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, events, _, reqs, done := startFork(t, t.Context(), 3)
		events <- respond(0, reqs[0], 180)
		events <- respond(2, reqs[2], 486)
		events <- respond(1, reqs[1], 200)
		synctest.Wait()
		up, c, _ := rec.seen()
		if !slices.Equal(up, []int{180, 200}) || !slices.Equal(c, []int{0}) {
			t.Fatalf("caller got %v, cancelled %v; want 180, 200 and branch 0 cancelled", up, c)
		}
		events <- respond(0, reqs[0], 487)
		<-done
	})
}

func TestForkBestFailure(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{[]int{404, 486}, 486},
		{[]int{408, 302}, 302},
		{[]int{503, 503}, 500}, // RFC 3261 §16.7 step 6: 503 becomes 500
		{[]int{603, 486}, 603},
	} {
		t.Run(fmt.Sprint(tc.codes), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec, events, _, reqs, done := startFork(t, t.Context(), 2)
				for i, code := range tc.codes {
					events <- respond(i, reqs[i], code)
				}
				<-done
				if up, _, _ := rec.seen(); !slices.Equal(up, []int{tc.want}) {
					t.Fatalf("caller got %v, want %d", up, tc.want)
				}
			})
		})
	}
}

func TestForkCancelGivesUpSilentBranchesAfter64T1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, events, cancelled, reqs, done := startFork(t, t.Context(), 2)
		events <- respond(0, reqs[0], 180)
		cancelled <- struct{}{}
		synctest.Wait()
		if _, c, _ := rec.seen(); !slices.Equal(c, []int{0}) {
			t.Fatalf("CANCEL went to branches %v; want only the one that rang (RFC 3261 §9.1)", c)
		}
		events <- respond(0, reqs[0], 487)
		time.Sleep(64*sip.T1 - time.Millisecond)
		synctest.Wait()
		if _, _, term := rec.seen(); len(term) != 0 {
			t.Fatalf("branches %v given up before 64×T1", term)
		}
		time.Sleep(time.Millisecond)
		<-done
		if _, _, term := rec.seen(); !slices.Equal(term, []int{1}) {
			t.Fatalf("after 64×T1 branches %v were given up; want the silent branch 1", term)
		}
		if up, _, _ := rec.seen(); !slices.Equal(up, []int{180}) {
			t.Fatalf("caller got %v; want the 180 only (sipgo itself answers the CANCEL and the INVITE's 487)", up)
		}
	})
}
