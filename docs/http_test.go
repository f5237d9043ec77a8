package docs

import (
	"fmt"

	"github.com/minichatbar/minichat/pkg/chat"
)

// conversationWith returns the item of GET /api/conversations, as u sees
// it, whose peer is peer.
func (s *scenario) conversationWith(u, peer user) map[string]any {
	s.t.Helper()
	st, body := s.call("GET", "/api/conversations", u.token, "")
	s.wantStatus("conversations of "+u.name, st, body, 200)
	for _, c := range body.([]any) {
		if conv := c.(map[string]any); conv["peer"].(map[string]any)["userId"] == peer.id {
			return conv
		}
	}
	s.t.Fatalf("%s has no conversation with %s: %v", u.name, peer.name, body)
	return nil
}

// httpConversations reads the conversation of alice and bob from both
// sides: alice read bob's reply; alice's hello is deleted, so bob has
// nothing unread although he never read; alice is online, bob is not.
func (s *scenario) httpConversations() {
	t := s.t
	reply := s.reply["messageId"]
	st, body := s.call("GET", "/api/conversations", s.bob.token, "")
	s.wantStatus("conversations", st, body, 200)
	if list := body.([]any); len(list) != 1 {
		t.Fatalf("bob's conversations = %v, want one", body)
	}
	bobs := s.conversationWith(s.bob, s.alice)
	peer := bobs["peer"].(map[string]any)
	if bobs["unread"] != 0.0 || bobs["readUpTo"] != nil || bobs["peerReadUpTo"] != reply ||
		peer["online"] != true || peer["lastSeen"] == nil || peer["avatar"] != "🐳" || peer["avatarUrl"] != nil {
		t.Errorf("bob's conversation with alice = %v", bobs)
	}
	alices := s.conversationWith(s.alice, s.bob)
	peer = alices["peer"].(map[string]any)
	if alices["unread"] != 0.0 || alices["readUpTo"] != reply || alices["peerReadUpTo"] != nil || peer["online"] != false || peer["lastSeen"] == nil {
		t.Errorf("alice's conversation with bob = %v", alices)
	}
}

