package infra

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/website"
)

const hosting = "HostsWebClient"

// The web client is hosted by default: a private bucket that only the
// distribution may read, through Origin Access Control, HTTPS only, with
// index.html at the root.
func TestWebClientIsHostedPrivatelyBehindCloudFront(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	p := tpl.param("HostWebClient")
	if d := child(p, "Default"); d == nil || d.Value != "true" {
		t.Error(`HostWebClient must default to "true"`)
	}
	if !parsesAs(t, child(p, "AllowedValues"), `["true", "false"]`) {
		t.Errorf("HostWebClient AllowedValues %s", yamlString(t, child(p, "AllowedValues")))
	}
	if !parsesAs(t, tpl.section("Conditions", hosting), `!Equals [!Ref HostWebClient, "true"]`) {
		t.Errorf("%s = %s", hosting, yamlString(t, tpl.section("Conditions", hosting)))
	}
	for _, id := range tpl.ids {
		if strings.HasPrefix(id, "WebClient") && tpl.scalar(id, "Condition") != hosting {
			t.Errorf("%s: Condition %q, want %s", id, tpl.scalar(id, "Condition"), hosting)
		}
	}

	const bucket = "WebClientBucket"
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if tpl.scalar(bucket, "Properties", "PublicAccessBlockConfiguration", k) != "true" {
			t.Errorf("%s: PublicAccessBlockConfiguration.%s must be true", bucket, k)
		}
	}
	for _, k := range []string{"WebsiteConfiguration", "AccessControl"} {
		if tpl.field(bucket, "Properties", k) != nil {
			t.Errorf("%s: %s makes a public website bucket; CloudFront reads it through OAC", bucket, k)
		}
	}
	if tpl.scalar(bucket, "Metadata", "Minichat", "CloudOnly") != "true" {
		t.Errorf("%s: Metadata %s must be true: local tooling must not provision it", bucket, samtemplate.CloudOnlyKey)
	}
	if tpl.field(bucket, "Properties", "VersioningConfiguration") != nil {
		t.Errorf("%s: versioning would keep deleted files, and the bucket non-empty after the custom resource's Delete", bucket)
	}

	// The bucket policy lets the distribution read objects, and no one else.
	var policy string
	for _, id := range tpl.ofType("AWS::S3::BucketPolicy") {
		if parsesAs(t, tpl.field(id, "Properties", "Bucket"), "!Ref "+bucket) {
			policy = id
		}
	}
	if policy == "" {
		t.Fatalf("no bucket policy for %s", bucket)
	}
	allows := 0
	for _, st := range tpl.field(policy, "Properties", "PolicyDocument", "Statement").Content {
		if child(st, "Effect").Value != "Allow" {
			continue
		}
		allows++
		if !parsesAs(t, child(st, "Principal"), "{Service: cloudfront.amazonaws.com}") ||
			!parsesAs(t, child(st, "Action"), "s3:GetObject") ||
			!parsesAs(t, child(st, "Resource"), `!Sub "${WebClientBucket.Arn}/*"`) {
			t.Errorf("%s: an Allow statement other than CloudFront's s3:GetObject: %s", policy, yamlString(t, st))
		}
		src := child(child(child(st, "Condition"), "StringEquals"), "AWS:SourceArn")
		if !slices.Contains(refsIn(src), "WebClientDistribution") {
			t.Errorf("%s: CloudFront's read must be limited to WebClientDistribution (AWS:SourceArn): %s", policy, yamlString(t, st))
		}
	}
	if allows != 1 {
		t.Errorf("%s: %d Allow statements, want CloudFront's only", policy, allows)
	}

	const oac = "WebClientOriginAccessControl"
	for k, want := range map[string]string{"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"} {
		if got := tpl.scalar(oac, "Properties", "OriginAccessControlConfig", k); got != want {
			t.Errorf("%s: %s %q, want %q", oac, k, got, want)
		}
	}
	if ids := tpl.ofType("AWS::CloudFront::CloudFrontOriginAccessIdentity"); len(ids) > 0 {
		t.Errorf("legacy origin access identities %v: use Origin Access Control", ids)
	}

	const dist = "WebClientDistribution"
	cfg := tpl.field(dist, "Properties", "DistributionConfig")
	if got := child(cfg, "DefaultRootObject"); got == nil || got.Value != website.IndexKey {
		t.Errorf("%s: DefaultRootObject must be %s", dist, website.IndexKey)
	}
	origins := child(cfg, "Origins")
	if origins == nil || len(origins.Content) != 1 {
		t.Fatalf("%s: want exactly one origin, the bucket", dist)
	}
	o := origins.Content[0]
	if !parsesAs(t, child(o, "DomainName"), "!GetAtt WebClientBucket.RegionalDomainName") ||
		!parsesAs(t, child(o, "OriginAccessControlId"), "!GetAtt WebClientOriginAccessControl.Id") {
		t.Errorf("%s: the origin must be the bucket, read through %s: %s", dist, oac, yamlString(t, o))
	}
	if oai := child(child(o, "S3OriginConfig"), "OriginAccessIdentity"); oai == nil || oai.Value != "" {
		t.Errorf("%s: S3OriginConfig.OriginAccessIdentity must be empty (no OAI)", dist)
	}
	behaviors := []*yaml.Node{child(cfg, "DefaultCacheBehavior")}
	if cb := child(cfg, "CacheBehaviors"); cb != nil {
		behaviors = append(behaviors, cb.Content...)
	}
	for _, b := range behaviors {
		if v := child(b, "ViewerProtocolPolicy"); v == nil || v.Value != "redirect-to-https" {
			t.Errorf("%s: a cache behavior without ViewerProtocolPolicy redirect-to-https: %s", dist, yamlString(t, b))
		}
	}
	if !slices.Contains(refsIn(child(child(cfg, "DefaultCacheBehavior"), "ResponseHeadersPolicyId")), "WebClientResponseHeaders") {
		t.Errorf("%s: the security headers policy is not applied", dist)
	}

	out := tpl.section("Outputs", "WebClientURL")
	if v := child(out, "Condition"); v == nil || v.Value != hosting {
		t.Errorf("output WebClientURL must exist only under %s", hosting)
	}
	if !parsesAs(t, child(out, "Value"), `!Sub "https://${WebClientDistribution.DomainName}"`) {
		t.Errorf("output WebClientURL = %s", yamlString(t, child(out, "Value")))
	}
}

