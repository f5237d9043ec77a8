package dynamostore

import (
	"fmt"
	"maps"
	"slices"
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
	prefixSub   = "SUB#"
	prefixRate  = "RATE#"
	prefixHit   = "HIT#"

	skProfile = "PROFILE"
	skUname   = "UNAME"
	skConn    = "CONN"
	skIdem    = "IDEM"
	skRate    = "RATE"
	skHit     = "HIT"
	// skMeta sorts after every MSG# key of its partition, so one Query
	// from the end reads a room's record and its latest message.
	skMeta = "~META"

	// usersPartition is gsi1's one partition: every username, sorted, for
	// the prefix search.
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
func idemKey(userID, clientID string) map[string]types.AttributeValue {
	return key(prefixIdem+userID+"#"+clientID, skIdem)
}
func roomKey(name string) map[string]types.AttributeValue { return key(prefixRoom+name, skMeta) }
func rateKey(k string) map[string]types.AttributeValue    { return key(prefixRate+k, skRate) }
func subKey(watched, sub string) map[string]types.AttributeValue {
	return key(prefixSub+watched, sub)
}

// convPK is the partition of a private conversation's messages.
func convPK(a, b string) string { return prefixConv + chat.ConversationID(a, b) }

// indexSK is a user's entry of the conversation with peer: under the hash
// that message ids carry, so that a message id leads to it.
func indexSK(a, b, peer string) string {
	return prefixConv + fmt.Sprintf("%09x", scopeHash(chat.ConversationID(a, b))) + "#" + peer
}

func indexKey(userID, peerID string) map[string]types.AttributeValue {
	return key(prefixUser+userID, indexSK(userID, peerID, peerID))
}

// seqSK is the sort key of message seq; within a room, of its epoch.
func seqSK(epoch string, seq int64) string {
	if epoch != "" {
		return prefixMsg + epoch + "#" + fmt.Sprintf("%012d", seq)
	}
	return prefixMsg + fmt.Sprintf("%012d", seq)
}

// itemKey is the primary key of a stored item.
func itemKey(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}
}

