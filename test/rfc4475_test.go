package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rfc4475Case is one message written from the description of an RFC 4475 test case, and the
// answer a phone (or its user) would see from the registrar. Placeholders: $VIA is a Via whose
// sent-by is a host name (so the answer must carry received=), $TP the transport, $ID a fresh
// Call-ID and branch suffix, $CL the length of the body.
type rfc4475Case struct {
	name   string // RFC 4475 section and the RFC's short name
	msg    string // lines end in \n; sent with CRLF
	status int    // 0: no answer (a response is never answered)
	reason string // part of the reason phrase, for the 400s
	tcp    bool   // also sent over TCP (the faults sipgo's stream framing cannot read are UDP-only)
	check  func(t *testing.T, sent, res string)
}

var rfc4475Cases = []rfc4475Case{
	// §3.1.1 Valid messages: answered as any request.
	{name: "3.1.1.1 wsinv", tcp: true, status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
TO :
 sip:5002@127.0.0.1 ;   unknownparam
from   : "J Rosenberg \\\""       <sip:5001@127.0.0.1>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.$ID@192.0.2.1
Content-Length   : 0
cseq: 0009
  OPTIONS
Via  : SIP  /   2.0
 /$TP
    client.invalid:$PORT;branch=z9hG4bK$ID;rport
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:5001@127.0.0.1> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

`, check: func(t *testing.T, sent, res string) {
		if from := headerValue(res, "From"); !strings.HasSuffix(from, ";tag=98asjd8") {
			t.Errorf("From tag lost: From: %s", from)
		}
		vias := headerValues(res, "Via")
		if len(vias) != 3 || !strings.HasPrefix(vias[1], "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8") ||
			!strings.HasPrefix(vias[2], "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239") {
			t.Errorf("Via entries not echoed as sent: %q", vias)
		}
	}},
	{name: "3.1.1.2 intmeth", tcp: true, status: 405, msg: `!interesting-Method0123456789_*+` + "`" + `.%indeed'~ sip:5002@127.0.0.1 SIP/2.0
Via: SIP/2.0/$TP client.invalid:$PORT;branch=z9hG4bK-.!%66*_+` + "`" + `'~$ID;rport
To: "BEL:\` + "\x07" + ` NUL:\` + "\x00" + ` DEL:\` + "\x7f" + `" <sip:5002@127.0.0.1>
From: token1~` + "`" + ` token2'+_ token3*%!.- <sip:5001@127.0.0.1>;fromParam''~+*_!.-%="работающий";tag=_token~1'+` + "`" + `*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word` + "`" + `~)(><:\/"][?}{$ID
CSeq: 139122385 !interesting-Method0123456789_*+` + "`" + `.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_` + "`" + `'~: 大停電
Content-Length: 0

`},
	{name: "3.1.1.3 esc01", tcp: true, status: 200, msg: `OPTIONS sip:%35%30%30%32@127.0.0.1 SIP/2.0
To: sip:%35%30%30%32@127.0.0.1
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
Call-ID: esc01.$ID
CSeq: 1 OPTIONS
Via: $VIA
l: 0

`},
	{name: "3.1.1.4 escnull", tcp: true, status: 401, msg: `REGISTER sip:127.0.0.1 SIP/2.0
To: sip:null-%00-null@127.0.0.1
From: sip:null-%00-null@127.0.0.1;tag=839923423
Max-Forwards: 70
Call-ID: escnull.$ID
CSeq: 14398234 REGISTER
Via: $VIA
Contact: <sip:%00@client.invalid>
Contact: <sip:%00%00@client.invalid>
L:0

`},
	{name: "3.1.1.6 lwsdisp", tcp: true, status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: caller<sip:5001@127.0.0.1>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.$ID
CSeq: 60 OPTIONS
Via: $VIA
l: 0

`},
	{name: "3.1.1.7 longreq (34 Via, response over the MTU)", tcp: true, status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: "I have a user name of ` + strings.Repeat("extreme", 10) + ` proportion" <sip:5002@127.0.0.1>
From: sip:5001@127.0.0.1;tag=12` + strings.Repeat("982", 40) + `
Call-ID: longreq.one` + strings.Repeat("really", 30) + `$ID
CSeq: 3882340 OPTIONS
Max-Forwards: 70
Via: $VIA
` + longVias() + `Contact: <sip:amazinglylongcallername` + strings.Repeat("long", 40) + `@client.invalid>
Unknown-` + strings.Repeat("Long", 20) + `-Name: unknown-` + strings.Repeat("long", 60) + `-value; unknown-` + strings.Repeat("long", 20) + `-parameter-name = unknown-` + strings.Repeat("long", 20) + `-parameter-value
Content-Length: 0

`, check: func(t *testing.T, sent, res string) {
		if n := len(headerValues(res, "Via")); n != 34 {
			t.Errorf("the answer has %d Via entries, want the 34 sent", n)
		}
		if len(res) <= 1300 {
			t.Errorf("the answer is %d bytes: the case no longer checks responses over the MTU", len(res))
		}
	}},
	{name: "3.1.1.8 dblreq (a second request after the first in one datagram)", status: 401, msg: `REGISTER sip:127.0.0.1 SIP/2.0
To: sip:alcatel@127.0.0.1
From: sip:alcatel@127.0.0.1;tag=43251j3j324
Max-Forwards: 8
Call-ID: dblreq.$ID
CSeq: 8 REGISTER
Via: $VIA
Contact: sip:alcatel@client.invalid
Content-Length: 0

INVITE sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:alcatel@127.0.0.1;tag=234
Max-Forwards: 5
Call-ID: dblreq.$ID
CSeq: 9 INVITE
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.1.9 semiuri", tcp: true, status: 200, msg: `OPTIONS sip:5002;par=u%40example.net@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=33242
Max-Forwards: 3
Call-ID: semiuri.$ID
CSeq: 8 OPTIONS
Via: $VIA
l: 0

`},
	{name: "3.1.1.10 transports", tcp: true, status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: <sip:5001@127.0.0.1>;tag=323
Max-Forwards: 70
Call-ID: transports.$ID
CSeq: 60 OPTIONS
Via: $VIA
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

`},
	{name: "3.1.1.12 unreason (a response: never answered)", msg: `SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: $VIA
Call-ID: unreason.$ID
CSeq: 35 INVITE
From: sip:5001@127.0.0.1;tag=11141343
To: sip:5002@127.0.0.1;tag=2342342342
Content-Length: 0

`},
	{name: "3.1.1.13 noreason (a response: never answered)", msg: `SIP/2.0 100 ` + `
Via: $VIA
Call-ID: noreason.$ID
CSeq: 35 INVITE
From: sip:5001@127.0.0.1;tag=11141343
To: sip:5002@127.0.0.1;tag=2342342342
Content-Length: 0

`},

	// §3.1.2 Invalid messages: a well-formed 400 that says what is wrong.
	{name: "3.1.2.1 badinv01", tcp: true, status: 400, reason: "Via", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.$ID
CSeq: 8 OPTIONS
Via: $VIA;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 0

`},
	{name: "3.1.2.2 clerr", status: 400, reason: "Content-Length", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Max-Forwards: 80
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=93942939o2
Contact: <sip:caller@client.invalid>
Call-ID: clerr.$ID
CSeq: 8 OPTIONS
Via: $VIA
Content-Type: application/sdp
Content-Length: 9999

v=0
`},
	{name: "3.1.2.3 ncl", status: 400, reason: "Content-Length", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Max-Forwards: 254
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=32394234
Call-ID: ncl.$ID
CSeq: 0 OPTIONS
Via: $VIA
Content-Length: -999

`},
	{name: "3.1.2.4 scalar02 (CSeq beyond 2^31)", status: 400, reason: "CSeq", msg: `REGISTER sip:127.0.0.1 SIP/2.0
Via: $VIA
From: <sip:alcatel@127.0.0.1>;tag=239232jh3
To: <sip:alcatel@127.0.0.1>
Call-ID: scalar02.$ID
CSeq: 36893488147419103232 REGISTER
Max-Forwards: 300
Expires: 1000000000000000000000000000000000000000000000000
Contact: <sip:alcatel@client.invalid>;expires=280297596632815
Content-Length: 0

`},
	{name: "3.1.2.4 scalar02 (CSeq 2^31, read by the parser)", status: 400, reason: "CSeq", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
From: <sip:5001@127.0.0.1>;tag=239232jh3
To: <sip:5002@127.0.0.1>
Call-ID: scalar02b.$ID
CSeq: 2147483648 OPTIONS
Max-Forwards: 70
Content-Length: 0

`},
	{name: "3.1.2.5 scalarlg (a response: never answered)", msg: `SIP/2.0 503 Service Unavailable
Via: $VIA
From: <sip:5001@127.0.0.1>;tag=2easdjfejw
To: <sip:5002@127.0.0.1>;tag=1233
Call-ID: scalarlg.$ID
CSeq: 1 OPTIONS
Retry-After: 949302838503028349304023988
Content-Length: 0

`},
	{name: "3.1.2.6 quotbal", tcp: true, status: 400, reason: "To", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: "Mr. J. User <sip:5002@127.0.0.1>
From: sip:5001@127.0.0.1;tag=93334
Max-Forwards: 10
Call-ID: quotbal.$ID
CSeq: 8 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.2.7 ltgtruri", status: 400, reason: "Request-URI", msg: `OPTIONS <sip:5002@127.0.0.1> SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.$ID
CSeq: 1 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.2.8 lwsruri", status: 400, reason: "Request-URI", msg: `OPTIONS sip:5002@127.0.0.1; lr SIP/2.0
To: sip:5002@127.0.0.1;tag=3xfe-9921883-z9f
From: sip:5001@127.0.0.1;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.$ID
CSeq: 2130706432 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.2.9 lwsstart (forgiven)", status: 200, msg: `OPTIONS  sip:5002@127.0.0.1  SIP/2.0
Max-Forwards: 8
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=8814
Call-ID: lwsstart.$ID
CSeq: 1893884 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.2.10 trws (forgiven)", status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0  
Max-Forwards: 24
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=329429089
Call-ID: trws.$ID
CSeq: 238923 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.1.2.14 badaspec", tcp: true, status: 400, reason: "To", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
Max-Forwards: 70
From: "Bell, Alexander" <sip:5001@127.0.0.1>;tag=433423
To: "Watson, Thomas" < sip:5002@127.0.0.1 >
Call-ID: badaspec.$ID
CSeq: 3923239 OPTIONS
l: 0

`},
	{name: "3.1.2.15 baddn", tcp: true, status: 400, reason: "From", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
Max-Forwards: 70
From:    Bell, Alexander <sip:5001@127.0.0.1>;tag=43
To:      Watson, Thomas <sip:5002@127.0.0.1>
Call-ID: baddn.$ID
CSeq:    3923239 OPTIONS
l: 0

`},
	{name: "3.1.2.16 badvers", tcp: true, status: 505, msg: `OPTIONS sip:5002@127.0.0.1 SIP/7.0
Via: SIP/7.0/$TP client.invalid:$PORT;branch=z9hG4bK$ID;rport
Max-Forwards: 70
From: "A. Bell" <sip:5001@127.0.0.1>;tag=qweoiqpe
To: "T. Watson" <sip:5002@127.0.0.1>
Call-ID: badvers.$ID
CSeq: 1 OPTIONS
l: 0

`},
	{name: "3.1.2.17 mismatch01", tcp: true, status: 400, reason: "CSeq", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.$ID
CSeq: 8 INVITE
Via: $VIA
l: 0

`},
	{name: "3.1.2.19 bigcode (a response: never answered)", msg: `SIP/2.0 4294967301 better not break the receiver
Via: $VIA
Call-ID: bigcode.$ID
CSeq: 353494 INVITE
From: <sip:5001@127.0.0.1>;tag=39ansfi3
To: <sip:5002@127.0.0.1>;tag=902jndnke3
Content-Length: 0

`},

	// §3.3 Application-layer semantics.
	{name: "3.3.1 insuf", tcp: true, status: 400, reason: "Missing", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
CSeq: 193942 OPTIONS
Max-Forwards: 70
To: sip:5002@127.0.0.1
Content-Length: 0

`},
	{name: "3.3.2 unkscm", tcp: true, status: 416, msg: `OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=384
Max-Forwards: 3
Call-ID: unkscm.$ID
CSeq: 3923423 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.3.3 novelsc", status: 416, msg: `OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=384
Max-Forwards: 3
Call-ID: novelsc.$ID
CSeq: 3923423 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.3.5 bext01", tcp: true, status: 420, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=242etr
Max-Forwards: 6
Call-ID: bext01.$ID
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: $VIA
Content-Length: 0

`},
	{name: "3.3.8 multi01", tcp: true, status: 400, reason: "From", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
Max-Forwards: 70
Route: <sip:127.0.0.1;lr>
From: sip:5001@127.0.0.1;tag=3413340
From: sip:5003@127.0.0.1;tag=2923420123
To: sip:5002@127.0.0.1
Call-ID: multi01.$ID
CSeq: 59 OPTIONS
Content-Length: 0

`},
	{name: "3.3.9 mcl01", tcp: true, status: 400, reason: "Content-Length", msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Via: $VIA
To: sip:5002@127.0.0.1
From: sip:5001@127.0.0.1;tag=3923942
Call-ID: mcl01.$ID
CSeq: 15932 OPTIONS
Content-Length: 0
Max-Forwards: 500
Content-Length: 0

`},
	{name: "3.3.11 zeromf (for this server: answered, not forwarded)", tcp: true, status: 200, msg: `OPTIONS sip:5002@127.0.0.1 SIP/2.0
Call-ID: zeromf.$ID
CSeq: 39234321 OPTIONS
From: <sip:5001@127.0.0.1>;tag=3ghsd41
To: <sip:5002@127.0.0.1>
Via: $VIA
Max-Forwards: 0
Content-Length: 0

`},
}

// longVias is 33 Via entries: with $VIA, the 34 of RFC 4475 §3.1.1.7.
func longVias() string {
	var b strings.Builder
	for i := 33; i >= 1; i-- {
		fmt.Fprintf(&b, "Via: SIP/2.0/TCP sip%d.example.com;branch=z9hG4bK%d\n", i, i)
	}
	return b.String()
}

// rfc4475Message fills the placeholders of c.msg for a client at local over transport tp.
func rfc4475Message(c rfc4475Case, tp string, local *net.UDPAddr, n int) string {
	id := fmt.Sprintf("%s%d", randHex(4), n)
	port := strconv.Itoa(local.Port)
	msg := strings.NewReplacer(
		"$VIA", "SIP/2.0/"+tp+" client.invalid:"+port+";branch=z9hG4bK"+id+";rport",
		"$TP", tp, "$ID", id, "$PORT", port,
	).Replace(c.msg)
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	if head, body, ok := strings.Cut(msg, "\r\n\r\n"); ok {
		msg = head + "\r\n\r\n" + body
		msg = strings.ReplaceAll(msg, "$CL", strconv.Itoa(len(body)))
	}
	return msg
}

// The RFC 4475 cases, written from the RFC's descriptions, sent over real UDP and TCP sockets to
// the deskphone binary: each valid message is answered like any request, each invalid one the
// parser can still read gets a well-formed error saying what is wrong, and responses are never
// answered. docs/rfc4475.md lists the same cases.
func TestRFC4475(t *testing.T) {
	e := startRegistrar(t, "")
	for i, c := range rfc4475Cases {
		t.Run("UDP "+c.name, func(t *testing.T) {
			// A source address of its own per case: the flood guard must not count them together.
			src := &net.UDPAddr{IP: net.IPv4(127, 0, 6, byte(i+1))}
			conn, err := net.ListenUDP("udp", src)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg := rfc4475Message(c, "UDP", conn.LocalAddr().(*net.UDPAddr), i)
			if _, err := conn.WriteTo([]byte(msg), mustUDPAddr(t, e.Addr)); err != nil {
				t.Fatal(err)
			}
			wait := 2 * time.Second
			if c.status == 0 {
				wait = 500 * time.Millisecond
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 65535)
			var res string
			for {
				n, err := conn.Read(buf)
				if err != nil {
					break
				}
				if res = string(buf[:n]); !strings.HasPrefix(res, "SIP/2.0 1") {
					break
				}
				res = ""
			}
			checkRFC4475Answer(t, c, msg, res, "127.0.6."+strconv.Itoa(i+1))
			if c.name == "3.1.1.8 dblreq (a second request after the first in one datagram)" {
				conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if n, err := conn.Read(buf); err == nil {
					t.Errorf("the bytes after the first request were answered too: %q", firstLine(string(buf[:n])))
				}
			}
		})
	}
	for i, c := range rfc4475Cases {
		if !c.tcp {
			continue
		}
		t.Run("TCP "+c.name, func(t *testing.T) {
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 7, byte(i+1))}
			d := net.Dialer{LocalAddr: src, Timeout: 2 * time.Second}
			conn, err := d.Dial("tcp", e.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			local := conn.LocalAddr().(*net.TCPAddr)
			msg := rfc4475Message(c, "TCP", &net.UDPAddr{IP: local.IP, Port: local.Port}, i)
			if _, err := io.WriteString(conn, msg); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			r := bufio.NewReader(conn)
			var res string
			for {
				m, err := readSIPMessage(r)
				if err != nil {
					break
				}
				if res = m; !strings.HasPrefix(res, "SIP/2.0 1") {
					break
				}
				res = ""
			}
			checkRFC4475Answer(t, c, msg, res, "127.0.7."+strconv.Itoa(i+1))
		})
	}
	ua := newRawUA(t, "127.0.0.1", e.Addr)
	if res := ua.options(3 * time.Second); statusOf(res) != 200 {
		t.Fatalf("the registrar stopped answering after the RFC 4475 messages: %q", res)
	}
	if strings.Contains(e.Logs(), "request handling failed") {
		t.Fatalf("an RFC 4475 message made a handler fail:\n%s", e.Logs())
	}
}

// readSIPMessage reads one message from a stream: header lines up to the empty line, then
// Content-Length bytes.
func readSIPMessage(r *bufio.Reader) (string, error) {
	var b strings.Builder
	length := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return b.String() + string(body), nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// checkRFC4475Answer checks the status and, for every answer, that it is well formed: the top
// Via as sent plus received=, From, Call-ID and CSeq as sent, To with exactly one tag and no
// parameter quoted that was not.
func checkRFC4475Answer(t *testing.T, c rfc4475Case, sent, res, srcIP string) {
	t.Helper()
	if c.status == 0 {
		if res != "" {
			t.Fatalf("a response was answered: %q", firstLine(res))
		}
		return
	}
	if res == "" {
		t.Fatalf("no answer, want %d", c.status)
	}
	if got := statusOf(res); got != c.status {
		t.Fatalf("answer %q, want %d\n%s", firstLine(res), c.status, res)
	}
	if reason := strings.SplitN(firstLine(res), " ", 3)[2]; !strings.Contains(reason, c.reason) {
		t.Errorf("reason %q does not say %q", reason, c.reason)
	}
	topVia := headerValues(res, "Via")
	if len(topVia) == 0 || !strings.Contains(topVia[0], "client.invalid") || !strings.Contains(topVia[0], ";received="+srcIP) {
		t.Errorf("top Via %q: want the Via sent, with received=%s (RFC 3261 §18.2.1)", topVia, srcIP)
	}
	// As sent: the same display name, URI and tag (sipgo may add the optional <> and quotes).
	bare := strings.NewReplacer("<", "", ">", "", `"`, "", " ", "", "\t", "")
	if from := headerValue(sent, "From"); strings.HasPrefix(sent, "OPTIONS sip:5002@127.0.0.1 SIP/2.0\r\nTO :") {
		// wsinv: checked by its own check
	} else if got := headerValue(res, "From"); c.reason != "From" && bare.Replace(got) != bare.Replace(from) && !strings.Contains(from, "token1") {
		t.Errorf("From %q, want it as sent: %q", got, from)
	}
	if got, want := headerValue(res, "Call-ID"), headerValue(sent, "Call-ID"); got != want {
		t.Errorf("Call-ID %q, want %q", got, want)
	}
	if got, want := strings.Join(strings.Fields(headerValue(res, "CSeq")), " "), strings.Join(strings.Fields(headerValue(sent, "CSeq")), " "); got != want && !strings.HasPrefix(want, "0009") {
		t.Errorf("CSeq %q, want %q", got, want)
	}
	if to := headerValue(res, "To"); strings.Count(to, "tag=") != 1 {
		t.Errorf("To %q: want exactly one tag (RFC 3261 §8.2.6.2)", to)
	}
	for _, h := range []string{"Via", "From", "To"} {
		for _, v := range headerValues(res, h) {
			if strings.Contains(v, `="`) && !strings.Contains(sent, `="`) {
				t.Errorf("%s %q has a quoted parameter the request did not have", h, v)
			}
		}
	}
	if c.check != nil {
		c.check(t, sent, res)
	}
}
