package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Page sizes of history reads.
const (
	defaultPage = 50
	maxPage     = 100
)

// maxResendPages bounds the search for a resend's first message: a resend
// comes seconds after its first send, and a client id used again after
// more messages than that is refused rather than searched for without end.
const maxResendPages = 2

var (
	errResendTooOld = errors.New("the first message of a resend is older than the search")
	// errIDReused refuses a client id whose first message lies too far
	// back: nothing is stored, the client sends with a fresh id.
	errIDReused = &chat.InputError{Field: "id", Rule: "was used for a message too long ago: send with a fresh id"}
)

// inFlight is how long after a client id was claimed its first send may
// still be storing (API Gateway's 29 s integration limit, and a margin):
// a resend within it that finds nothing stored is told to retry rather
// than stored again.
const inFlight = 30 * time.Second

// resendSkew is how far before its claim a first send's message may be
// stamped (clocks of different instances).
const resendSkew = time.Minute

// scope is where a message sequence lives: its partition, its epoch (rooms
// only) and the string its message ids are hashed from; a and b are the
// parties of a private conversation.
type scope struct {
	pk, epoch, hash string
	a, b            string
	ttl             int64
}

func privateScope(x, y string) scope {
	a, b := x, y
	if a > b {
		a, b = b, a
	}
	return scope{pk: convPK(a, b), hash: chat.ConversationID(a, b), a: a, b: b}
}

// seqPrefix is the sort key prefix of the scope's messages.
func (sc scope) seqPrefix() string {
	if sc.epoch != "" {
		return prefixMsg + sc.epoch + "#"
	}
	return prefixMsg
}

// latest reads the newest message of the scope (nil for none).
func (s *DynamoStore) latest(ctx context.Context, sc scope) (*messageAttrs, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(sc.pk)).And(expression.Key(attrSK).BeginsWith(sc.seqPrefix()))
	in, err := keyQuery("latest message", kc, false, 1)
	if err != nil {
		return nil, err
	}
	out, err := s.query(ctx, in)
	if err != nil || len(out.Items) == 0 {
		return nil, err
	}
	a, err := decodeMessageAttrs(out.Items[0])
	return &a, err
}

// save stores m as the next message of sc. At once it claims m's client id
// (a conditional put: a resend finds it taken), runs admit, and reads the
// scope's newest message (unless known, the seq the caller read); then a
// conditional put on the next seq stores the message, the seq's claim. A
// lost race for the seq tries the next one; one lost to the same client
// id is a resend.
//
// known, when set, is the scope's newest message as the caller read it
// (a room's, with the room); otherwise it is read here.
func (s *DynamoStore) save(ctx context.Context, sc scope, m chat.Message, admit func(context.Context) error, known *messageAttrs) (chat.Message, bool, error) {
	if s.resendOf(known, m) {
		// The newest message, already read, is this send's: a resend,
		// answered with nothing claimed, limited or written.
		first, err := known.message()
		return first, false, err
	}
	var (
		claimed, resent bool
		claim           map[string]types.AttributeValue
		nonce           string
		admitErr        error
		prev            = known
	)
	jobs := []func() error{func() error { admitErr = admit(ctx); return nil }}
	if m.ClientID != "" {
		jobs = append(jobs, func() error {
			var err error
			claimed, claim, nonce, err = s.claim(ctx, sc, m)
			resent = !claimed && err == nil
			return err
		})
	}
	if known == nil && sc.epoch == "" {
		jobs = append(jobs, func() error {
			var err error
			prev, err = s.latest(ctx, sc)
			return err
		})
	}
	// owned is the nonce of the claim this send holds ("" for none):
	// giving a claim back or marking it touches only that claim, not one
	// a resend has taken over meanwhile.
	owned := func() string {
		if claimed {
			return nonce
		}
		return ""
	}
	if err := parallel(jobs...); err != nil {
		s.release(ctx, m, owned())
		return chat.Message{}, false, fmt.Errorf("save message: %w", err)
	}
	if resent {
		// A resend comes seconds after its first send: the newest message,
		// read anyway, is usually it.
		if s.resendOf(prev, m) {
			first, err := prev.message()
			return first, false, err
		}
		rec, err := s.claimOf(ctx, m, claim)
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		if rec.nonce != nonce {
			first, taken, err := s.resend(ctx, sc, m, rec)
			switch {
			case err != nil:
				return chat.Message{}, false, fmt.Errorf("save message: %w", err)
			case first != nil:
				return *first, false, nil
			}
			nonce = taken
		}
		// Else our own claim, its put retried by the SDK (an emulator
		// that returned no item with the failed condition).
		claimed = true
	}
	if admitErr != nil {
		s.release(ctx, m, owned())
		return chat.Message{}, false, admitErr
	}
	stored, created, err := s.store(ctx, sc, m, prev)
	if err != nil {
		// Whether the message got stored is unknown (an answer may have
		// been lost): the claim stays, marked finished, so that a resend
		// looks for the message at once instead of waiting for a send
		// still in flight.
		s.finishClaim(ctx, m, owned())
	}
	return stored, created, err
}

