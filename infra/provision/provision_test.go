package provision_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/infra/provision"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

var seq atomic.Int64

// freshNames names every table and bucket of tpl uniquely, so that the
// subtests sharing one moto_server do not see each other's resources.
func freshNames(tpl *samtemplate.Template) provision.Names {
	n := seq.Add(1)
	names := provision.Names{}
	for _, t := range tpl.Tables() {
		names[t.LogicalID] = fmt.Sprintf("prov-%d-table", n)
	}
	for _, b := range tpl.Buckets() {
		names[b.LogicalID] = fmt.Sprintf("prov-%d-bucket", n)
	}
	return names
}

func parse(t *testing.T, data []byte) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestMoto runs every test that needs moto_server under one server.
func TestMoto(t *testing.T) {
	cfg := moto.Config(moto.Start(t))
	t.Run("ProjectTemplateTwice", func(t *testing.T) { testProjectTemplateTwice(t, cfg) })
	t.Run("ExistingTableGetsTTL", func(t *testing.T) { testExistingTableGetsTTL(t, cfg) })
	t.Run("ExistingTableWithOtherKeys", func(t *testing.T) { testExistingTableWithOtherKeys(t, cfg) })
	t.Run("EveryTableOption", func(t *testing.T) { testEveryTableOption(t, cfg) })
	t.Run("ProvisionedTableNeedsThroughput", func(t *testing.T) { testProvisionedTableNeedsThroughput(t, cfg) })
}

// testProjectTemplateTwice provisions template.yaml, then again, and
// checks the table against the template.
func testProjectTemplateTwice(t *testing.T, cfg aws.Config) {
	tpl := parse(t, minichat.Template)
	names := freshNames(tpl)
	first, err := provision.Provision(t.Context(), tpl, cfg, names, provision.WithPathStyle(true))
	if err != nil {
		t.Fatalf("first Provision: %v", err)
	}
	want := []provision.Resource{
		{Kind: provision.KindTable, LogicalID: "ChatTable", Name: names["ChatTable"], Created: true},
		{Kind: provision.KindBucket, LogicalID: "FilesBucket", Name: names["FilesBucket"], Created: true},
	}
	if !reflect.DeepEqual(first.Resources, want) {
		t.Fatalf("first run:\n got %+v\nwant %+v", first.Resources, want)
	}
	second, err := provision.Provision(t.Context(), tpl, cfg, names, provision.WithPathStyle(true))
	if err != nil {
		t.Fatalf("second Provision: %v", err)
	}
	for i := range want {
		want[i].Created = false
	}
	if !reflect.DeepEqual(second.Resources, want) || len(second.Created()) != 0 {
		t.Fatalf("second run is not a no-op:\n got %+v\nwant %+v", second.Resources, want)
	}

	table := tpl.Tables()[0]
	db := dynamodb.NewFromConfig(cfg)
	desc, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(names["ChatTable"])})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.Table
	if d.TableStatus != ddbtypes.TableStatusActive {
		t.Errorf("status %s, want ACTIVE", d.TableStatus)
	}
	if got, want := keys(d.KeySchema), tplKeys(table.KeySchema); !reflect.DeepEqual(got, want) {
		t.Errorf("key schema %v, template %v", got, want)
	}
	if d.BillingModeSummary == nil || string(d.BillingModeSummary.BillingMode) != table.BillingMode {
		t.Errorf("billing mode %+v, template %s", d.BillingModeSummary, table.BillingMode)
	}
	var attrs []string
	for _, a := range d.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	var wantAttrs []string
	for _, a := range table.AttributeDefinitions {
		wantAttrs = append(wantAttrs, a.AttributeName+":"+a.AttributeType)
	}
	slices.Sort(attrs)
	slices.Sort(wantAttrs)
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("attributes %v, template %v", attrs, wantAttrs)
	}
	if len(d.GlobalSecondaryIndexes) != len(table.GlobalSecondaryIndexes) || len(table.GlobalSecondaryIndexes) == 0 {
		t.Fatalf("GSIs %+v, template %+v", d.GlobalSecondaryIndexes, table.GlobalSecondaryIndexes)
	}
	for i, g := range table.GlobalSecondaryIndexes {
		got := d.GlobalSecondaryIndexes[i]
		if aws.ToString(got.IndexName) != g.IndexName || !reflect.DeepEqual(keys(got.KeySchema), tplKeys(g.KeySchema)) ||
			got.Projection == nil || string(got.Projection.ProjectionType) != g.ProjectionType {
			t.Errorf("GSI %s: got %s %v %+v", g.IndexName, aws.ToString(got.IndexName), keys(got.KeySchema), got.Projection)
		}
	}
	ttl, err := db.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(names["ChatTable"])})
	if err != nil {
		t.Fatal(err)
	}
	if table.TTLAttribute == "" || ttl.TimeToLiveDescription == nil ||
		aws.ToString(ttl.TimeToLiveDescription.AttributeName) != table.TTLAttribute ||
		ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Errorf("TTL %+v, template attribute %q", ttl.TimeToLiveDescription, table.TTLAttribute)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(names["FilesBucket"])}); err != nil {
		t.Errorf("bucket: %v", err)
	}
}

// testExistingTableGetsTTL: a table left without TTL (a run interrupted
// between CreateTable and UpdateTimeToLive) is not recreated but gets it.
func testExistingTableGetsTTL(t *testing.T, cfg aws.Config) {
	tpl := parse(t, minichat.Template)
	names := freshNames(tpl)
	db := dynamodb.NewFromConfig(cfg)
	table := tpl.Tables()[0]
	createLike(t, db, names[table.LogicalID], table)
	res, err := provision.Provision(t.Context(), tpl, cfg, names, provision.WithPathStyle(true))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Resources[0]; r.Created || !r.TTLEnabled || r.String() != fmt.Sprintf("exists  table %s (ChatTable), TTL turned on", r.Name) {
		t.Fatalf("table result %+v (%q)", r, r.String())
	}
	ttl, err := db.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(names[table.LogicalID])})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Fatalf("TTL %+v, %v", ttl, err)
	}
}

