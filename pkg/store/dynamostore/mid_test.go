package dynamostore

import (
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

func TestMessageIDRoundTrip(t *testing.T) {
	for _, seq := range []int64{1, 2, 1023, 1024, 1 << 30, maxSeq} {
		for _, scope := range []string{"a#b", "lobby#0193", ""} {
			ms := int64(1733000000123)
			id := messageID(ms, seq, scope)
			if err := chat.ValidID("messageId", id); err != nil {
				t.Fatalf("messageID(%d, %q) = %s, not a valid id: %v", seq, scope, id, err)
			}
			gotSeq, gotHash, at, err := parseMessageID(id)
			if err != nil || gotSeq != seq || gotHash != scopeHash(scope) || at.UnixMilli() != ms {
				t.Fatalf("parse(%s) = %d, %x, %v, %v; want %d, %x, %d", id, gotSeq, gotHash, at, err, seq, scopeHash(scope), ms)
			}
		}
	}
	// Ids sort by time, then by seq.
	a, b, c := messageID(1000, 9, "x"), messageID(1001, 1, "x"), messageID(1001, 2, "x")
	if !(a < b && b < c) {
		t.Fatalf("ids out of order: %s %s %s", a, b, c)
	}
	if _, _, _, err := parseMessageID("0190b8a4-7c6e-4000-8000-000000000000"); err == nil {
		t.Fatal("a version-4 layout parsed")
	}
}
