package dynamostore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Attribute names the table schema (template.yaml's ChatTable) fixes.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	attrTTL    = "ttl"
	indexGSI1  = "gsi1"
)

// Key prefixes and fixed sort keys; docs/data-model.md lists the items.
const (
	prefixUser  = "USER#"
	prefixUname = "UNAME#"
	prefixConn  = "CONN#"
	prefixConv  = "CONV#"
	prefixMsg   = "MSG#"
	prefixIdem  = "IDEM#"
	prefixRoom  = "ROOM#"
	prefixRate  = "RATE#"
	prefixHit   = "HIT#"

	skProfile = "PROFILE"
	skUname   = "UNAME"
	skConn    = "CONN"
	skMsg     = "MSG"
	skIdem    = "IDEM"
	skRoom    = "ROOM"
	skRate    = "RATE"
	skHit     = "HIT"

	// usersPartition is gsi1's one partition: every profile, sorted by
	// username, for the prefix search.
	usersPartition = "USERS"
)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func profileKey(userID string) map[string]types.AttributeValue {
	return key(prefixUser+userID, skProfile)
}
func unameKey(username string) map[string]types.AttributeValue {
	return key(prefixUname+username, skUname)
}
func connKey(connID string) map[string]types.AttributeValue { return key(prefixConn+connID, skConn) }
func connIndexKey(userID, connID string) map[string]types.AttributeValue {
	return key(prefixUser+userID, prefixConn+connID)
}
func pointerKey(messageID string) map[string]types.AttributeValue {
	return key(prefixMsg+messageID, skMsg)
}
func idemKey(k string) map[string]types.AttributeValue { return key(prefixIdem+k, skIdem) }
func summaryKey(userID, peerID string) map[string]types.AttributeValue {
	return key(prefixUser+userID, prefixConv+peerID)
}
func roomKey(name string) map[string]types.AttributeValue { return key(prefixRoom+name, skRoom) }
func membershipKey(userID, room string) map[string]types.AttributeValue {
	return key(prefixUser+userID, prefixRoom+room)
}
func rateKey(k string) map[string]types.AttributeValue { return key(prefixRate+k, skRate) }

// messageKey is where the message itself lives: its conversation, or its
// room.
func messageKey(m chat.Message) map[string]types.AttributeValue {
	if m.Kind == chat.KindGroup {
		return key(prefixRoom+m.Room, prefixMsg+m.MessageID)
	}
	return key(prefixConv+chat.ConversationID(m.From, m.To), prefixMsg+m.MessageID)
}

// itemKey is the primary key of a stored item.
func itemKey(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}
}