// The custom resource fills the bucket with what functions/webclient
// embeds, and config.json with the URLs the stack outputs.
func TestWebClientContentIsTheCustomResourceOfPkgWebsite(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	var res string
	for _, id := range tpl.ids {
		if strings.HasPrefix(tpl.typeOf(id), "Custom::") {
			res = id
		}
	}
	if res == "" {
		t.Fatal("no custom resource fills the web client's bucket")
	}
	props := func(k string) *yaml.Node { return tpl.field(res, "Properties", k) }
	if !parsesAs(t, props("ServiceToken"), "!GetAtt WebClientFunction.Arn") {
		t.Errorf("%s: ServiceToken %s", res, yamlString(t, props("ServiceToken")))
	}
	if got := tpl.scalar("WebClientFunction", "Properties", "CodeUri"); got != "functions/webclient/" {
		t.Errorf("WebClientFunction: CodeUri %q", got)
	}
	if tpl.scalar("WebClientFunction", "Metadata", "Minichat", "CloudOnly") != "true" {
		t.Error("WebClientFunction must be cloud-only: the local gateway has no handler for it")
	}
	if !parsesAs(t, props(website.PropBucket), "!Ref WebClientBucket") {
		t.Errorf("%s.%s = %s", res, website.PropBucket, yamlString(t, props(website.PropBucket)))
	}
	for prop, output := range map[string]string{website.PropWebSocketURL: "WebSocketURL", website.PropHTTPAPIURL: "HttpApiURL"} {
		if want := child(tpl.section("Outputs", output), "Value"); props(prop) == nil || !sameNode(props(prop), want) {
			t.Errorf("%s.%s = %s, want the %s output, %s", res, prop, yamlString(t, props(prop)), output, yamlString(t, want))
		}
	}
	// A new build publishes a new version: that must change a property, or
	// CloudFormation sends no Update and the bucket keeps the old files.
	if !parsesAs(t, props("FunctionVersion"), "!Ref WebClientFunction.Version") || tpl.scalar("WebClientFunction", "Properties", "AutoPublishAlias") == "" {
		t.Errorf("%s must take FunctionVersion from WebClientFunction's AutoPublishAlias version", res)
	}
	timeout, err1 := strconv.Atoi(tpl.scalar(res, "Properties", "ServiceTimeout"))
	fnTimeout, err2 := strconv.Atoi(tpl.scalar("WebClientFunction", "Properties", "Timeout"))
	if err1 != nil || err2 != nil || timeout > 3600 || timeout <= fnTimeout {
		t.Errorf("%s: ServiceTimeout %d must exceed the function's Timeout %d (and be at most 3600)", res, timeout, fnTimeout)
	}
}