// testExistingTableWithOtherKeys: a table of the same name but another key
// schema is reported, not taken for ready.
func testExistingTableWithOtherKeys(t *testing.T, cfg aws.Config) {
	tpl := parse(t, minichat.Template)
	names := freshNames(tpl)
	table := tpl.Tables()[0]
	hash := table.KeySchema[0].AttributeName
	_, err := dynamodb.NewFromConfig(cfg).CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(names[table.LogicalID]),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(hash), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = provision.Provision(t.Context(), tpl, cfg, names, provision.WithPathStyle(true))
	if !errors.Is(err, provision.ErrMismatch) {
		t.Fatalf("Provision over a table with other keys: %v, want ErrMismatch", err)
	}
}

// optionsTemplate declares what template.yaml does not use: provisioned
// billing, a local index, a stream, a literal table name, bucket CORS.
const optionsTemplate = `
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Events:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: %s
      ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
        - {AttributeName: kind, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
        - {AttributeName: at, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: byKind
          KeySchema: [{AttributeName: kind, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [note]}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      LocalSecondaryIndexes:
        - IndexName: byIdKind
          KeySchema:
            - {AttributeName: id, KeyType: HASH}
            - {AttributeName: kind, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      CorsConfiguration:
        CorsRules:
          - {AllowedOrigins: ["https://a.example"], AllowedMethods: [GET, PUT], MaxAge: 60}
`

func testEveryTableOption(t *testing.T, cfg aws.Config) {
	n := seq.Add(1)
	literal := fmt.Sprintf("events-%d", n)
	tpl := parse(t, fmt.Appendf(nil, optionsTemplate, literal))
	bucket := fmt.Sprintf("uploads-%d", n)
	res, err := provision.Provision(t.Context(), tpl, cfg, provision.Names{"Uploads": bucket}, provision.WithPathStyle(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created()) != 2 || res.Resources[0].Name != literal || res.Resources[1].Name != bucket {
		t.Fatalf("result %+v", res)
	}
	desc, err := dynamodb.NewFromConfig(cfg).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(literal)})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.Table
	if pt := d.ProvisionedThroughput; pt == nil || aws.ToInt64(pt.ReadCapacityUnits) != 2 || aws.ToInt64(pt.WriteCapacityUnits) != 3 {
		t.Errorf("throughput %+v", d.ProvisionedThroughput)
	}
	if len(d.GlobalSecondaryIndexes) != 1 || d.GlobalSecondaryIndexes[0].Projection.ProjectionType != ddbtypes.ProjectionTypeInclude ||
		!reflect.DeepEqual(d.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes, []string{"note"}) {
		t.Errorf("GSIs %+v", d.GlobalSecondaryIndexes)
	}
	if len(d.LocalSecondaryIndexes) != 1 || aws.ToString(d.LocalSecondaryIndexes[0].IndexName) != "byIdKind" {
		t.Errorf("LSIs %+v", d.LocalSecondaryIndexes)
	}
	if d.StreamSpecification == nil || !aws.ToBool(d.StreamSpecification.StreamEnabled) || d.StreamSpecification.StreamViewType != ddbtypes.StreamViewTypeNewImage {
		t.Errorf("stream %+v", d.StreamSpecification)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	cors, err := s3c.GetBucketCors(t.Context(), &s3.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cors.CORSRules) != 1 || !reflect.DeepEqual(cors.CORSRules[0].AllowedOrigins, []string{"https://a.example"}) ||
		aws.ToInt32(cors.CORSRules[0].MaxAgeSeconds) != 60 {
		t.Errorf("CORS %+v", cors.CORSRules)
	}
}

// testProvisionedTableNeedsThroughput: CloudFormation's default billing
// mode is PROVISIONED, which cannot be created without a throughput.
func testProvisionedTableNeedsThroughput(t *testing.T, cfg aws.Config) {
	name := fmt.Sprintf("nothroughput-%d", seq.Add(1))
	tpl := parse(t, []byte(`
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
`))
	_, err := provision.Provision(t.Context(), tpl, cfg, provision.Names{"T": name})
	if err == nil || !strings.Contains(err.Error(), "needs ProvisionedThroughput") {
		t.Fatalf("Provision of a PROVISIONED table without throughput: %v", err)
	}
	var notFound *ddbtypes.ResourceNotFoundException
	if _, err := dynamodb.NewFromConfig(cfg).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}); !errors.As(err, &notFound) {
		t.Fatalf("table was created anyway (describe: %v)", err)
	}
}

// createLike creates a table named name with the keys, attributes and
// GSIs of like, but without TTL.
func createLike(t *testing.T, db *dynamodb.Client, name string, like samtemplate.Table) {
	t.Helper()
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingModePayPerRequest, KeySchema: toKeys(like.KeySchema)}
	for _, a := range like.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType)})
	}
	for _, g := range like.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName), KeySchema: toKeys(g.KeySchema), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		})
	}
	if _, err := db.CreateTable(t.Context(), in); err != nil {
		t.Fatal(err)
	}
}

func toKeys(ks []samtemplate.KeyElement) []ddbtypes.KeySchemaElement {
	var out []ddbtypes.KeySchemaElement
	for _, k := range ks {
		out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
	}
	return out
}

func keys(ks []ddbtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}

func tplKeys(ks []samtemplate.KeyElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.AttributeName+" "+k.KeyType)
	}
	return out
}
