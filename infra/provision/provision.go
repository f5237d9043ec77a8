package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// ErrMismatch reports an existing table whose key schema is not the
// template's: the application would fail on it in confusing ways, so
// provisioning stops instead of reporting it as ready.
var ErrMismatch = errors.New("provision: existing table does not match the template")

// ErrNotOwned reports a bucket name that exists but belongs to someone
// else (S3 bucket names are global).
var ErrNotOwned = errors.New("provision: bucket exists and is not yours")

// Names maps a resource's logical id in the template (e.g. "ChatTable") to
// the physical name to create it under (e.g. "minichat"). A resource not
// in Names gets its literal TableName/BucketName from the template, else
// its logical id lower-cased.
type Names map[string]string

// OneName names every table and bucket of t name: a test's own stack,
// one table and one bucket under one name.
func OneName(t *samtemplate.Template, name string) Names {
	n := Names{}
	for _, tb := range t.Tables() {
		n[tb.LogicalID] = name
	}
	for _, b := range t.Buckets() {
		n[b.LogicalID] = name
	}
	return n
}

// name returns the physical name of the resource.
func (n Names) name(logicalID, literal string) string {
	if v := n[logicalID]; v != "" {
		return v
	}
	if literal != "" {
		return literal
	}
	return strings.ToLower(logicalID)
}

// Kinds of resources in a Result.
const (
	KindTable  = "table"
	KindBucket = "bucket"
)

// Resource is what Provision did about one table or bucket.
type Resource struct {
	Kind      string // KindTable or KindBucket
	LogicalID string
	Name      string
	// Created is false when the resource already existed.
	Created bool
	// TTLEnabled is set for an existing table whose TTL this run turned on.
	TTLEnabled bool
}

// String describes r in one line ("created table minichat (ChatTable)").
func (r Resource) String() string {
	verb := "exists "
	if r.Created {
		verb = "created"
	}
	s := fmt.Sprintf("%s %s %s (%s)", verb, r.Kind, r.Name, r.LogicalID)
	if r.TTLEnabled {
		s += ", TTL turned on"
	}
	return s
}

// Result lists every resource of the template, tables first, each kind in
// logical id order.
type Result struct {
	Resources []Resource
}

// Created returns the resources this run created.
func (r Result) Created() []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Created {
			out = append(out, res)
		}
	}
	return out
}

// Option configures Provision.
type Option func(*options)

type options struct {
	pathStyle bool
	wait      time.Duration
}

// WithPathStyle addresses buckets as endpoint/bucket instead of
// bucket.endpoint, which moto and LocalStack on localhost need
// (MINICHAT_S3_PATH_STYLE=true).
func WithPathStyle(on bool) Option { return func(o *options) { o.pathStyle = on } }

// WithWait bounds how long Provision waits for each table to become ACTIVE
// (default 5 minutes; DynamoDB usually takes seconds, emulators none).
func WithWait(d time.Duration) Option { return func(o *options) { o.wait = d } }

// DefaultWait is how long Provision waits for a table unless WithWait says
// otherwise.
const DefaultWait = 5 * time.Minute

// Provision creates every table and bucket of tpl that does not exist yet
// at the endpoints cfg leads to, under the names names gives, waits until
// the tables are ACTIVE and turns their TTL on. It stops at the first
// error; the Result then lists what was done before it.
func Provision(ctx context.Context, tpl *samtemplate.Template, cfg aws.Config, names Names, opts ...Option) (Result, error) {
	o := options{wait: DefaultWait}
	for _, opt := range opts {
		opt(&o)
	}
	var res Result
	if tables := tpl.Tables(); len(tables) > 0 {
		db := dynamodb.NewFromConfig(cfg)
		for _, t := range tables {
			r, err := provisionTable(ctx, db, t, names.name(t.LogicalID, t.Name), o.wait)
			if err != nil {
				return res, err
			}
			res.Resources = append(res.Resources, r)
		}
	}
	if buckets := tpl.Buckets(); len(buckets) > 0 {
		s3c := s3.NewFromConfig(cfg, func(so *s3.Options) { so.UsePathStyle = o.pathStyle })
		for _, b := range buckets {
			r, err := provisionBucket(ctx, s3c, cfg.Region, b, names.name(b.LogicalID, b.Name))
			if err != nil {
				return res, err
			}
			res.Resources = append(res.Resources, r)
		}
	}
	return res, nil
}

