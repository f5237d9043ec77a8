package samtemplate

import (
	"sort"

	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
)

// Table is an AWS::DynamoDB::Table with what is needed to create it.
type Table struct {
	LogicalID string
	// Name is the literal TableName, "" when absent or computed by an
	// intrinsic function (the provisioner then chooses one).
	Name string
	// BillingMode is "PAY_PER_REQUEST" or "PROVISIONED" as written, "" if absent
	// (CloudFormation then means PROVISIONED).
	BillingMode            string
	ProvisionedThroughput  *Throughput
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeyElement
	GlobalSecondaryIndexes []SecondaryIndex
	LocalSecondaryIndexes  []SecondaryIndex
	// TTLAttribute is the attribute holding the expiry time, "" when TTL is off.
	TTLAttribute string
	// StreamViewType is the stream's view type, "" when the table has no stream.
	StreamViewType string
}

// AttributeDefinition declares the type ("S", "N" or "B") of a key attribute.
type AttributeDefinition struct {
	AttributeName string
	AttributeType string
}

// KeyElement is one part of a key: KeyType "HASH" or "RANGE".
type KeyElement struct {
	AttributeName string
	KeyType       string
}

// SecondaryIndex is a global or local secondary index.
type SecondaryIndex struct {
	IndexName string
	KeySchema []KeyElement
	// ProjectionType is "ALL", "KEYS_ONLY" or "INCLUDE".
	ProjectionType        string
	NonKeyAttributes      []string
	ProvisionedThroughput *Throughput
}

// Throughput is a provisioned capacity.
type Throughput struct {
	ReadCapacityUnits  int64
	WriteCapacityUnits int64
}

// Bucket is an AWS::S3::Bucket with what is needed to create it.
type Bucket struct {
	LogicalID string
	// Name is the literal BucketName, "" when absent or computed by an
	// intrinsic function.
	Name      string
	CORSRules []CORSRule
}

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	AllowedHeaders []string
	AllowedMethods []string
	AllowedOrigins []string
	ExposedHeaders []string
	MaxAgeSeconds  int
}

// Tables returns the template's DynamoDB tables, sorted by logical id.
func (t *Template) Tables() []Table {
	tables := t.cf.GetAllDynamoDBTableResources()
	out := make([]Table, 0, len(tables))
	for id, tb := range tables {
		table := Table{
			LogicalID:             id,
			Name:                  literal(tb.TableName),
			BillingMode:           literal(tb.BillingMode),
			ProvisionedThroughput: throughput(tb.ProvisionedThroughput),
			KeySchema:             keySchema(tb.KeySchema),
		}
		for _, a := range tb.AttributeDefinitions {
			table.AttributeDefinitions = append(table.AttributeDefinitions, AttributeDefinition{AttributeName: a.AttributeName, AttributeType: a.AttributeType})
		}
		for _, g := range tb.GlobalSecondaryIndexes {
			table.GlobalSecondaryIndexes = append(table.GlobalSecondaryIndexes,
				secondaryIndex(g.IndexName, g.KeySchema, g.Projection, throughput(g.ProvisionedThroughput)))
		}
		for _, l := range tb.LocalSecondaryIndexes {
			table.LocalSecondaryIndexes = append(table.LocalSecondaryIndexes,
				secondaryIndex(l.IndexName, l.KeySchema, l.Projection, nil))
		}
		if ttl := tb.TimeToLiveSpecification; ttl != nil && ttl.Enabled {
			table.TTLAttribute = literal(ttl.AttributeName)
		}
		if tb.StreamSpecification != nil {
			table.StreamViewType = tb.StreamSpecification.StreamViewType
		}
		out = append(out, table)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out
}

// Buckets returns the template's S3 buckets, sorted by logical id, but those
// marked cloud-only (see CloudOnlyKey). A CORS rule keeps the origins known
// before deployment (a rule that allows only, say, the deployed web client's
// https://<distribution> is left out).
func (t *Template) Buckets() []Bucket {
	buckets := t.cf.GetAllS3BucketResources()
	out := make([]Bucket, 0, len(buckets))
	for id, b := range buckets {
		if cloudOnly(b.AWSCloudFormationMetadata) {
			continue
		}
		bucket := Bucket{LogicalID: id, Name: literal(b.BucketName)}
		if b.CorsConfiguration != nil {
			for _, r := range b.CorsConfiguration.CorsRules {
				origins := literals(r.AllowedOrigins)
				if len(origins) == 0 {
					continue
				}
				rule := CORSRule{
					AllowedHeaders: r.AllowedHeaders,
					AllowedMethods: r.AllowedMethods,
					AllowedOrigins: origins,
					ExposedHeaders: r.ExposedHeaders,
				}
				if r.MaxAge != nil {
					rule.MaxAgeSeconds = *r.MaxAge
				}
				bucket.CORSRules = append(bucket.CORSRules, rule)
			}
		}
		out = append(out, bucket)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out
}

// literals returns the non-empty literal values of vs, dropping intrinsics
// whose value is only known once deployed.
func literals(vs []string) []string {
	var out []string
	for _, v := range vs {
		if s := literal(&v); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func keySchema(ks []dynamodb.Table_KeySchema) []KeyElement {
	out := make([]KeyElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, KeyElement{AttributeName: k.AttributeName, KeyType: k.KeyType})
	}
	return out
}

func secondaryIndex(name string, ks []dynamodb.Table_KeySchema, p *dynamodb.Table_Projection, tp *Throughput) SecondaryIndex {
	idx := SecondaryIndex{IndexName: name, KeySchema: keySchema(ks), ProvisionedThroughput: tp}
	if p != nil {
		idx.ProjectionType = literal(p.ProjectionType)
		idx.NonKeyAttributes = p.NonKeyAttributes
	}
	return idx
}

func throughput(p *dynamodb.Table_ProvisionedThroughput) *Throughput {
	if p == nil {
		return nil
	}
	return &Throughput{ReadCapacityUnits: int64(p.ReadCapacityUnits), WriteCapacityUnits: int64(p.WriteCapacityUnits)}
}
