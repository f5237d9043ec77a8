package chat_test

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/minichatbar/minichat/pkg/chat"
)

// The validators are cross-checked against references written without
// regular expressions or the unicode tables, straight from the rules of
// protocol v1. Seeds are in testdata/fuzz/<FuzzName>.

// refText is the text rule: valid UTF-8, 1..max characters, no C0 or C1
// control characters except tab, LF and CR.
func refText(s string, max int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := 0
	for _, r := range s {
		n++
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return n >= 1 && n <= max
}

// refCharset reports whether s is min..max bytes, each in allowed.
func refCharset(s string, min, max int, allowed string) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		ok := false
		for j := 0; j < len(allowed); j++ {
			ok = ok || s[i] == allowed[j]
		}
		if !ok {
			return false
		}
	}
	return true
}

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexLower = "0123456789abcdef"
)

// refID is a lower-case UUID: 8-4-4-4-12 hex digits.
func refID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !refCharset(s[i:i+1], 1, 1, hexLower) {
			return false
		}
	}
	return true
}

// refClientID is empty, or 1..64 printable ASCII characters.
func refClientID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// refPassword is 8..128 characters of valid UTF-8.
func refPassword(s string) bool {
	n := utf8.RuneCountInString(s)
	return utf8.ValidString(s) && n >= 8 && n <= 128
}

// agree fails unless the validator's verdict on s is the reference's, and
// a refusal is a bad-request input error naming field.
func agree(t *testing.T, what, field, s string, err error, want bool) {
	t.Helper()
	if (err == nil) != want {
		t.Fatalf("%s(%q) = %v, reference says valid=%v", what, s, err, want)
	}
	if err == nil {
		return
	}
	var in *chat.InputError
	if !errors.As(err, &in) || !errors.Is(err, chat.ErrBadRequest) || in.Field != field {
		t.Fatalf("%s(%q) = %#v, want a bad-request input error on %q", what, s, err, field)
	}
}

// FuzzValidText checks message text (content, msg) and avatars, and that
// accepted text survives the JSON of frames and history byte for byte:
// text is stored and shown as sent, never sanitised.
func FuzzValidText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidText", "content", s, chat.ValidText("content", s), refText(s, chat.MaxContentChars))
		agree(t, "ValidAvatar", "avatar", s, chat.ValidAvatar(s), refText(s, chat.MaxAvatarChars))
		if chat.ValidText("content", s) != nil {
			return
		}
		b, err := json.Marshal(map[string]string{"content": s})
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]string
		if err := json.Unmarshal(b, &back); err != nil || back["content"] != s {
			t.Fatalf("%q does not survive JSON: %q, %v", s, back["content"], err)
		}
	})
}

// FuzzValidUsername checks [A-Za-z0-9_.-]{3,32}.
func FuzzValidUsername(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidUsername", "username", s, chat.ValidUsername(s), refCharset(s, 3, 32, alnum+"_.-"))
	})
}

// FuzzValidRoom checks [A-Za-z0-9_-]{1,64}.
func FuzzValidRoom(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidRoom", "room", s, chat.ValidRoom(s), refCharset(s, 1, 64, alnum+"_-"))
	})
}

// FuzzValidClientID checks the optional client id.
func FuzzValidClientID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidClientID", "id", s, chat.ValidClientID(s), refClientID(s))
	})
}

// FuzzValidID checks server-made ids, which reach store keys only when
// they pass.
func FuzzValidID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidID", "messageId", s, chat.ValidID("messageId", s), refID(s))
	})
}

// FuzzValidPassword checks 8..128 characters of valid UTF-8.
func FuzzValidPassword(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		agree(t, "ValidPassword", "password", s, chat.ValidPassword(s), refPassword(s))
	})
}