func skOf(item map[string]types.AttributeValue) string {
	if s, ok := item[attrSK].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// withKey returns a copy of attrs with k's attributes added.
func withKey(k, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(attrs)+len(k))
	maps.Copy(out, attrs)
	maps.Copy(out, k)
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

// liveConns turns a stored map of connection ids to expiry (Unix ms) into
// the live targets of userID, sorted by id.
func liveConns(userID string, conns map[string]int64, now time.Time) []chat.Target {
	var ts []chat.Target
	for _, id := range slices.Sorted(maps.Keys(conns)) {
		if exp := time.UnixMilli(conns[id]); exp.After(now) {
			ts = append(ts, chat.Target{ConnID: id, UserID: userID, ExpiresAt: exp})
		}
	}
	return ts
}

// unameAttrs is the username claim: it makes names unique, answers logins
// with one read, and is what the username search finds in gsi1.
type unameAttrs struct {
	UserID       string `dynamodbav:"userId"`
	Username     string `dynamodbav:"username"`
	PasswordHash string `dynamodbav:"passwordHash,omitempty"`
}

// profileAttrs is a user: the account, and what changes while they chat
// (live connections, seats by room, when last seen).
type profileAttrs struct {
	UserID        string           `dynamodbav:"userId"`
	Username      string           `dynamodbav:"username"`
	Avatar        string           `dynamodbav:"avatar,omitempty"`
	AvatarKey     string           `dynamodbav:"avatarKey,omitempty"`
	AvatarVersion string           `dynamodbav:"avatarV,omitempty"`
	CreatedAt     string           `dynamodbav:"createdAt,omitempty"`
	Conns         map[string]int64 `dynamodbav:"conns"`
	Rooms         map[string]int   `dynamodbav:"rooms"`
	LastSeen      int64            `dynamodbav:"lastSeen,omitempty"`
	CV            int64            `dynamodbav:"cv,omitempty"`
}

func (p profileAttrs) user() (chat.User, error) {
	created, err := parseTime(p.CreatedAt)
	if err != nil {
		return chat.User{}, err
	}
	return chat.User{
		UserID: p.UserID, Username: p.Username, Avatar: p.Avatar,
		AvatarKey: p.AvatarKey, AvatarVersion: p.AvatarVersion, CreatedAt: created,
	}, nil
}

func (p profileAttrs) peer(now time.Time) (chat.Peer, error) {
	u, err := p.user()
	if err != nil {
		return chat.Peer{}, err
	}
	out := chat.Peer{User: u, Conns: liveConns(p.UserID, p.Conns, now)}
	if p.LastSeen > 0 {
		out.LastSeen = time.UnixMilli(p.LastSeen).UTC()
	}
	return out, nil
}

func decodeProfile(item map[string]types.AttributeValue) (profileAttrs, error) {
	var p profileAttrs
	if err := attributevalue.UnmarshalMap(item, &p); err != nil {
		return profileAttrs{}, fmt.Errorf("decode user: %w", err)
	}
	return p, nil
}

// connAttrs is a connection; sibs is a copy of its user's live
// connections as they were at its last change, where its sender's own
// copies of messages go.
type connAttrs struct {
	ConnID      string           `dynamodbav:"connId"`
	UserID      string           `dynamodbav:"userId,omitempty"`
	Username    string           `dynamodbav:"username,omitempty"`
	ConnectedAt string           `dynamodbav:"connectedAt,omitempty"`
	ExpiresAt   string           `dynamodbav:"expiresAt,omitempty"`
	TTL         int64            `dynamodbav:"ttl,omitempty"`
	Sibs        map[string]int64 `dynamodbav:"sibs,omitempty"`
	// SibsV orders sibling refreshes: a slower refresh never puts back an
	// older list.
	SibsV int64 `dynamodbav:"sibsV,omitempty"`
}

func connItem(c chat.Connection) (map[string]types.AttributeValue, error) {
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
	return withKey(connKey(c.ConnID), av), nil
}

func decodeConn(item map[string]types.AttributeValue, now time.Time) (chat.Connection, error) {
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
	c := chat.Connection{ConnID: a.ConnID, UserID: a.UserID, Username: a.Username, ConnectedAt: connected, ExpiresAt: expires}
	if c.UserID != "" {
		c.Siblings = liveConns(c.UserID, a.Sibs, now)
	}
	return c, nil
}

// live reports whether c has not expired at now.
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

// messageAttrs is a stored message. NA and NB count, for a private
// message, the messages each party (a < b by user id) has sent up to and
// including this one: the unread count of a read marker is their
// difference, read in O(1).
type messageAttrs struct {
	MessageID string     `dynamodbav:"messageId"`
	Seq       int64      `dynamodbav:"seq"`
	Kind      string     `dynamodbav:"kind"`
	From      string     `dynamodbav:"from"`
	FromName  string     `dynamodbav:"fromName,omitempty"`
	To        string     `dynamodbav:"to,omitempty"`
	Room      string     `dynamodbav:"room,omitempty"`
	Epoch     string     `dynamodbav:"epoch,omitempty"`
	Content   string     `dynamodbav:"content,omitempty"`
	File      *fileAttrs `dynamodbav:"file,omitempty"`
	At        string     `dynamodbav:"at,omitempty"`
	Deleted   bool       `dynamodbav:"deleted,omitempty"`
	ClientID  string     `dynamodbav:"cid,omitempty"`
	NA        int64      `dynamodbav:"na,omitempty"`
	NB        int64      `dynamodbav:"nb,omitempty"`
	TTL       int64      `dynamodbav:"ttl,omitempty"`
	// Nonce tells the put that stored the message from a concurrent one
	// for the same seq, which may carry the same id (same millisecond):
	// a put the SDK retried after its answer was lost finds its own.
	Nonce uint64 `dynamodbav:"n,omitempty"`
}

func toMessageAttrs(m chat.Message) messageAttrs {
	a := messageAttrs{
		MessageID: m.MessageID, Seq: m.Seq, Kind: m.Kind, From: m.From, FromName: m.FromName,
		To: m.To, Room: m.Room, Epoch: m.Epoch, Content: m.Content, At: formatTime(m.At),
		Deleted: m.Deleted, ClientID: m.ClientID,
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
		MessageID: a.MessageID, Seq: a.Seq, Kind: a.Kind, From: a.From, FromName: a.FromName,
		To: a.To, Room: a.Room, Epoch: a.Epoch, Content: a.Content, At: at, Deleted: a.Deleted,
		ClientID: a.ClientID,
	}
	if f := a.File; f != nil {
		m.File = &chat.FileRef{Key: f.Key, Name: f.Name, Type: f.Type, Size: f.Size, MessageType: f.MessageType}
	}
	return m, nil
}

func decodeMessageAttrs(item map[string]types.AttributeValue) (messageAttrs, error) {
	var a messageAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return messageAttrs{}, fmt.Errorf("decode message: %w", err)
	}
	return a, nil
}