func provisionTable(ctx context.Context, db *dynamodb.Client, t samtemplate.Table, name string, wait time.Duration) (Resource, error) {
	r := Resource{Kind: KindTable, LogicalID: t.LogicalID, Name: name}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var notFound *ddbtypes.ResourceNotFoundException
	switch {
	case err == nil:
		if err := sameKeys(t, desc.Table); err != nil {
			return r, fmt.Errorf("table %s (%s): %w", name, t.LogicalID, err)
		}
	case errors.As(err, &notFound):
		in, err := createTableInput(t, name)
		if err != nil {
			return r, err
		}
		_, err = db.CreateTable(ctx, in)
		var inUse *ddbtypes.ResourceInUseException
		switch {
		case err == nil:
			r.Created = true
		case errors.As(err, &inUse):
			// Another run created it between our describe and create.
		default:
			return r, fmt.Errorf("provision: create table %s (%s): %w", name, t.LogicalID, err)
		}
	default:
		return r, fmt.Errorf("provision: describe table %s (%s): %w", name, t.LogicalID, err)
	}
	// Polling every few seconds rather than the waiter's default 20 s keeps a
	// fresh table's wait short on AWS; emulators answer ACTIVE at once.
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 5*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, wait); err != nil {
		return r, fmt.Errorf("provision: wait for table %s (%s) to become ACTIVE: %w", name, t.LogicalID, err)
	}
	if t.TTLAttribute == "" {
		return r, nil
	}
	enabled, err := ensureTTL(ctx, db, name, t.TTLAttribute)
	if err != nil {
		return r, fmt.Errorf("provision: table %s (%s): %w", name, t.LogicalID, err)
	}
	r.TTLEnabled = enabled && !r.Created
	return r, nil
}

// ensureTTL turns the table's TTL on for attr unless it already is, and
// reports whether it had to.
func ensureTTL(ctx context.Context, db *dynamodb.Client, table, attr string) (bool, error) {
	cur, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return false, fmt.Errorf("describe TTL: %w", err)
	}
	if d := cur.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == attr &&
		(d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling) {
		return false, nil
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return false, fmt.Errorf("turn TTL on for %q: %w", attr, err)
	}
	return true, nil
}

func createTableInput(t samtemplate.Table, name string) (*dynamodb.CreateTableInput, error) {
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		KeySchema: keySchema(t.KeySchema),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName), AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType),
		})
	}
	// CloudFormation's default billing mode is PROVISIONED, which needs a
	// throughput on the table and on every GSI.
	onDemand := t.BillingMode == string(ddbtypes.BillingModePayPerRequest)
	if onDemand {
		in.BillingMode = ddbtypes.BillingModePayPerRequest
	} else {
		if t.ProvisionedThroughput == nil {
			return nil, fmt.Errorf("provision: table %s (%s): billing mode %q needs ProvisionedThroughput", name, t.LogicalID, t.BillingMode)
		}
		in.BillingMode = ddbtypes.BillingModeProvisioned
		in.ProvisionedThroughput = throughput(t.ProvisionedThroughput)
	}
	for _, g := range t.GlobalSecondaryIndexes {
		gsi := ddbtypes.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName), KeySchema: keySchema(g.KeySchema), Projection: projection(g)}
		if !onDemand {
			if g.ProvisionedThroughput == nil {
				return nil, fmt.Errorf("provision: table %s (%s): index %s needs ProvisionedThroughput", name, t.LogicalID, g.IndexName)
			}
			gsi.ProvisionedThroughput = throughput(g.ProvisionedThroughput)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	for _, l := range t.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, ddbtypes.LocalSecondaryIndex{
			IndexName: aws.String(l.IndexName), KeySchema: keySchema(l.KeySchema), Projection: projection(l),
		})
	}
	if t.StreamViewType != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(t.StreamViewType)}
	}
	return in, nil
}