// store writes m as the message after prev in sc: a conditional put on the
// next seq, the seq's claim. A lost race for the seq tries the next one;
// one lost to the same client id is a resend.
func (s *DynamoStore) store(ctx context.Context, sc scope, m chat.Message, prev *messageAttrs) (chat.Message, bool, error) {
	if sc.a != "" && (prev == nil || prev.Seq == 0) {
		if err := s.openConversation(ctx, sc); err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
	}
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		next := s.next(sc, m, prev)
		item, err := attributevalue.MarshalMap(next)
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: encode: %w", err)
		}
		w, err := put(withKey(key(sc.pk, seqSK(sc.epoch, next.Seq)), item), cond(notExists(attrPK)))
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		err = s.write(ctx, w)
		if taken, lost := failedAt(err, 0); lost {
			if len(taken) == 0 {
				// An emulator that returns no item: look at what won.
				if taken, err = s.itemAt(ctx, sc, next.Seq); err != nil {
					return chat.Message{}, false, fmt.Errorf("save message: %w", err)
				}
			}
			won, err := decodeMessageAttrs(taken)
			if err != nil {
				return chat.Message{}, false, fmt.Errorf("save message: %w", err)
			}
			if won.Nonce == next.Nonce {
				// This put itself, retried by the SDK after its answer was
				// lost: the message is stored, by this send.
				stored, err := won.message()
				return stored, err == nil, err
			}
			if s.resendOf(&won, m) {
				first, err := won.message()
				return first, false, err
			}
			prev = &won
			continue
		}
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		stored, err := next.message()
		return stored, err == nil, err
	}
	return chat.Message{}, false, fmt.Errorf("save message: %w", errContention)
}

// next is m as the message after prev in sc: its seq, id and counts.
func (s *DynamoStore) next(sc scope, m chat.Message, prev *messageAttrs) messageAttrs {
	a := toMessageAttrs(m)
	ms := m.At.UnixMilli()
	if prev != nil {
		a.Seq, a.NA, a.NB = prev.Seq+1, prev.NA, prev.NB
		// Ids sort by time and by seq within a conversation, whichever
		// instance's clock stamped the one before.
		if _, _, at, err := parseMessageID(prev.MessageID); err == nil && at.UnixMilli() > ms {
			ms = at.UnixMilli()
		}
	} else {
		a.Seq = 1
	}
	if sc.a != "" {
		if m.From == sc.a {
			a.NA++
		} else {
			a.NB++
		}
	}
	a.MessageID = messageID(ms, a.Seq, sc.hash)
	a.TTL = sc.ttl
	a.Nonce = rand.Uint64() | 1
	return a
}

func (s *DynamoStore) itemAt(ctx context.Context, sc scope, seq int64) (map[string]types.AttributeValue, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: key(sc.pk, seqSK(sc.epoch, seq))})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// claim puts the idempotency record of m's client id, with where m goes,
// unless one exists: claimed false then, with the existing record when the
// service returned it. It returns the nonce the claim was put with.
func (s *DynamoStore) claim(ctx context.Context, sc scope, m chat.Message) (bool, map[string]types.AttributeValue, string, error) {
	// The nonce tells this claim from another send's: a put the SDK
	// retried after its answer was lost finds its own claim, not a resend.
	nonce := uuid.NewString()
	w, err := put(withKey(idemKey(m.From, m.ClientID), claimItem(sc, s.now(), s.idemTTL, nonce)), cond(notExists(attrPK)))
	if err != nil {
		return false, nil, "", err
	}
	err = s.write(ctx, w)
	if old, taken := failedAt(err, 0); taken {
		if nonceOf(old) == nonce {
			return true, nil, nonce, nil
		}
		return false, old, nonce, nil
	}
	return err == nil, nil, nonce, err
}

