package infra

import (
	"regexp"
	"strconv"
	"testing"
)

// The chat's limits are parameters, each with the default the code has
// and the name of the environment variable the functions read
// (pkg/app: the names outside tools use).
func TestLimitsAreParametersOfTheFunctionsEnvironment(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	env := tpl.global(t, "Function", "Environment", "Variables")
	for _, l := range []struct {
		param, env, def string
		rate            bool // a positive number; otherwise a positive whole number
	}{
		{"SendRate", "MINICHAT_SEND_RATE", "5", true},
		{"SendBurst", "MINICHAT_SEND_BURST", "5", false},
		{"RegistersPerIP", "MINICHAT_REGISTERS_PER_IP", "10", false},
		{"LoginFailsPerUser", "MINICHAT_LOGIN_FAILS_PER_USER", "5", false},
		{"LoginFailsPerIP", "MINICHAT_LOGIN_FAILS_PER_IP", "20", false},
		{"AvatarRate", "MINICHAT_AVATAR_RATE", "1", true},
		{"AvatarBurst", "MINICHAT_AVATAR_BURST", "5", false},
		{"Fanout", "MINICHAT_FANOUT", "16", false},
		{"TypingRate", "MINICHAT_TYPING_RATE", "2", true},
		{"TypingBurst", "MINICHAT_TYPING_BURST", "4", false},
	} {
		p := tpl.param(l.param)
		if p == nil {
			t.Errorf("no parameter %s", l.param)
			continue
		}
		// A String: a Number would reach the environment as, say, "5.0".
		if typ := child(p, "Type"); typ == nil || typ.Value != "String" {
			t.Errorf("%s: Type must be String", l.param)
		}
		if d := child(p, "Default"); d == nil || d.Value != l.def {
			t.Errorf("%s: Default %v, want %q", l.param, yamlString(t, d), l.def)
		}
		if !parsesAs(t, child(env, l.env), "!Ref "+l.param) {
			t.Errorf("Globals: %s = %s, want !Ref %s", l.env, yamlString(t, child(env, l.env)), l.param)
		}
		ap := child(p, "AllowedPattern")
		if ap == nil {
			t.Errorf("%s: no AllowedPattern", l.param)
			continue
		}
		pattern := regexp.MustCompile(ap.Value)
		ok := []string{l.def, "1", "12", "250000"}
		bad := []string{"", "0", "00", "-1", "+1", "abc", "1e3", " 5", "5 ", "1,5", "0x10", "1234567"}
		if l.rate {
			ok = append(ok, "0.5", "2.5", "0.01", "0.10", "10.25")
			bad = append(bad, "0.0", ".5", "5.", "0.")
		} else {
			bad = append(bad, "0.5", "2.5")
		}
		for _, v := range ok {
			if !pattern.MatchString(v) {
				t.Errorf("%s refuses %q", l.param, v)
			}
		}
		for _, v := range bad {
			if pattern.MatchString(v) {
				t.Errorf("%s accepts %q", l.param, v)
			}
		}
		// What the pattern lets through, the functions accept: a positive
		// (whole) number.
		for _, v := range ok {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 {
				t.Errorf("%s: %q is not positive", l.param, v)
			}
			if !l.rate {
				if n, err := strconv.Atoi(v); err != nil || n <= 0 {
					t.Errorf("%s: %q is not a positive whole number", l.param, v)
				}
			}
		}
	}
}
