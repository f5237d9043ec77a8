package edge

import "testing"

func TestWellFormedText(t *testing.T) {
	for in, want := range map[string]bool{
		`{"content":"héllo 🎲"}`:                 true,
		`{"content":"\u00e9\ud83c\udfb2"}`:      true,
		`{"content":"a\\ud800b"}`:               true, // an escaped backslash, then text
		`{"content":"\\\ud83c\udfb2"}`:          true,
		"{\"content\":\"a\xffb\"}":              false,
		`{"content":"\ud800"}`:                  false,
		`{"content":"\udc00"}`:                  false,
		`{"content":"\ud800\u0041"}`:            false,
		`{"content":"\ud800x"}`:                 false,
		`{"content":"\u12"}`:                    false,
		`{"content":"\\\ud800"}`:                false,
		`{"content":"ok"} trailing \ud83c`:      false,
		`{"content":"\uD83D\uDE00 upper case"}`: true,
	} {
		if got := wellFormedText([]byte(in)); got != want {
			t.Errorf("wellFormedText(%s) = %v, want %v", in, got, want)
		}
	}
}