// nonceOf is the nonce of a claim item ("" when there is none).
func nonceOf(item map[string]types.AttributeValue) string {
	n, _ := item["nonce"].(*types.AttributeValueMemberS)
	if n == nil {
		return ""
	}
	return n.Value
}

// resend handles a send whose client id rec claims already: it returns the
// first send's message, found where the claim says it went; tells the
// client to retry while the first send may still be storing; otherwise
// (the first send died) takes the claim over for this send and returns
// its nonce.
func (s *DynamoStore) resend(ctx context.Context, sc scope, m chat.Message, rec claimRec) (*chat.Message, string, error) {
	// The id may have been used for another recipient or room first:
	// the resend gets that message, as the protocol says.
	where := rec.where
	if where.pk == "" {
		where = sc
	}
	first, found, err := s.findResend(ctx, where, m, rec.at)
	switch {
	case errors.Is(err, errResendTooOld):
		return nil, "", fmt.Errorf("id %q: %w", m.ClientID, errIDReused)
	case err != nil:
		return nil, "", err
	case found:
		return &first, "", nil
	case !rec.finished && s.now().Sub(rec.at) < inFlight:
		return nil, "", fmt.Errorf("the first send of id %q is still being stored: %w", m.ClientID, chat.ErrThrottled)
	}
	nonce, err := s.takeOver(ctx, sc, m, rec.nonce)
	return nil, nonce, err
}

// claimItem is the attributes of a claim made at at for a message to sc.
func claimItem(sc scope, at time.Time, ttl time.Duration, nonce string) map[string]types.AttributeValue {
	rec := map[string]types.AttributeValue{
		"at": numAV(at.UnixMilli()), attrTTL: numAV(epochCeil(at.Add(ttl))),
		"scope": &types.AttributeValueMemberS{Value: sc.pk}, "nonce": &types.AttributeValueMemberS{Value: nonce},
	}
	if sc.epoch != "" {
		rec["ep"] = &types.AttributeValueMemberS{Value: sc.epoch}
	}
	return rec
}

// takeOver rewrites the claim of m's client id, whose first send died, for
// this send to sc, unless another resend took it over first (the claim no
// longer holds nonce was): then this one is told to retry. It returns the
// new nonce.
func (s *DynamoStore) takeOver(ctx context.Context, sc scope, m chat.Message, was string) (string, error) {
	nonce := uuid.NewString()
	w, err := put(withKey(idemKey(m.From, m.ClientID), claimItem(sc, s.now(), s.idemTTL, nonce)), ownClaim(was))
	if err != nil {
		return "", err
	}
	err = s.write(ctx, w)
	if old, taken := failedAt(err, 0); taken {
		holder := nonceOf(old)
		if len(old) == 0 {
			// An emulator that returns no item: see whose claim it is.
			rec, err := s.claimOf(ctx, m, nil)
			if err != nil {
				return "", err
			}
			holder = rec.nonce
		}
		// The SDK retried this put after its answer was lost: ours.
		if holder == nonce {
			return nonce, nil
		}
		return "", fmt.Errorf("another resend of id %q took its claim over: %w", m.ClientID, chat.ErrThrottled)
	}
	return nonce, err
}