// evalString evaluates the few intrinsics of an origins expression, with
// parameter values, condition values and resource attributes from env.
func evalString(t *testing.T, n *yaml.Node, env map[string]string) string {
	t.Helper()
	switch n.Tag {
	case "!If":
		v, ok := env[n.Content[0].Value]
		if !ok {
			t.Fatalf("no value for condition %s", n.Content[0].Value)
		}
		if v == "true" {
			return evalString(t, n.Content[1], env)
		}
		return evalString(t, n.Content[2], env)
	case "!Ref":
		v, ok := env[n.Value]
		if !ok {
			t.Fatalf("no value for %s", n.Value)
		}
		return v
	case "!Sub":
		return subVar.ReplaceAllStringFunc(n.Value, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("no value for %s", m)
			}
			return v
		})
	case "!!str", "":
		return n.Value
	}
	t.Fatalf("line %d: unexpected %s in an origins expression", n.Line, n.Tag)
	return ""
}

// The site's origin is allowed whenever the site exists, with the
// parameter's origins or alone: in the functions' environment, in the HTTP
// API's CORS and in the files bucket's CORS, always one comma-separated
// string split where a list is needed, never with an empty element.
func TestHostedOriginJoinsAllowedOrigins(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	if !parsesAs(t, tpl.section("Conditions", "HasBrowserOrigins"), "!Or [!Condition HasAllowedOrigins, !Condition HostsWebClient]") {
		t.Errorf("HasBrowserOrigins = %s", yamlString(t, tpl.section("Conditions", "HasBrowserOrigins")))
	}
	if typ := child(tpl.param("AllowedOrigins"), "Type"); typ == nil || typ.Value != "String" {
		t.Error("AllowedOrigins must stay a String (see its comment)")
	}
	env := tpl.global(t, "Function", "Environment", "Variables")
	lists := map[string]*yaml.Node{"Globals MINICHAT_ALLOWED_ORIGINS": child(env, "MINICHAT_ALLOWED_ORIGINS")}
	for _, c := range []struct{ id, cors, origins string }{
		{"HttpApi", "CorsConfiguration", "AllowOrigins"},
		{"FilesBucket", "CorsConfiguration", "CorsRules"},
	} {
		cors := tpl.field(c.id, "Properties", c.cors)
		if cors == nil || cors.Tag != "!If" || cors.Content[0].Value != "HasBrowserOrigins" || !parsesAs(t, cors.Content[2], "!Ref AWS::NoValue") {
			t.Errorf("%s.%s must exist exactly when some origin is allowed (!If HasBrowserOrigins)", c.id, c.cors)
			continue
		}
		list := child(cors.Content[1], c.origins)
		if c.origins == "CorsRules" {
			list = child(list.Content[0], "AllowedOrigins")
		}
		if list == nil || list.Tag != "!Split" || list.Content[0].Value != "," {
			t.Errorf("%s: origins must be !Split of the comma-separated string: %s", c.id, yamlString(t, list))
			continue
		}
		lists[c.id] = list.Content[1]
	}
	const site = "https://d111.cloudfront.net"
	for _, tc := range []struct {
		hosted  bool
		allowed string
		want    string
	}{
		{true, "", site},
		{true, "https://a.example,https://b.example", "https://a.example,https://b.example," + site},
		{false, "https://a.example", "https://a.example"},
		{false, "", ""},
	} {
		vals := map[string]string{
			"AllowedOrigins": tc.allowed, "WebClientDistribution.DomainName": strings.TrimPrefix(site, "https://"),
			hosting: strconv.FormatBool(tc.hosted), "HasAllowedOrigins": strconv.FormatBool(tc.allowed != ""),
		}
		for where, n := range lists {
			if n == nil {
				t.Errorf("%s: missing", where)
				continue
			}
			got := evalString(t, n, vals)
			if got != tc.want {
				t.Errorf("hosted=%v AllowedOrigins=%q: %s = %q, want %q", tc.hosted, tc.allowed, where, got, tc.want)
			}
			if got != "" && slices.Contains(strings.Split(got, ","), "") {
				t.Errorf("%s = %q splits into an empty origin", where, got)
			}
		}
	}
}

// Local tooling reads the template without the hosting: no second bucket
// to provision, no function the local gateway would need a handler for,
// and no CORS rule for an origin known only once deployed.
func TestLocalToolingLeavesTheHostingOut(t *testing.T) {
	t.Parallel()
	tpl, err := samtemplate.Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var buckets []string
	for _, b := range tpl.Buckets() {
		buckets = append(buckets, b.LogicalID)
		if b.LogicalID == "FilesBucket" && len(b.CORSRules) != 0 {
			t.Errorf("FilesBucket: local CORS rules %+v with default parameters", b.CORSRules)
		}
	}
	if !slices.Equal(buckets, []string{"FilesBucket"}) {
		t.Errorf("buckets for local tooling: %v, want [FilesBucket]", buckets)
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if f.CodeURI == "functions/webclient" {
			t.Errorf("%s reaches local tooling", f.LogicalID)
		}
	}
}