// skOf is a stored item's sort key.
func skOf(item map[string]types.AttributeValue) string {
	if s, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// withKey returns a copy of attrs with k's attributes added.
func withKey(k, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(attrs)+len(k))
	for n, v := range attrs {
		out[n] = v
	}
	for n, v := range k {
		out[n] = v
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// epochCeil is t in whole seconds, rounded up, as DynamoDB's TTL wants it.
func epochCeil(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

func numAV(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func strAV(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// expired reports whether an item with a ttl attribute has passed it: the
// sweeper deletes expired items late, so reads must check.
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	n, ok := item[attrTTL].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	ttl, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && ttl <= now.Unix()
}

type userAttrs struct {
	UserID       string `dynamodbav:"userId"`
	Username     string `dynamodbav:"username"`
	PasswordHash string `dynamodbav:"passwordHash,omitempty"`
	Avatar       string `dynamodbav:"avatar,omitempty"`
	CreatedAt    string `dynamodbav:"createdAt,omitempty"`
}

func userItem(u chat.User) (map[string]types.AttributeValue, error) {
	av, err := attributevalue.MarshalMap(userAttrs{
		UserID: u.UserID, Username: u.Username, PasswordHash: u.PasswordHash,
		Avatar: u.Avatar, CreatedAt: formatTime(u.CreatedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("encode user: %w", err)
	}
	av[attrGSI1PK] = strAV(usersPartition)
	av[attrGSI1SK] = strAV(u.Username)
	return withKey(profileKey(u.UserID), av), nil
}

func decodeUser(item map[string]types.AttributeValue) (chat.User, error) {
	var a userAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return chat.User{}, fmt.Errorf("decode user: %w", err)
	}
	created, err := parseTime(a.CreatedAt)
	if err != nil {
		return chat.User{}, err
	}
	return chat.User{
		UserID: a.UserID, Username: a.Username, PasswordHash: a.PasswordHash,
		Avatar: a.Avatar, CreatedAt: created,
	}, nil
}

type connAttrs struct {
	ConnID      string `dynamodbav:"connId"`
	UserID      string `dynamodbav:"userId,omitempty"`
	Username    string `dynamodbav:"username,omitempty"`
	ConnectedAt string `dynamodbav:"connectedAt,omitempty"`
	ExpiresAt   string `dynamodbav:"expiresAt,omitempty"`
	TTL         int64  `dynamodbav:"ttl,omitempty"`
}

func connAttributes(c chat.Connection) (map[string]types.AttributeValue, error) {
	a := connAttrs{
		ConnID: c.ConnID, UserID: c.UserID, Username: c.Username,
		ConnectedAt: formatTime(c.ConnectedAt), ExpiresAt: formatTime(c.ExpiresAt),
	}
	if !c.ExpiresAt.IsZero() {
		a.TTL = epochCeil(c.ExpiresAt)
	}
	av, err := attributevalue.MarshalMap(a)
	if err != nil {
		return nil, fmt.Errorf("encode connection: %w", err)
	}
	return av, nil
}

func decodeConn(item map[string]types.AttributeValue) (chat.Connection, error) {
	var a connAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return chat.Connection{}, fmt.Errorf("decode connection: %w", err)
	}
	connected, err := parseTime(a.ConnectedAt)
	if err != nil {
		return chat.Connection{}, err
	}
	expires, err := parseTime(a.ExpiresAt)
	if err != nil {
		return chat.Connection{}, err
	}
	return chat.Connection{
		ConnID: a.ConnID, UserID: a.UserID, Username: a.Username,
		ConnectedAt: connected, ExpiresAt: expires,
	}, nil
}

// live reports whether c has not expired at now. A connection without an
// expiry never expires.
func live(c chat.Connection, now time.Time) bool {
	return c.ExpiresAt.IsZero() || c.ExpiresAt.After(now)
}

type fileAttrs struct {
	Key         string `dynamodbav:"key"`
	Name        string `dynamodbav:"name,omitempty"`
	Type        string `dynamodbav:"type,omitempty"`
	Size        int64  `dynamodbav:"size"`
	MessageType string `dynamodbav:"messageType,omitempty"`
}

type messageAttrs struct {
	MessageID string     `dynamodbav:"messageId"`
	Kind      string     `dynamodbav:"kind"`
	From      string     `dynamodbav:"from"`
	FromName  string     `dynamodbav:"fromName,omitempty"`
	To        string     `dynamodbav:"to,omitempty"`
	Room      string     `dynamodbav:"room,omitempty"`
	Content   string     `dynamodbav:"content,omitempty"`
	File      *fileAttrs `dynamodbav:"file,omitempty"`
	At        string     `dynamodbav:"at,omitempty"`
	Deleted   bool       `dynamodbav:"deleted,omitempty"`
}

func toMessageAttrs(m chat.Message) messageAttrs {
	a := messageAttrs{
		MessageID: m.MessageID, Kind: m.Kind, From: m.From, FromName: m.FromName,
		To: m.To, Room: m.Room, Content: m.Content, At: formatTime(m.At), Deleted: m.Deleted,
	}
	if f := m.File; f != nil {
		a.File = &fileAttrs{Key: f.Key, Name: f.Name, Type: f.Type, Size: f.Size, MessageType: f.MessageType}
	}
	return a
}

func (a messageAttrs) message() (chat.Message, error) {
	at, err := parseTime(a.At)
	if err != nil {
		return chat.Message{}, err
	}
	m := chat.Message{
		MessageID: a.MessageID, Kind: a.Kind, From: a.From, FromName: a.FromName,
		To: a.To, Room: a.Room, Content: a.Content, At: at, Deleted: a.Deleted,
	}
	if f := a.File; f != nil {
		m.File = &chat.FileRef{Key: f.Key, Name: f.Name, Type: f.Type, Size: f.Size, MessageType: f.MessageType}
	}
	return m, nil
}

// messageAttributes encodes m as the attributes of every item that holds a
// copy of it (message, pointer, idempotency record).
func messageAttributes(m chat.Message) (map[string]types.AttributeValue, error) {
	av, err := attributevalue.MarshalMap(toMessageAttrs(m))
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return av, nil
}

// messageAV encodes m as one map attribute (a summary's last message).
func messageAV(m chat.Message) (types.AttributeValue, error) {
	av, err := attributevalue.Marshal(toMessageAttrs(m))
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return av, nil
}

func decodeMessage(item map[string]types.AttributeValue) (chat.Message, error) {
	var a messageAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return chat.Message{}, fmt.Errorf("decode message: %w", err)
	}
	return a.message()
}

type summaryAttrs struct {
	PeerID    string        `dynamodbav:"peerId"`
	Unread    int           `dynamodbav:"unread"`
	UpdatedAt string        `dynamodbav:"updatedAt"`
	Last      *messageAttrs `dynamodbav:"last"`
}

func decodeSummary(item map[string]types.AttributeValue) (chat.Conversation, string, error) {
	var a summaryAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return chat.Conversation{}, "", fmt.Errorf("decode conversation: %w", err)
	}
	updated, err := parseTime(a.UpdatedAt)
	if err != nil {
		return chat.Conversation{}, "", err
	}
	c := chat.Conversation{PeerID: a.PeerID, Unread: a.Unread, UpdatedAt: updated}
	lastID := ""
	if a.Last != nil {
		m, err := a.Last.message()
		if err != nil {
			return chat.Conversation{}, "", err
		}
		c.LastMessage, lastID = &m, m.MessageID
	}
	return c, lastID, nil
}

type seatAttrs struct {
	UserID   string `dynamodbav:"userId,omitempty"`
	Username string `dynamodbav:"username,omitempty"`
	Avatar   string `dynamodbav:"avatar,omitempty"`
}

// roomAttrs holds a free seat as NULL rather than an empty map, which
// minidyn's transaction rollback corrupts.
type roomAttrs struct {
	Room    string       `dynamodbav:"room"`
	Version int64        `dynamodbav:"version"`
	Seats   []*seatAttrs `dynamodbav:"seats"`
}

func roomItem(r chat.Room) (map[string]types.AttributeValue, error) {
	a := roomAttrs{Room: r.Name, Version: r.Version, Seats: make([]*seatAttrs, len(r.Seats))}
	for i, s := range r.Seats {
		if s.UserID != "" {
			a.Seats[i] = &seatAttrs{UserID: s.UserID, Username: s.Username, Avatar: s.Avatar}
		}
	}
	av, err := attributevalue.MarshalMap(a)
	if err != nil {
		return nil, fmt.Errorf("encode room: %w", err)
	}
	return withKey(roomKey(r.Name), av), nil
}

func decodeRoom(name string, item map[string]types.AttributeValue) (chat.Room, error) {
	r := chat.Room{Name: name}
	if len(item) == 0 {
		return r, nil
	}
	var a roomAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return chat.Room{}, fmt.Errorf("decode room: %w", err)
	}
	if len(a.Seats) != chat.SeatCount {
		return chat.Room{}, fmt.Errorf("decode room %q: %d seats stored, want %d", name, len(a.Seats), chat.SeatCount)
	}
	r.Version = a.Version
	for i, s := range a.Seats {
		if s != nil {
			r.Seats[i] = chat.Seat(*s)
		}
	}
	return r, nil
}

// built turns a builder into the expression, or an error naming what it was
// for.
func built(what string, b expression.Builder) (expression.Expression, error) {
	e, err := b.Build()
	if err != nil {
		return expression.Expression{}, fmt.Errorf("%s: build expression: %w", what, err)
	}
	return e, nil
}

// put is a Put of item, with cond if it is set.
func put(item map[string]types.AttributeValue, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	p := &types.Put{Item: item}
	if cond != nil {
		e, err := built("put", expression.NewBuilder().WithCondition(*cond))
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		p.ConditionExpression = e.Condition()
		p.ExpressionAttributeNames, p.ExpressionAttributeValues = e.Names(), e.Values()
		p.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	return types.TransactWriteItem{Put: p}, nil
}

// del is a Delete of k, with cond if it is set.
func del(k map[string]types.AttributeValue, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	d := &types.Delete{Key: k}
	if cond != nil {
		e, err := built("delete", expression.NewBuilder().WithCondition(*cond))
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		d.ConditionExpression = e.Condition()
		d.ExpressionAttributeNames, d.ExpressionAttributeValues = e.Names(), e.Values()
		d.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	return types.TransactWriteItem{Delete: d}, nil
}

// update is an Update of k, with cond if it is set.
func update(k map[string]types.AttributeValue, upd expression.UpdateBuilder, cond *expression.ConditionBuilder) (types.TransactWriteItem, error) {
	b := expression.NewBuilder().WithUpdate(upd)
	if cond != nil {
		b = b.WithCondition(*cond)
	}
	e, err := built("update", b)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	u := &types.Update{
		Key: k, UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
	}
	if cond != nil {
		u.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	return types.TransactWriteItem{Update: u}, nil
}

func cond(c expression.ConditionBuilder) *expression.ConditionBuilder { return &c }

func notExists(attr string) expression.ConditionBuilder {
	return expression.AttributeNotExists(expression.Name(attr))
}

func exists(attr string) expression.ConditionBuilder {
	return expression.AttributeExists(expression.Name(attr))
}