// claimOf is when the existing claim of m's client id was made and where
// its message went, from the record (read now if the failed put did not
// return it).
func (s *DynamoStore) claimOf(ctx context.Context, m chat.Message, rec map[string]types.AttributeValue) (claimRec, error) {
	if len(rec) == 0 {
		out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: idemKey(m.From, m.ClientID)})
		if err != nil {
			return claimRec{}, err
		}
		rec = out.Item
		if len(rec) == 0 {
			// Given back (its send was refused) since the put found it:
			// the client's retry is a first send.
			return claimRec{}, fmt.Errorf("the claim of id %q was given back: %w", m.ClientID, chat.ErrThrottled)
		}
	}
	var a struct {
		At       int64  `dynamodbav:"at"`
		Scope    string `dynamodbav:"scope"`
		Epoch    string `dynamodbav:"ep"`
		Finished bool   `dynamodbav:"done"`
		Nonce    string `dynamodbav:"nonce"`
	}
	if err := attributevalue.UnmarshalMap(rec, &a); err != nil {
		return claimRec{}, fmt.Errorf("decode claim: %w", err)
	}
	return claimRec{at: time.UnixMilli(a.At), where: scope{pk: a.Scope, epoch: a.Epoch}, finished: a.Finished, nonce: a.Nonce}, nil
}

// claimRec is a claim as stored: when, where its message goes, whether its
// send ended in an error, and which send made it.
type claimRec struct {
	at       time.Time
	where    scope
	finished bool
	nonce    string
}

// finishClaim marks the claim with nonce ("": none) whose send ended in an
// error, best effort: a claim left unmarked holds resends off for inFlight.
func (s *DynamoStore) finishClaim(ctx context.Context, m chat.Message, nonce string) {
	if nonce == "" {
		return
	}
	w, err := update(idemKey(m.From, m.ClientID), expression.Set(expression.Name("done"), expression.Value(true)), ownClaim(nonce))
	if err == nil {
		_ = s.write(ctx, w)
	}
}

// release gives the claim with nonce ("": none) back when its send was
// refused, so that the client's retry with the same id is a first send
// again.
func (s *DynamoStore) release(ctx context.Context, m chat.Message, nonce string) {
	if nonce == "" {
		return
	}
	w, err := del(idemKey(m.From, m.ClientID), ownClaim(nonce))
	if err == nil {
		_ = s.write(ctx, w)
	}
}

// ownClaim is the condition that a claim is still the one made with nonce.
func ownClaim(nonce string) *expression.ConditionBuilder {
	return cond(expression.Name("nonce").Equal(expression.Value(nonce)))
}

// findResend looks for the message the first send of m's client id
// stored: from the newest message of sc back to shortly before the claim,
// a page at a time (a resend comes seconds after, so one page is the rule),
// at most maxResendPages: past them it answers errResendTooOld.
func (s *DynamoStore) findResend(ctx context.Context, sc scope, m chat.Message, claimAt time.Time) (chat.Message, bool, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(sc.pk)).And(expression.Key(attrSK).BeginsWith(sc.seqPrefix()))
	in, err := keyQuery("find resend", kc, false, maxPage)
	if err != nil {
		return chat.Message{}, false, err
	}
	oldest := formatTime(claimAt.Add(-resendSkew))
	for range maxResendPages {
		out, err := s.query(ctx, in)
		if err != nil {
			return chat.Message{}, false, err
		}
		for _, item := range out.Items {
			a, err := decodeMessageAttrs(item)
			if err != nil {
				return chat.Message{}, false, err
			}
			if a.From == m.From && a.ClientID == m.ClientID {
				first, err := a.message()
				return first, err == nil, err
			}
			if a.At < oldest {
				return chat.Message{}, false, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return chat.Message{}, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return chat.Message{}, false, errResendTooOld
}

// openConversation enters a new conversation in both parties' lists,
// before its first message is stored (so a crash between leaves at worst
// an empty conversation listed, never a message unlisted).
func (s *DynamoStore) openConversation(ctx context.Context, sc scope) error {
	var reqs []types.WriteRequest
	for _, side := range [][2]string{{sc.a, sc.b}, {sc.b, sc.a}} {
		item, err := attributevalue.MarshalMap(indexAttrs{PeerID: side[1]})
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: withKey(indexKey(side[0], side[1]), item)}})
	}
	return s.batchWrite(ctx, reqs)
}