// sameKeys checks that an existing table has the template's primary key
// and global secondary indexes (name and keys).
func sameKeys(t samtemplate.Table, d *ddbtypes.TableDescription) error {
	if want, got := keyString(keySchema(t.KeySchema)), keyString(d.KeySchema); want != got {
		return fmt.Errorf("%w: key schema is %s, template says %s", ErrMismatch, got, want)
	}
	have := map[string]string{}
	for _, g := range d.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = keyString(g.KeySchema)
	}
	for _, g := range t.GlobalSecondaryIndexes {
		got, ok := have[g.IndexName]
		if !ok {
			return fmt.Errorf("%w: no global secondary index %s", ErrMismatch, g.IndexName)
		}
		if want := keyString(keySchema(g.KeySchema)); got != want {
			return fmt.Errorf("%w: index %s keys are %s, template says %s", ErrMismatch, g.IndexName, got, want)
		}
	}
	return nil
}

func keyString(ks []ddbtypes.KeySchemaElement) string {
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func keySchema(ks []samtemplate.KeyElement) []ddbtypes.KeySchemaElement {
	out := make([]ddbtypes.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
	}
	return out
}

func projection(i samtemplate.SecondaryIndex) *ddbtypes.Projection {
	p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(i.ProjectionType)}
	if i.ProjectionType == "" {
		// CloudFormation's default.
		p.ProjectionType = ddbtypes.ProjectionTypeKeysOnly
	}
	if len(i.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = slices.Clone(i.NonKeyAttributes)
	}
	return p
}

func throughput(t *samtemplate.Throughput) *ddbtypes.ProvisionedThroughput {
	return &ddbtypes.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(t.ReadCapacityUnits), WriteCapacityUnits: aws.Int64(t.WriteCapacityUnits)}
}

func provisionBucket(ctx context.Context, c *s3.Client, region string, b samtemplate.Bucket, name string) (Resource, error) {
	r := Resource{Kind: KindBucket, LogicalID: b.LogicalID, Name: name}
	exists, err := bucketExists(ctx, c, name)
	if errors.Is(err, ErrNotOwned) {
		return r, fmt.Errorf("%w: %s (%s)", ErrNotOwned, name, b.LogicalID)
	}
	if err != nil {
		return r, fmt.Errorf("provision: bucket %s (%s): %w", name, b.LogicalID, err)
	}
	if exists {
		return r, nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	// us-east-1 is the one region that refuses a location constraint.
	if region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
	}
	_, err = c.CreateBucket(ctx, in)
	var owned *s3types.BucketAlreadyOwnedByYou
	var taken *s3types.BucketAlreadyExists
	switch {
	case err == nil:
		r.Created = true
	case errors.As(err, &owned):
		// Another run created it between our check and create.
		return r, nil
	case errors.As(err, &taken):
		return r, fmt.Errorf("%w: %s (%s)", ErrNotOwned, name, b.LogicalID)
	default:
		return r, fmt.Errorf("provision: create bucket %s (%s): %w", name, b.LogicalID, err)
	}
	if len(b.CORSRules) > 0 {
		if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(name), CORSConfiguration: corsConfig(b.CORSRules)}); err != nil {
			return r, fmt.Errorf("provision: bucket %s (%s): set CORS: %w", name, b.LogicalID, err)
		}
	}
	return r, nil
}

// bucketExists asks HeadBucket: 200 is ours, 404 is free, 403 is someone
// else's.
func bucketExists(ctx context.Context, c *s3.Client, name string) (bool, error) {
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	if err == nil {
		return true, nil
	}
	var notFound *s3types.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() == 403 {
		return false, ErrNotOwned
	}
	return false, fmt.Errorf("head bucket: %w", err)
}

func corsConfig(rules []samtemplate.CORSRule) *s3types.CORSConfiguration {
	cfg := &s3types.CORSConfiguration{}
	for _, r := range rules {
		rule := s3types.CORSRule{
			AllowedHeaders: r.AllowedHeaders,
			AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins,
			ExposeHeaders:  r.ExposedHeaders,
		}
		if r.MaxAgeSeconds > 0 {
			rule.MaxAgeSeconds = aws.Int32(int32(r.MaxAgeSeconds))
		}
		cfg.CORSRules = append(cfg.CORSRules, rule)
	}
	return cfg
}