func decodeMessage(item map[string]types.AttributeValue) (chat.Message, error) {
	a, err := decodeMessageAttrs(item)
	if err != nil {
		return chat.Message{}, err
	}
	return a.message()
}

// indexAttrs is one user's entry of a conversation: with whom, how far
// they read it (seq, message id, and the peer's count of messages up to
// there), and the seqs of the peer's messages deleted after the marker,
// which the unread count leaves out.
type indexAttrs struct {
	PeerID  string  `dynamodbav:"peerId"`
	ReadSeq int64   `dynamodbav:"readSeq,omitempty"`
	ReadMid string  `dynamodbav:"readMid,omitempty"`
	ReadN   int64   `dynamodbav:"readN,omitempty"`
	Dels    []int64 `dynamodbav:"dels,omitempty,numberset"`
}

// seatAttrs is a taken seat: its user, with their live connections.
type seatAttrs struct {
	UserID        string           `dynamodbav:"userId"`
	Username      string           `dynamodbav:"username"`
	AvatarVersion string           `dynamodbav:"avatarV,omitempty"`
	Conns         map[string]int64 `dynamodbav:"conns"`
	// CV is the profile's cv when the user took the seat (or took it
	// again): the leave of a $disconnect frees only a seat taken before
	// its own profile update, not one a new connection took meanwhile.
	CV int64 `dynamodbav:"cv,omitempty"`
}

// roomAttrs holds a free seat as NULL rather than an empty map, which
// minidyn's transaction rollback corrupts.
type roomAttrs struct {
	Room    string       `dynamodbav:"room"`
	Epoch   string       `dynamodbav:"epoch"`
	Version int64        `dynamodbav:"version"`
	Seats   []*seatAttrs `dynamodbav:"seats"`
}

func roomItem(a roomAttrs) (map[string]types.AttributeValue, error) {
	av, err := attributevalue.MarshalMap(a)
	if err != nil {
		return nil, fmt.Errorf("encode room: %w", err)
	}
	return withKey(roomKey(a.Room), av), nil
}

func decodeRoomAttrs(item map[string]types.AttributeValue) (roomAttrs, error) {
	var a roomAttrs
	if err := attributevalue.UnmarshalMap(item, &a); err != nil {
		return roomAttrs{}, fmt.Errorf("decode room: %w", err)
	}
	if len(a.Seats) != chat.SeatCount {
		return roomAttrs{}, fmt.Errorf("decode room %q: %d seats stored, want %d", a.Room, len(a.Seats), chat.SeatCount)
	}
	return a, nil
}

func (a roomAttrs) room(now time.Time) chat.Room {
	r := chat.Room{Name: a.Room, Epoch: a.Epoch, Version: a.Version}
	for i, s := range a.Seats {
		if s != nil {
			r.Seats[i] = chat.Seat{UserID: s.UserID, Username: s.Username, AvatarVersion: s.AvatarVersion, Conns: liveConns(s.UserID, s.Conns, now)}
		}
	}
	return r
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