func (s *scenario) httpMessages() {
	t := s.t
	alice, bob := s.alice, s.bob
	path := "/api/conversations/" + bob.id + "/messages"
	st, body := s.call("POST", path, alice.token, `{"content":"Over HTTP","id":"h1"}`)
	sent := s.wantStatus("send over HTTP", st, body, 201)
	if sent["seq"] != 3.0 {
		t.Errorf("sent over HTTP = %v, want seq 3", sent)
	}
	// bob is offline; an HTTP request has no sending connection, so all of
	// alice's connections get the message.
	s.wantFrames("send over HTTP", s.pushed, map[string][]string{"A1": {"private-message"}, "A2": {"private-message"}})
	st, body = s.call("POST", path, alice.token, `{"content":"Over HTTP","id":"h1"}`)
	if again := s.wantStatus("resend over HTTP", st, body, 201); again["messageId"] != sent["messageId"] {
		t.Errorf("an HTTP resend got %v, want %v", again["messageId"], sent["messageId"])
	}
	s.wantFrames("resend over HTTP", s.pushed, map[string][]string{})
	st, body = s.call("POST", "/api/conversations/"+alice.id+"/messages", alice.token, `{"content":"me"}`)
	s.wantStatus("send to self", st, body, 400)
	st, body = s.call("POST", "/api/conversations/"+nobody+"/messages", alice.token, `{"content":"?"}`)
	s.wantStatus("send to nobody", st, body, 404)
	st, body = s.call("GET", path+"?limit=0", alice.token, "")
	s.wantStatus("limit 0", st, body, 400)
	st, body = s.call("GET", path+"?before="+fmt.Sprint(sent["messageId"])+"&after="+fmt.Sprint(sent["messageId"]), alice.token, "")
	s.wantStatus("before and after", st, body, 400)
	st, body = s.call("GET", path+"?after="+s.group, alice.token, "")
	s.wantStatus("a cursor of another history", st, body, 400)
	// Newest first, seq without gaps: the deleted hello keeps its seq 1.
	st, body = s.call("GET", path, alice.token, "")
	page := s.wantStatus("history", st, body, 200)
	msgs := page["messages"].([]any)
	var seqs []any
	for _, m := range msgs {
		seqs = append(seqs, m.(map[string]any)["seq"])
	}
	if fmt.Sprint(seqs) != "[3 2 1]" || msgs[2].(map[string]any)["deleted"] != true || msgs[1].(map[string]any)["content"] != "Hi Alice!" {
		t.Errorf("history = %v, want the HTTP message, bob's reply and the deleted hello, seq 3, 2, 1", page)
	}

	msgPath := "/api/messages/" + fmt.Sprint(sent["messageId"])
	st, body = s.call("DELETE", msgPath, bob.token, "")
	s.wantStatus("recipient deletes over HTTP", st, body, 403)
	s.carol = s.register("carol")
	st, body = s.call("DELETE", msgPath, s.carol.token, "")
	// A user who is no party to the conversation is told what an unknown
	// id gets: ids cannot be probed (protocol.md says where the contract's
	// "others 403" is read this way).
	s.wantStatus("a third party deletes", st, body, 404)
	st, body = s.call("DELETE", "/api/messages/"+nobody, alice.token, "")
	s.wantStatus("delete an unknown message", st, body, 404)
	st, body = s.call("DELETE", "/api/messages/"+s.group, bob.token, "")
	s.wantStatus("delete a group message", st, body, 404)
	s.connect("A3", map[string]string{"token": alice.token}, nil)
	st, _ = s.call("DELETE", msgPath, alice.token, "")
	s.wantStatus("delete over HTTP", st, nil, 204)
	s.wantFrames("delete over HTTP", s.pushed, map[string][]string{"A1": {"message-deleted"}, "A2": {"message-deleted"}, "A3": {"message-deleted"}})
	if f := s.pushed["A3"][0]; f["chatWith"] != bob.id {
		t.Errorf("message-deleted to the deleter = %v, want chatWith bob", f)
	}
	st, _ = s.call("DELETE", msgPath, alice.token, "")
	s.wantStatus("delete again over HTTP", st, nil, 204)
	s.wantFrames("delete again over HTTP", s.pushed, map[string][]string{})
}

func (s *scenario) httpUsersAndRooms() {
	t := s.t
	alice := s.alice
	st, body := s.call("PUT", "/api/users/me/avatar", alice.token, `{"avatar":"🦀"}`)
	s.wantStatus("avatar over HTTP", st, body, 200)
	st, body = s.call("PUT", "/api/users/me/avatar", alice.token, `{"avatar":""}`)
	s.wantStatus("empty avatar", st, body, 400)
	st, body = s.call("GET", "/api/rooms/lobby", alice.token, "")
	if room := s.wantStatus("room", st, body, 200); len(room["seats"].([]any)) != chat.SeatCount || room["epoch"] != s.lobbyEpoch {
		t.Errorf("room = %v", room)
	}
	st, body = s.call("GET", "/api/rooms/nobody-here", alice.token, "")
	if room := s.wantStatus("empty room", st, body, 200); room["version"] != 0.0 || room["epoch"] != "" {
		t.Errorf("an empty room = %v, want version 0 and no epoch", room)
	}
	st, body = s.call("GET", "/api/rooms/bad%20room", alice.token, "")
	s.wantStatus("bad room name", st, body, 400)
	st, body = s.call("GET", "/api/users?prefix=ca", alice.token, "")
	s.wantStatus("users", st, body, 200)
	if list := body.([]any); len(list) != 1 || list[0].(map[string]any)["username"] != "carol" {
		t.Errorf("users with prefix ca = %v", body)
	}
	st, body = s.call("GET", "/api/users?prefix=no!", alice.token, "")
	s.wantStatus("bad prefix", st, body, 400)
}