// PrivateContext reads the sender (its connection, or for an HTTP request
// its profile) and the recipient's profile with one BatchGetItem, and,
// when the sender's identity is known up front and the client told the
// seq it holds (lastSeq), the messages at that seq and the next: the
// conversation's end, for SavePrivate, in the same request.
//
// The read is eventually consistent (half the units), because a stale
// answer is either harmless or visible: a connection's identity never
// changes once set; message items keep their seq, counters, sender and
// client id for good; connection lists may lag a (dis)connect by the
// read's staleness, as they lag one that races the send anyway (a missed
// device catches up from history, a gone one answers 410). What it cannot
// tell from stale (no sender, no recipient) it reads again, consistently.
func (s *DynamoStore) PrivateContext(ctx context.Context, from chat.Sender, to string, lastSeq int64) (chat.Connection, chat.Peer, chat.Tail, error) {
	sender, peer, tail, err := s.privateContext(ctx, from, to, lastSeq, false)
	if errors.Is(err, chat.ErrUnauthorized) || errors.Is(err, chat.ErrNotFound) {
		sender, peer, tail, err = s.privateContext(ctx, from, to, lastSeq, true)
	}
	return sender, peer, tail, err
}

// tailRead is what PrivateContext read of a conversation's end: the
// message at the client's seq (prev) and the one after it (next), nil
// where it found none.
type tailRead struct {
	pk         string
	seq        int64
	prev, next *messageAttrs
}

func (s *DynamoStore) privateContext(ctx context.Context, from chat.Sender, to string, lastSeq int64, consistent bool) (chat.Connection, chat.Peer, chat.Tail, error) {
	viaHTTP := from.ConnID == ""
	senderKey := connKey(from.ConnID)
	if viaHTTP {
		senderKey = profileKey(from.Identity.UserID)
	}
	if viaHTTP && from.Identity.UserID == to {
		// One key, read once: the sender writing to themselves.
		senderKey = nil
	}
	keys := []map[string]types.AttributeValue{profileKey(to)}
	if senderKey != nil {
		keys = append(keys, senderKey)
	}
	var tr *tailRead
	if from.Identity != nil && from.Identity.UserID != to && lastSeq >= 1 {
		tr = &tailRead{pk: privateScope(from.Identity.UserID, to).pk, seq: lastSeq}
		keys = append(keys, key(tr.pk, seqSK("", lastSeq)), key(tr.pk, seqSK("", lastSeq+1)))
	}
	now := s.now()
	var (
		sender   chat.Connection
		peer     chat.Peer
		gotPeer  bool
		gotConn  bool
		senderPF *profileAttrs
	)
	err := s.batchGetAs(ctx, keys, consistent, func(item map[string]types.AttributeValue) error {
		switch pk := item[attrPK].(*types.AttributeValueMemberS).Value; {
		case strings.HasPrefix(pk, prefixConn):
			c, err := decodeConn(item, now)
			if err != nil {
				return err
			}
			sender, gotConn = c, live(c, now) && c.Authenticated()
		case tr != nil && pk == tr.pk:
			a, err := decodeMessageAttrs(item)
			if err != nil {
				return err
			}
			switch a.Seq {
			case tr.seq:
				tr.prev = &a
			case tr.seq + 1:
				tr.next = &a
			}
		default:
			p, err := decodeProfile(item)
			if err != nil {
				return err
			}
			if p.UserID == to {
				peer, err = p.peer(now)
				gotPeer = err == nil
			}
			if viaHTTP && p.UserID == from.Identity.UserID {
				senderPF = &p
			}
			return err
		}
		return nil
	})
	if err != nil {
		return chat.Connection{}, chat.Peer{}, chat.Tail{}, fmt.Errorf("private context: %w", err)
	}
	if viaHTTP {
		sender = chat.Connection{UserID: from.Identity.UserID, Username: from.Identity.Username}
		if senderPF != nil {
			sender.Siblings = liveConns(senderPF.UserID, senderPF.Conns, now)
		}
		gotConn = true
	}
	switch {
	case !gotConn:
		return chat.Connection{}, chat.Peer{}, chat.Tail{}, fmt.Errorf("private context: %w", chat.ErrUnauthorized)
	case !gotPeer:
		return chat.Connection{}, chat.Peer{}, chat.Tail{}, fmt.Errorf("private context: user %q: %w", to, chat.ErrNotFound)
	}
	var tail chat.Tail
	if tr != nil {
		tail.Read = tr
	}
	return sender, peer, tail, nil
}

