package infra

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/infra/permissions"
)

// tokenFunctions are the functions that issue or verify session tokens, the
// only ones that may read the key.
var tokenFunctions = []string{"authorizer", "connect", "httpapi", "login"}

// The JWT key lives in Secrets Manager, generated unless the parameter
// gives one; only the token functions get its ARN and may read it, and no
// function's environment holds a key any more.
func TestJwtSecretIsInSecretsManagerForTheTokenFunctionsOnly(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)

	p := tpl.param("JwtSecret")
	if got := child(p, "NoEcho"); got == nil || got.Value != "true" {
		t.Error("JwtSecret must be NoEcho")
	}
	if d := child(p, "Default"); d == nil || d.Value != "" {
		t.Error(`JwtSecret must be optional (Default: "")`)
	}
	if child(p, "MinLength") != nil {
		t.Error("JwtSecret: MinLength would refuse the empty default; AllowedPattern says it")
	}
	pattern := regexp.MustCompile(child(p, "AllowedPattern").Value)
	for v, ok := range map[string]bool{"": true, strings.Repeat("k", 31): false, strings.Repeat("k", 32): true, strings.Repeat("k", 90): true} {
		if pattern.MatchString(v) != ok {
			t.Errorf("JwtSecret AllowedPattern on %d characters: %v, want %v", len(v), !ok, ok)
		}
	}

	if !parsesAs(t, tpl.section("Conditions", "GenerateJwtSecret"), `!Equals [!Ref JwtSecret, ""]`) {
		t.Errorf("GenerateJwtSecret = %s", yamlString(t, tpl.section("Conditions", "GenerateJwtSecret")))
	}
	const secret = "JwtSigningSecret"
	if tpl.typeOf(secret) != "AWS::SecretsManager::Secret" {
		t.Fatalf("%s is %q, want AWS::SecretsManager::Secret", secret, tpl.typeOf(secret))
	}
	// Generated only under GenerateJwtSecret, long and of letters and digits
	// (a key that survives any copying).
	gen := tpl.field(secret, "Properties", "GenerateSecretString")
	if gen == nil || gen.Tag != "!If" || len(gen.Content) != 3 || gen.Content[0].Value != "GenerateJwtSecret" ||
		!parsesAs(t, gen.Content[2], "!Ref AWS::NoValue") {
		t.Fatalf("GenerateSecretString must be generated only under GenerateJwtSecret: %s", yamlString(t, gen))
	}
	if n, err := strconv.Atoi(child(gen.Content[1], "PasswordLength").Value); err != nil || n < 32 {
		t.Errorf("generated key of %v characters, want at least 32", child(gen.Content[1], "PasswordLength").Value)
	}
	if v := child(gen.Content[1], "ExcludePunctuation"); v == nil || v.Value != "true" {
		t.Error("the generated key should be letters and digits only (ExcludePunctuation: true)")
	}
	if !parsesAs(t, tpl.field(secret, "Properties", "SecretString"), `!If [GenerateJwtSecret, !Ref AWS::NoValue, !Ref JwtSecret]`) {
		t.Errorf("SecretString = %s", yamlString(t, tpl.field(secret, "Properties", "SecretString")))
	}
	// The parameter reaches the secret and nothing else.
	if got := tpl.referrers("JwtSecret"); !slices.Equal(got, []string{secret, "Conditions"}) {
		t.Errorf("JwtSecret is referred to by %v, want only %s (and its condition)", got, secret)
	}

	if env := tpl.global(t, "Function", "Environment", "Variables"); child(env, "MINICHAT_JWT_SECRET") != nil {
		t.Error("Globals still put MINICHAT_JWT_SECRET in every function's environment")
	}
	var withARN, withGrant []string
	for _, fn := range tpl.functions(t) {
		env := tpl.envOf(fn.id)
		if child(env, "MINICHAT_JWT_SECRET") != nil {
			t.Errorf("%s: MINICHAT_JWT_SECRET in its environment", fn.id)
		}
		if arn := child(env, "MINICHAT_JWT_SECRET_ARN"); arn != nil {
			if !parsesAs(t, arn, "!Ref "+secret) {
				t.Errorf("%s: MINICHAT_JWT_SECRET_ARN = %s, want !Ref %s", fn.id, yamlString(t, arn), secret)
			}
			withARN = append(withARN, fn.dir)
		}
		list, err := permissions.Load(functionsDir, fn.dir)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(list["secret"], []string{"secretsmanager:GetSecretValue"}) {
			withGrant = append(withGrant, fn.dir)
		} else if len(list["secret"]) > 0 {
			t.Errorf("%s: secret actions %v, want only secretsmanager:GetSecretValue", fn.id, list["secret"])
		}
	}
	slices.Sort(withARN)
	slices.Sort(withGrant)
	if !slices.Equal(withARN, tokenFunctions) || !slices.Equal(withGrant, tokenFunctions) {
		t.Errorf("functions with the secret's ARN %v, allowed to read it %v; want exactly %v", withARN, withGrant, tokenFunctions)
	}
	// Through the generated policies, the secret is granted where listed
	// (TestPoliciesGrantExactlyThePermissionLists) and referred to nowhere
	// else but the environments above.
	for _, id := range tpl.referrers(secret) {
		if tpl.typeOf(id) != "AWS::Serverless::Function" {
			t.Errorf("%s refers to %s", id, secret)
		}
	}
}
