package docs

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// pagingRow is a row of protocol.md's worked paging example.
type pagingRow struct{ query, messages, next string }

// workedPagingExample reads the table that follows "Worked example:" in
// protocol.md: `before=m4` | m3, m2 | m2.
func workedPagingExample(t *testing.T) []pagingRow {
	t.Helper()
	md, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "\nWorked example:")
	if !ok {
		t.Fatal("protocol.md has no worked paging example")
	}
	var rows []pagingRow
	started := false
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) != 3 {
			t.Fatalf("protocol.md: paging row %q has %d cells", line, len(cells))
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if cells[0] == "request" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		if cells[0] == "(no cursor)" {
			cells[0] = ""
		}
		rows = append(rows, pagingRow{query: cells[0], messages: cells[1], next: cells[2]})
	}
	if len(rows) < 4 {
		t.Fatalf("protocol.md: the worked paging example has %d rows", len(rows))
	}
	return rows
}

// replayPaging requests every row of the worked example from the history
// at path (m1..m5 named in ids) and checks the pages; after is called
// after each request.
func (h *harness) replayPaging(rows []pagingRow, path, token string, ids map[string]string, after func(query string)) {
	h.t.Helper()
	names := map[string]string{} // id -> m1
	for name, id := range ids {
		names[id] = name
	}
	for _, r := range rows {
		target := path + "?limit=2"
		if r.query != "" {
			param, cursor, _ := strings.Cut(r.query, "=")
			target += "&" + param + "=" + ids[cursor]
		}
		st, body := h.call("GET", target, token, "")
		page := h.wantStatus(r.query, st, body, 200)
		var got []string
		for _, it := range page["messages"].([]any) {
			got = append(got, names[fmt.Sprint(it.(map[string]any)["messageId"])])
		}
		next := "-"
		if n, ok := page["next"].(string); ok {
			next = names[n]
		}
		if strings.Join(got, ", ") != r.messages || next != r.next {
			h.t.Errorf("%s %q: messages %v, next %s; protocol.md says %s, next %s", path, r.query, got, next, r.messages, r.next)
		}
		after(r.query)
	}
}

// TestHistoryPagingAsDocumented replays the worked example of protocol.md's
// history section (m1..m5, limit 2) on a conversation, with its v1.1 rule
// that reading history leaves the unread count alone (only `read` moves
// the marker), and on a room's history, which pages the same way.
func TestHistoryPagingAsDocumented(t *testing.T) {
	rows := workedPagingExample(t)
	h := newHarness(t, scenarioLimits)
	carol, dave := h.online("carol", "C1"), h.online("dave", "D1")
	ids := map[string]string{}
	for i := 1; i <= 5; i++ {
		st, body := h.call("POST", "/api/conversations/"+dave.id+"/messages", carol.token, frame(`{"content":"m%d"}`, i))
		ids[fmt.Sprintf("m%d", i)] = fmt.Sprint(h.wantStatus("send", st, body, 201)["messageId"])
	}
	const wantUnread = 5.0
	h.replayPaging(rows, "/api/conversations/"+carol.id+"/messages", dave.token, ids, func(query string) {
		st, body := h.call("GET", "/api/conversations", dave.token, "")
		h.wantStatus("conversations", st, body, 200)
		if u := body.([]any)[0].(map[string]any)["unread"]; u != wantUnread {
			t.Errorf("%q: unread %v afterwards, protocol.md says %v", query, u, wantUnread)
		}
	})

	for _, c := range []string{"C1", "D1"} {
		h.send(c, `{"action":"joinroom","room":"pub"}`, nil)
	}
	ids = map[string]string{}
	for i := 1; i <= 5; i++ {
		got := h.send("C1", frame(`{"action":"group-message","id":"g%d","room":"pub","msg":"m%d"}`, i, i), map[string][]string{"C1": {"ack", "group-message"}, "D1": {"group-message"}})
		ids[fmt.Sprintf("m%d", i)] = fmt.Sprint(got["C1"][0]["messageId"])
	}
	h.replayPaging(rows, "/api/rooms/pub/messages", dave.token, ids, func(string) {})
}
