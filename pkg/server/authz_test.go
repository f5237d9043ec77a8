package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
)

// authzRow is one line of the authorization matrix: what alice tries, and
// the answers on the WebSocket and HTTP paths ("-" where a path has no
// such operation).
type authzRow struct {
	what             string
	wsWant, httpWant string
	ws, http         func() string
}

// TestAuthorizationMatrix checks, on both paths, that alice reads only her
// own conversations, deletes only her own messages, speaks only where she
// holds a seat and changes only her own avatar, whatever ids she names.
// The matrix is logged; docs/security.md shows it.
func TestAuthorizationMatrix(t *testing.T) {
	e := newHostileEnv(t, chat.Limits{SendRate: 1000, SendBurst: 1000})
	alice, bob, carol := e.alice, e.bob, e.carol
	send := func(from *client, to account, content string) string {
		t.Helper()
		drain(from) // what was pushed to from so far, so that the next frame is the ack
		ack := from.request(privateTo(to, content))
		if ack["type"] != "ack" {
			t.Fatalf("send %q: %v", content, ack)
		}
		return ack["messageId"].(string)
	}
	aliceToBob := send(e.a, bob, "alice to bob")
	aliceToBob2 := send(e.a, bob, "alice to bob, again")
	bobToCarol := send(e.b, carol, "bob to carol")
	carolToBob := send(e.c, bob, "carol to bob")
	for _, c := range []*client{e.a2, e.b, e.c} {
		drain(c)
	}
	if got := drain(e.a); len(got) != 0 {
		t.Fatalf("alice's connection received bob and carol's messages: %v", got)
	}

	// history returns the message contents alice gets naming peer.
	history := func(peer account, query string) string {
		t.Helper()
		var page struct{ Messages []map[string]any }
		st := e.s.call("GET", "/api/conversations/"+peer.UserID+"/messages"+query, alice.Token, nil, &page)
		var got []string
		for _, m := range page.Messages {
			got = append(got, fmt.Sprint(m["content"]))
		}
		return fmt.Sprintf("%d %q", st, got)
	}
	avatars := func() string {
		t.Helper()
		var users []map[string]any
		e.s.call("GET", "/api/users?prefix=", alice.Token, nil, &users)
		var got []string
		for _, u := range users {
			got = append(got, fmt.Sprintf("%v=%v", u["username"], u["avatar"]))
		}
		return strings.Join(got, " ")
	}
	del := func(id string) (func() string, func() string) {
		return func() string { return e.ws(e.a, map[string]string{"action": "message-deleted", "messageId": id}) },
			func() string { return e.http("DELETE", "/api/messages/"+id, alice.Token, nil) }
	}
	// Deleting her own message tells bob and her other connections.
	told := func(got string, id string, conns ...*client) string {
		t.Helper()
		for _, c := range conns {
			if d := c.expect("message-deleted"); d["messageId"] != id {
				t.Errorf("message-deleted %v, want %s", d, id)
			}
		}
		return got
	}
	ws, _ := del(aliceToBob)
	delOwnWS := func() string { return told(ws(), aliceToBob, e.a2, e.b) }
	_, http := del(aliceToBob2)
	delOwnHTTP := func() string { return told(http(), aliceToBob2, e.a, e.a2, e.b) }
	delToHerWS, delToHerHTTP := del(e.bobToAlice)
	delOthersWS, delOthersHTTP := del(bobToCarol)
	delOthers2WS, delOthers2HTTP := del(carolToBob)
	delNoneWS, delNoneHTTP := del("01890000-0000-7000-8000-000000000000")
	group := func() string {
		return e.ws(e.a, map[string]string{"action": "group-message", "room": "bar", "msg": "hello bar", "userId": bob.UserID, "uname": "bob"})
	}
	na := func() string { return "-" }

	rows := []authzRow{
		{what: "read her conversation with bob", wsWant: "-", ws: na,
			httpWant: `200 ["alice to bob, again" "alice to bob" "from bob"]`, http: func() string { return history(bob, "") }},
		{what: "read bob<->carol by naming carol (gets her own, empty, conversation)", wsWant: "-", ws: na,
			httpWant: `200 []`, http: func() string { return history(carol, "") }},
		// A cursor names a message of the history read; one of another
		// conversation is refused, and shows nothing of it.
		{what: "read bob<->carol with a bob<->carol message as cursor", wsWant: "-", ws: na,
			httpWant: `400 []`, http: func() string { return history(bob, "?after="+bobToCarol) }},
		{what: "read bob<->carol with a bob<->carol message as before cursor", wsWant: "-", ws: na,
			httpWant: `400 []`, http: func() string { return history(bob, "?before="+carolToBob) }},
		{what: "list conversations (only her peers)", wsWant: "-", ws: na,
			httpWant: "200 [bob]", http: func() string {
				var convs []struct{ Peer struct{ Username string } }
				st := e.s.call("GET", "/api/conversations", alice.Token, nil, &convs)
				var peers []string
				for _, c := range convs {
					peers = append(peers, c.Peer.Username)
				}
				return fmt.Sprintf("%d %v", st, peers)
			}},
		{what: "receive bob<->carol messages", wsWant: "nothing", ws: func() string {
			send(e.b, carol, "bob to carol, live")
			e.c.expect("private-message")
			if got := drain(e.a); len(got) > 0 {
				return fmt.Sprint(got)
			}
			return "nothing"
		}, httpWant: "-", http: na},
		{what: "delete her own message", wsWant: "ack", ws: delOwnWS, httpWant: "http:204", http: delOwnHTTP},
		{what: "delete bob's message to her", wsWant: "error:forbidden", ws: delToHerWS, httpWant: "http:403:forbidden", http: delToHerHTTP},
		// Outside her conversations a message is as unknown as one that
		// does not exist: saying "forbidden" would tell that it exists.
		{what: "delete bob's message to carol", wsWant: "error:not-found", ws: delOthersWS, httpWant: "http:404:not-found", http: delOthersHTTP},
		{what: "delete carol's message to bob", wsWant: "error:not-found", ws: delOthers2WS, httpWant: "http:404:not-found", http: delOthers2HTTP},
		{what: "delete a message that does not exist", wsWant: "error:not-found", ws: delNoneWS, httpWant: "http:404:not-found", http: delNoneHTTP},
		{what: "speak in room bar without a seat (claiming to be bob)", wsWant: "error:forbidden", ws: group, httpWant: "-", http: na},
		{what: "speak in room bar after taking a seat", wsWant: "group-message", ws: func() string {
			if up := e.a.request(map[string]string{"action": "joinroom", "room": "bar"}); up["type"] != "update" {
				t.Fatalf("join: %v", up)
			}
			e.a.expect("notice")
			for _, c := range []*client{e.a2, e.b, e.c} {
				drain(c)
			}
			e.a.send(map[string]string{"action": "group-message", "room": "bar", "msg": "hello bar", "uname": "bob", "userId": bob.UserID})
			// The sender's connection gets the message, as everyone seated
			// does, and the ack.
			got, ack := e.a.next(), e.a.next()
			if got["type"] == "ack" {
				got, ack = ack, got
			}
			if got["uname"] != "alice" || got["userId"] != alice.UserID || ack["type"] != "ack" {
				t.Errorf("group message spoken as %v, ack %v", got, ack)
			}
			for _, c := range []*client{e.a2, e.b, e.c} {
				if g := c.expect("group-message"); g["uname"] != "alice" || g["msg"] != "hello bar" {
					t.Errorf("room mate got %v", g)
				}
			}
			return answer(got)
		}, httpWant: "-", http: na},
		{what: "speak in room bar after leaving it", wsWant: "error:forbidden", ws: func() string {
			if r := e.a.request(map[string]string{"action": "leaveroom", "room": "bar"}); r["type"] != "ack" {
				t.Fatalf("leave: %v", r)
			}
			for _, c := range []*client{e.a2, e.b, e.c} {
				drain(c)
			}
			return group()
		}, httpWant: "-", http: na},
		{what: "change her avatar naming bob's userId", wsWant: "ack alice=🐙 bob= carol=", ws: func() string {
			got := e.ws(e.a, map[string]string{"action": "avatar-updated", "avatar": "🐙", "userId": bob.UserID})
			for _, c := range []*client{e.a2, e.b} { // her other device, her peer
				if u := c.expect("avatar-updated"); u["userId"] != alice.UserID {
					t.Errorf("avatar-updated %v", u)
				}
			}
			return got + " " + avatars()
		}, httpWant: "http:200 alice=🦊 bob= carol=", http: func() string {
			got := e.http("PUT", "/api/users/me/avatar", alice.Token, map[string]string{"avatar": "🦊", "userId": bob.UserID})
			for _, c := range []*client{e.a, e.a2, e.b} {
				c.expect("avatar-updated")
			}
			return got + " " + avatars()
		}},
		{what: "read a room's seats (public to every user)", wsWant: "-", ws: na,
			httpWant: "http:200", http: func() string { return e.http("GET", "/api/rooms/bar", alice.Token, nil) }},
	}

	var table strings.Builder
	table.WriteString("\n| alice tries to | WebSocket | HTTP |\n| --- | --- | --- |\n")
	for _, r := range rows {
		ws, http := r.ws(), r.http()
		if ws != r.wsWant {
			t.Errorf("%s over WebSocket: got %s, want %s", r.what, ws, r.wsWant)
		}
		if http != r.httpWant {
			t.Errorf("%s over HTTP: got %s, want %s", r.what, http, r.httpWant)
		}
		fmt.Fprintf(&table, "| %s | %s | %s |\n", r.what, ws, http)
		e.quiet(r.what)
	}
	t.Log(table.String())

	// Nothing alice tried changed what bob and carol have.
	var page struct{ Messages []map[string]any }
	e.s.call("GET", "/api/conversations/"+carol.UserID+"/messages", bob.Token, nil, &page)
	var got []string
	for _, m := range page.Messages {
		got = append(got, fmt.Sprintf("%v deleted=%v", m["content"], m["deleted"]))
	}
	want := "[bob to carol, live deleted=<nil> carol to bob deleted=<nil> bob to carol deleted=<nil>]"
	if fmt.Sprint(got) != want {
		t.Errorf("bob<->carol = %v, want %s", got, want)
	}
}