// SavePrivate stores a private message as the next of its conversation,
// after the end tail read when it is usable: the message at the client's
// seq was there, and the next seq was free (or held this very send: a
// resend, answered from the read alone).
func (s *DynamoStore) SavePrivate(ctx context.Context, m chat.Message, tail chat.Tail, admit func(context.Context) error) (chat.Message, bool, error) {
	sc := privateScope(m.From, m.To)
	var known *messageAttrs
	if tr, ok := tail.Read.(*tailRead); ok && tr.pk == sc.pk && tr.prev != nil {
		switch {
		case tr.next == nil:
			known = tr.prev
		case s.resendOf(tr.next, m):
			known = tr.next // save answers the resend from it
		}
		// Else the client is behind: the newest is read as without a hint.
	}
	return s.save(ctx, sc, m, admit, known)
}

// resendOf reports whether a stored message is the one m's client id
// stored before: from the same sender with the same id, and younger than
// a claim lives (an id used again after its claim expired is a new send).
func (s *DynamoStore) resendOf(a *messageAttrs, m chat.Message) bool {
	if a == nil || m.ClientID == "" || a.MessageID == "" || a.From != m.From || a.ClientID != m.ClientID {
		return false
	}
	at, err := parseTime(a.At)
	return err == nil && m.At.Sub(at) < s.idemTTL
}

// conversationOf finds, from a message id, the conversation of userID it
// belongs to and its seq: the id's hash names the user's entry.
func (s *DynamoStore) conversationOf(ctx context.Context, userID, messageID string) (scope, int64, error) {
	seq, hash, _, err := parseMessageID(messageID)
	if err != nil {
		return scope{}, 0, err
	}
	var peers []string
	err = s.queryAll(ctx, prefixUser+userID, fmt.Sprintf("%s%09x#", prefixConv, hash), func(item map[string]types.AttributeValue) error {
		var a indexAttrs
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return err
		}
		peers = append(peers, a.PeerID)
		return nil
	})
	if err != nil {
		return scope{}, 0, err
	}
	for _, p := range peers {
		if scopeHash(chat.ConversationID(userID, p)) == hash {
			// More than one peer only on a hash collision: the message id
			// check of the caller's read tells them apart.
			return privateScope(userID, p), seq, nil
		}
	}
	return scope{}, 0, fmt.Errorf("message %q: %w", messageID, chat.ErrNotFound)
}

// DeleteMessage finds the message's conversation through the sender's
// entry, then rewrites the message deleted with one conditional update
// that returns it as it was (so a refusal needs no read), and notes the
// deletion on the sender's entry for the peer's unread count.
func (s *DynamoStore) DeleteMessage(ctx context.Context, senderID, messageID string) (chat.Message, error) {
	sc, seq, err := s.conversationOf(ctx, senderID, messageID)
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message: %w", err)
	}
	e, err := built("delete message", expression.NewBuilder().
		// Set empty rather than removed: the same to readers, and what the
		// in-process emulator applies (it ignores REMOVE of top-level
		// attributes).
		WithUpdate(expression.Set(expression.Name("deleted"), expression.Value(true)).
			Set(expression.Name("content"), expression.Value("")).
			Set(expression.Name("file"), expression.Value(&types.AttributeValueMemberNULL{Value: true}))).
		WithCondition(expression.And(
			expression.Name("messageId").Equal(expression.Value(messageID)),
			expression.Name("from").Equal(expression.Value(senderID)),
			expression.AttributeNotExists(expression.Name("deleted")))))
	if err != nil {
		return chat.Message{}, err
	}
	out, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: key(sc.pk, seqSK("", seq)), UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValues: types.ReturnValueAllOld, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		item := ccf.Item
		if len(item) == 0 {
			if item, err = s.itemAt(ctx, sc, seq); err != nil {
				return chat.Message{}, fmt.Errorf("delete message: %w", err)
			}
		}
		if len(item) == 0 {
			return chat.Message{}, fmt.Errorf("message %q: %w", messageID, chat.ErrNotFound)
		}
		m, err := decodeMessage(item)
		switch {
		case err != nil:
			return chat.Message{}, fmt.Errorf("delete message: %w", err)
		case m.MessageID != messageID:
			return chat.Message{}, fmt.Errorf("message %q: %w", messageID, chat.ErrNotFound)
		case m.From != senderID:
			return m, fmt.Errorf("message %q: %w", messageID, chat.ErrForbidden)
		}
		return m, nil // deleted before
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message: %w", err)
	}
	m, err := decodeMessage(out.Attributes)
	if err != nil {
		return chat.Message{}, fmt.Errorf("delete message: %w", err)
	}
	w, err := update(indexKey(senderID, m.To),
		expression.Add(expression.Name("dels"), expression.Value(numberSet{seq})), cond(exists(attrPK)))
	if err == nil {
		// A failure here leaves the message deleted and the peer's unread
		// count one too high until they read past it: not worth failing
		// a deletion that happened.
		_ = s.write(ctx, w)
	}
	return m, nil
}

