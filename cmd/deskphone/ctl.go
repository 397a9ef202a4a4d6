package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deskphone/deskphone/firmware/certs"
	"github.com/deskphone/deskphone/firmware/config"
)

const ctlUsage = `usage: deskphone ctl [--config FILE | --url URL] [--token T] [--ca FILE] COMMAND

commands:
  status            registration, call state, peer and duration
  dial NUMBER       call a number or sip: address
  answer            answer the ringing (or waiting) call
  hangup            end, cancel or decline the current call
  hold [on|off]     put the call on hold or take it back (no argument: toggle)
  resume            take the call off hold
  dtmf DIGITS       send DTMF digits (0-9 * # A-D) in the call
  transfer NUMBER   hand the call to another number (blind transfer)
  dnd [on|off]      do not disturb (no argument: toggle)
  calls             the recent calls
  events            follow state changes until interrupted
  pair [-seconds N] [-close]
                    open (or close) the Alcatel pairing window (default 5 minutes)

The API address comes from [web] listen in the config file (--config or DESKPHONE_CONFIG, default
/boot/deskphone.toml), or --url / DESKPHONE_URL. From another host, use the HTTPS address
(--url https://<pi>) with [web] token (--token or DESKPHONE_TOKEN) and the Pi's certificate
authority (--ca FILE or DESKPHONE_CA: the ca.crt from http://<pi>/ca.crt, checked once).
`

// runCtl drives the running phone over its HTTP API.
func runCtl(args []string) int {
	return ctl(args, os.Stdout, os.Stderr)
}

