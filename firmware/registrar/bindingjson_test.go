package registrar

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The hand-written encoders say what encoding/json says: what they write reads back the same.
func TestBindingJSONReadsBack(t *testing.T) {
	now := time.Date(2026, 12, 6, 23, 0, 0, 123456789, time.UTC)
	bs := []Binding{
		{AOR: "alcatel", Extension: "5001", Contact: "sip:alcatel@192.168.1.20:5060;transport=udp", Source: "192.168.1.20:5060",
			Transport: "UDP", CallID: "abc@x", CSeq: 7, Expires: now.Add(time.Hour), Registered: now, UserAgent: "IP Touch 4028", Reachable: true},
		{AOR: "q\"uote\\", Extension: "\x00\x1f\t\r\n", Contact: "sip:é@ü", UserAgent: "bad \xff utf-8", Instance: "<urn:uuid:1>", Expires: now.In(time.FixedZone("x", 3600))},
	}
	rec := journalRecord{Seq: 42, AOR: "alcatel", Bindings: bs}
	var got journalRecord
	if err := json.Unmarshal(appendJournalRecord(nil, rec), &got); err != nil {
		t.Fatalf("journal record: %v\n%s", err, appendJournalRecord(nil, rec))
	}
	var want journalRecord
	j, _ := json.Marshal(rec)
	if err := json.Unmarshal(j, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("journal record read back as\n%+v\nwant\n%+v", got, want)
	}
	for _, f := range []storeFile{{Version: 1, Saved: now, Seq: 9, Bindings: bs}, {Version: 1, Saved: now}} {
		var got, want storeFile
		if err := json.Unmarshal(appendStoreFile(nil, f), &got); err != nil {
			t.Fatalf("bindings file: %v\n%s", err, appendStoreFile(nil, f))
		}
		j, _ := json.Marshal(f)
		if err := json.Unmarshal(j, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("bindings file read back as\n%+v\nwant\n%+v", got, want)
		}
	}
}