// numberSet marshals as a DynamoDB number set, which ADD unions.
type numberSet []int64

func (n numberSet) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	ns := &types.AttributeValueMemberNS{}
	for _, v := range n {
		ns.Value = append(ns.Value, fmt.Sprint(v))
	}
	return ns, nil
}

// ConversationPeers queries the user's entries.
func (s *DynamoStore) ConversationPeers(ctx context.Context, userID string) ([]string, error) {
	var peers []string
	err := s.queryAll(ctx, prefixUser+userID, prefixConv, func(item map[string]types.AttributeValue) error {
		var a indexAttrs
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return err
		}
		peers = append(peers, a.PeerID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversation peers: %w", err)
	}
	return peers, nil
}

// ListMessages runs one Query on the conversation's partition.
func (s *DynamoStore) ListMessages(ctx context.Context, a, b string, p chat.Page) ([]chat.Message, error) {
	return s.list(ctx, privateScope(a, b), p)
}

// list returns a page of sc's messages, newest first: one Query over the
// seq range the cursor (a message id, which names its seq) bounds.
func (s *DynamoStore) list(ctx context.Context, sc scope, p chat.Page) ([]chat.Message, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPage
	}
	limit = min(limit, maxPage+1)
	cursor := func(id string) (int64, error) {
		seq, hash, _, err := parseMessageID(id)
		if err != nil || hash != scopeHash(sc.hash) {
			return 0, &chat.InputError{Field: "cursor", Rule: "before and after name a message of this history"}
		}
		return seq, nil
	}
	pk := expression.Key(attrPK).Equal(expression.Value(sc.pk))
	sk := expression.Key(attrSK)
	forward := false
	var kc expression.KeyConditionBuilder
	switch {
	case p.After != "":
		seq, err := cursor(p.After)
		if err != nil {
			return nil, err
		}
		kc, forward = pk.And(sk.Between(expression.Value(seqSK(sc.epoch, seq+1)), expression.Value(seqSK(sc.epoch, maxSeq)))), true
	case p.Before != "":
		seq, err := cursor(p.Before)
		if err != nil {
			return nil, err
		}
		if seq <= 1 {
			return nil, nil
		}
		kc = pk.And(sk.Between(expression.Value(seqSK(sc.epoch, 1)), expression.Value(seqSK(sc.epoch, seq-1))))
	default:
		kc = pk.And(sk.BeginsWith(sc.seqPrefix()))
	}
	in, err := keyQuery("list messages", kc, forward, limit)
	if err != nil {
		return nil, err
	}
	out, err := s.query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	msgs := make([]chat.Message, 0, len(out.Items))
	for _, item := range out.Items {
		m, err := decodeMessage(item)
		if err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		msgs = append(msgs, m)
	}
	if forward {
		slices.Reverse(msgs)
	}
	return msgs, nil
}