func ctl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlUsage) }
	defCfg := os.Getenv("DESKPHONE_CONFIG")
	if defCfg == "" {
		defCfg = "/boot/deskphone.toml"
	}
	cfgPath := fs.String("config", defCfg, "config file to read [web] listen and token from (DESKPHONE_CONFIG)")
	url := fs.String("url", os.Getenv("DESKPHONE_URL"), "API base URL, e.g. http://127.0.0.1:8080")
	token := fs.String("token", os.Getenv("DESKPHONE_TOKEN"), "[web] token, needed from other hosts")
	caFile := fs.String("ca", os.Getenv("DESKPHONE_CA"), "the Pi's CA certificate (ca.crt), for an https:// --url")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" {
		fmt.Fprint(stderr, ctlUsage)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	base := strings.TrimRight(*url, "/")
	if base == "" {
		listen, tok := "127.0.0.1:80", ""
		if f, err := config.Load(*cfgPath); err == nil {
			listen, tok = f.Web.Listen, f.Web.Token
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "deskphone ctl: %v\n", err)
			return 1
		}
		base = "http://" + loopbackFor(listen)
		if *token == "" {
			*token = tok
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if strings.HasPrefix(base, "https://") {
		tr, err := trustingCA(*caFile, *cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "deskphone ctl: %v\n", err)
			return 1
		}
		hc.Transport = tr
	}
	c := ctlClient{base: base, token: *token, out: stdout, http: hc}

	cmd, argv := rest[0], rest[1:]
	need := func(n int, what string) bool {
		if len(argv) != n {
			fmt.Fprintf(stderr, "deskphone ctl %s: %s\n", cmd, what)
			return false
		}
		return true
	}
	var err error
	switch cmd {
	case "status":
		err = c.status()
	case "dial":
		if !need(1, "give the number: deskphone ctl dial 5001") {
			return 2
		}
		err = c.post("dial", map[string]any{"to": argv[0]})
	case "answer", "hangup", "resume":
		if !need(0, "takes no argument") {
			return 2
		}
		err = c.post(cmd, nil)
	case "hold", "dnd":
		var body map[string]any
		if len(argv) == 1 {
			switch argv[0] {
			case "on":
				body = map[string]any{"on": true}
			case "off":
				body = map[string]any{"on": false}
			default:
				fmt.Fprintf(stderr, "deskphone ctl %s: use on, off or nothing (toggle)\n", cmd)
				return 2
			}
		} else if len(argv) > 1 {
			fmt.Fprintf(stderr, "deskphone ctl %s: use on, off or nothing (toggle)\n", cmd)
			return 2
		}
		err = c.post(cmd, body)
	case "dtmf":
		if !need(1, "give the digits: deskphone ctl dtmf 123#") {
			return 2
		}
		err = c.post("dtmf", map[string]any{"digits": argv[0]})
	case "transfer":
		if !need(1, "give the number: deskphone ctl transfer 5003") {
			return 2
		}
		c.http = &http.Client{Timeout: 60 * time.Second} // the answer waits for the far end's verdict
		err = c.post("transfer", map[string]any{"to": argv[0]})
	case "calls":
		err = c.calls()
	case "events":
		err = c.events()
	case "pair":
		if *token != "" {
			argv = append([]string{"-token", *token}, argv...)
		}
		return ctlPair(base, hc.Transport, argv)
	default:
		fmt.Fprintf(stderr, "deskphone ctl: unknown command %q\n\n%s", cmd, ctlUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "deskphone ctl %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// trustingCA is a transport that trusts only the Pi's CA: the file given, or the one in the
// config's data_dir when ctl runs on the Pi itself.
func trustingCA(caFile, cfgPath string) (*http.Transport, error) {
	if caFile == "" {
		dataDir := config.Default().DataDir
		if f, err := config.Load(cfgPath); err == nil {
			dataDir = f.DataDir
		}
		caFile = filepath.Join(dataDir, "tls", certs.CAFile)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the Pi's certificate authority: %w (download http://<pi>/ca.crt, check its fingerprint, pass it with --ca)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s is not a PEM certificate", caFile)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, nil
}

// loopbackFor turns a listen address into one this machine can connect to.
func loopbackFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

type ctlClient struct {
	base, token string
	out         io.Writer
	http        *http.Client
}

func (c ctlClient) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+"/api/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is deskphone running? %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

type ctlStatus struct {
	Registration string         `json:"registration"`
	RegDetail    string         `json:"registration_detail"`
	Call         string         `json:"call"`
	State        string         `json:"state"`
	Peer         string         `json:"peer"`
	Direction    string         `json:"direction"`
	Duration     float64        `json:"duration"`
	RemoteHold   bool           `json:"remote_hold"`
	Waiting      string         `json:"waiting"`
	DND          bool           `json:"dnd"`
	Counters     map[string]int `json:"counters"`
	Addresses    []string       `json:"addresses"`
	Web          struct {
		URL         string `json:"url"`
		Fingerprint string `json:"ca_fingerprint_sha256"`
	} `json:"web"`
}

func (c ctlClient) printStatus(b []byte) error {
	var s ctlStatus
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	reg := s.Registration
	if s.RegDetail != "" && s.Registration != "registered" {
		reg += " (" + s.RegDetail + ")"
	}
	fmt.Fprintf(c.out, "registration: %s\n", reg)
	call := s.Call
	if s.Peer != "" {
		dir := "with"
		switch s.Direction {
		case "in":
			dir = "from"
		case "out":
			dir = "to"
		}
		call += " " + dir + " " + s.Peer
	}
	if s.Duration > 0 {
		d := time.Duration(s.Duration) * time.Second
		call += fmt.Sprintf(" %02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
	}
	if s.RemoteHold {
		call += " (held by the other side)"
	}
	fmt.Fprintf(c.out, "call: %s\n", call)
	if s.Waiting != "" {
		fmt.Fprintf(c.out, "waiting: %s\n", s.Waiting)
	}
	if s.DND {
		fmt.Fprintln(c.out, "do not disturb: on")
	}
	if len(s.Addresses) > 0 {
		fmt.Fprintf(c.out, "address: %s\n", strings.Join(s.Addresses, ", "))
	}
	if s.Web.URL != "" {
		fmt.Fprintf(c.out, "web: %s\n", s.Web.URL)
		fmt.Fprintf(c.out, "certificate authority SHA-256: %s\n", s.Web.Fingerprint)
	}
	return nil
}

func (c ctlClient) status() error {
	b, err := c.do("GET", "status", nil)
	if err != nil {
		return err
	}
	return c.printStatus(b)
}

func (c ctlClient) post(path string, body any) error {
	b, err := c.do("POST", path, body)
	if err != nil {
		return err
	}
	return c.printStatus(b)
}

func (c ctlClient) calls() error {
	b, err := c.do("GET", "calls?limit=50", nil)
	if err != nil {
		return err
	}
	var calls []struct {
		Direction string    `json:"direction"`
		Peer      string    `json:"peer"`
		Start     time.Time `json:"start"`
		Duration  float64   `json:"duration"`
		Outcome   string    `json:"outcome"`
		Reason    string    `json:"reason"`
	}
	if err := json.Unmarshal(b, &calls); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	if len(calls) == 0 {
		fmt.Fprintln(c.out, "no calls yet")
	}
	for _, k := range calls {
		why := ""
		if k.Reason != "" {
			why = "  (" + k.Reason + ")"
		}
		fmt.Fprintf(c.out, "%s  %-3s %-20s %-11s %4.0fs%s\n", k.Start.Local().Format("2006-01-02 15:04:05"), k.Direction, k.Peer, k.Outcome, k.Duration, why)
	}
	return nil
}

func (c ctlClient) events() error {
	req, err := http.NewRequest("GET", c.base+"/api/v1/events", nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("is deskphone running? %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return errors.New(res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			fmt.Fprintf(c.out, "%s ", time.Now().Format("15:04:05"))
			if err := c.printStatus([]byte(d)); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}