// Conversations reads the user's entries (one Query), each conversation's
// newest message (one Query each, in parallel) and the peers' entries
// (BatchGetItem), and counts unread messages from the counts the messages
// carry.
func (s *DynamoStore) Conversations(ctx context.Context, userID string) ([]chat.Conversation, error) {
	var mine []indexAttrs
	err := s.queryAll(ctx, prefixUser+userID, prefixConv, func(item map[string]types.AttributeValue) error {
		var a indexAttrs
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return err
		}
		mine = append(mine, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	latest := make([]*messageAttrs, len(mine))
	theirs := map[string]indexAttrs{} // the peers' entries, by peer
	var (
		g        errgroup.Group
		theirsMu sync.Mutex
	)
	g.SetLimit(16)
	for i, c := range mine {
		g.Go(func() error {
			var err error
			latest[i], err = s.latest(ctx, privateScope(userID, c.PeerID))
			return err
		})
	}
	for i := 0; i < len(mine); i += maxBatchGet {
		chunk := mine[i:min(i+maxBatchGet, len(mine))]
		g.Go(func() error {
			keys := make([]map[string]types.AttributeValue, 0, len(chunk))
			for _, c := range chunk {
				keys = append(keys, indexKey(c.PeerID, userID))
			}
			return s.batchGet(ctx, keys, func(item map[string]types.AttributeValue) error {
				var a indexAttrs
				if err := attributevalue.UnmarshalMap(item, &a); err != nil {
					return err
				}
				peer := strings.TrimPrefix(item[attrPK].(*types.AttributeValueMemberS).Value, prefixUser)
				theirsMu.Lock()
				theirs[peer] = a
				theirsMu.Unlock()
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	out := make([]chat.Conversation, 0, len(mine))
	for i, c := range mine {
		conv := chat.Conversation{PeerID: c.PeerID, ReadUpTo: c.ReadMid}
		peerEntry := theirs[c.PeerID]
		conv.PeerReadUpTo = peerEntry.ReadMid
		if l := latest[i]; l != nil {
			m, err := l.message()
			if err != nil {
				return nil, fmt.Errorf("conversations: %w", err)
			}
			conv.LastMessage, conv.UpdatedAt = &m, m.At
			sc := privateScope(userID, c.PeerID)
			sent := l.NB
			if c.PeerID == sc.a {
				sent = l.NA
			}
			deleted := 0
			for _, d := range peerEntry.Dels {
				if d > c.ReadSeq {
					deleted++
				}
			}
			conv.Unread = max(0, int(sent-c.ReadN)-deleted)
		}
		out = append(out, conv)
	}
	slices.SortStableFunc(out, func(a, b chat.Conversation) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.PeerID, a.PeerID)
	})
	return out, nil
}

// MarkRead reads the message (its id names its seq), then moves the
// user's marker to it with one conditional update: it never moves back.
func (s *DynamoStore) MarkRead(ctx context.Context, userID, peerID, messageID string) (chat.Message, bool, error) {
	sc := privateScope(userID, peerID)
	seq, hash, _, err := parseMessageID(messageID)
	if err != nil || hash != scopeHash(sc.hash) {
		return chat.Message{}, false, fmt.Errorf("message %q of that conversation: %w", messageID, chat.ErrNotFound)
	}
	item, err := s.itemAt(ctx, sc, seq)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("mark read: %w", err)
	}
	a, err := decodeMessageAttrs(item)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("mark read: %w", err)
	}
	if len(item) == 0 || a.MessageID != messageID {
		return chat.Message{}, false, fmt.Errorf("message %q of that conversation: %w", messageID, chat.ErrNotFound)
	}
	m, err := a.message()
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("mark read: %w", err)
	}
	peerCount := a.NB
	if peerID == sc.a {
		peerCount = a.NA
	}
	readSeq := expression.Name("readSeq")
	w, err := update(indexKey(userID, peerID),
		expression.Set(readSeq, expression.Value(seq)).Set(expression.Name("readMid"), expression.Value(messageID)).
			Set(expression.Name("readN"), expression.Value(peerCount)),
		cond(expression.And(exists(attrPK), expression.Or(expression.AttributeNotExists(readSeq), readSeq.LessThan(expression.Value(seq))))))
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("mark read: %w", err)
	}
	err = s.write(ctx, w)
	if old, behind := failedAt(err, 0); behind {
		if len(old) == 0 {
			return chat.Message{}, false, fmt.Errorf("conversation with %q: %w", peerID, chat.ErrNotFound)
		}
		return m, false, nil
	}
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("mark read: %w", err)
	}
	return m, true, nil
}
