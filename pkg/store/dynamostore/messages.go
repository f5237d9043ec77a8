package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Page sizes of ListMessages.
const (
	defaultPage = 50
	maxPage     = 100
)

// SaveMessage writes, in one transaction: the idempotency record (on the
// condition that the key is new), the message, its pointer and, for a
// private message, both conversation summaries. A used key cancels the
// transaction and the record, returned with the cancellation, holds the
// message stored the first time.
func (s *DynamoStore) SaveMessage(ctx context.Context, m chat.Message, idemKey string) (chat.Message, bool, error) {
	// A summary moves to a message only if it shows an older one, so that a
	// slow writer never puts an old message back on top. A summary that
	// refuses gets only its unread count on the next attempt.
	newerOnly := [2]bool{true, true}
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		ws, summaries, err := s.saveWrites(m, idemKey, newerOnly)
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("save message: %w", err)
		}
		err = s.write(ctx, ws...)
		if err == nil {
			return m, true, nil
		}
		if idemKey != "" {
			if item, used := failedAt(err, 0); used {
				stored, found, err := s.idempotent(ctx, idemKey, item)
				if err != nil {
					return chat.Message{}, false, fmt.Errorf("save message: %w", err)
				}
				if found {
					return stored, false, nil
				}
				continue
			}
		}
		refused := false
		for i, at := range summaries {
			if _, failed := failedAt(err, at); failed {
				newerOnly[i], refused = false, true
			}
		}
		if refused || errors.Is(err, errRace) {
			continue
		}
		return chat.Message{}, false, fmt.Errorf("save message: %w", err)
	}
	return chat.Message{}, false, fmt.Errorf("save message: %w", errContention)
}

// IdempotentMessage returns the message stored with idemKey.
func (s *DynamoStore) IdempotentMessage(ctx context.Context, idemKey string) (chat.Message, error) {
	m, found, err := s.idempotent(ctx, idemKey, nil)
	if err != nil {
		return chat.Message{}, fmt.Errorf("idempotent message: %w", err)
	}
	if !found {
		return chat.Message{}, fmt.Errorf("idempotent message: %w", chat.ErrNotFound)
	}
	return m, nil
}

// idempotent returns the message an idempotency record holds: item when the
// service returned it with the cancellation, else a fresh read. found is
// false when the record has gone since (expired), and the save may go on.
func (s *DynamoStore) idempotent(ctx context.Context, idemK string, item map[string]types.AttributeValue) (chat.Message, bool, error) {
	if item == nil {
		out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: idemKey(idemK)})
		if err != nil {
			return chat.Message{}, false, err
		}
		item = out.Item
	}
	if len(item) == 0 {
		return chat.Message{}, false, nil
	}
	m, err := decodeMessage(item)
	return m, err == nil, err
}

// saveWrites are the writes of SaveMessage and the positions of the
// summary updates among them.
func (s *DynamoStore) saveWrites(m chat.Message, idemK string, newerOnly [2]bool) ([]types.TransactWriteItem, []int, error) {
	attrs, err := messageAttributes(m)
	if err != nil {
		return nil, nil, err
	}
	var ttl map[string]types.AttributeValue
	if m.Kind == chat.KindGroup {
		ttl = map[string]types.AttributeValue{attrTTL: numAV(epochCeil(m.At.Add(s.groupTTL)))}
	}
	var ws []types.TransactWriteItem
	if idemK != "" {
		rec := withKey(idemKey(idemK), attrs)
		rec[attrTTL] = numAV(epochCeil(m.At.Add(s.idemTTL)))
		w, err := put(rec, cond(notExists(attrPK)))
		if err != nil {
			return nil, nil, err
		}
		ws = append(ws, w)
	}
	for _, k := range []map[string]types.AttributeValue{messageKey(m), pointerKey(m.MessageID)} {
		w, err := put(withKey(k, withKey(ttl, attrs)), nil)
		if err != nil {
			return nil, nil, err
		}
		ws = append(ws, w)
	}
	if m.Kind == chat.KindGroup {
		return ws, nil, nil
	}
	last, err := messageAV(m)
	if err != nil {
		return nil, nil, err
	}
	// Writing to oneself is one conversation, so one summary.
	sides := []struct{ owner, peer string }{{m.To, m.From}, {m.From, m.To}}
	if m.From == m.To {
		sides = sides[:1]
	}
	var at []int
	for i, side := range sides {
		unread := 0
		if i == 0 {
			unread = 1
		}
		upd := expression.Add(expression.Name("unread"), expression.Value(unread))
		var c *expression.ConditionBuilder
		if newerOnly[i] {
			upd = upd.Set(expression.Name("peerId"), expression.Value(side.peer)).
				Set(expression.Name("last"), expression.Value(last)).
				Set(expression.Name("updatedAt"), expression.Value(formatTime(m.At)))
			c = cond(expression.Or(notExists("last"), expression.Name("last.messageId").LessThan(expression.Value(m.MessageID))))
		}
		w, err := update(summaryKey(side.owner, side.peer), upd, c)
		if err != nil {
			return nil, nil, err
		}
		at = append(at, len(ws))
		ws = append(ws, w)
	}
	return ws, at, nil
}

// GetMessage reads the message's pointer item.
func (s *DynamoStore) GetMessage(ctx context.Context, messageID string) (chat.Message, error) {
	m, _, err := s.readPointer(ctx, messageID)
	if err != nil {
		return chat.Message{}, fmt.Errorf("get message: %w", err)
	}
	return m, nil
}

func (s *DynamoStore) readPointer(ctx context.Context, messageID string) (chat.Message, map[string]types.AttributeValue, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: pointerKey(messageID)})
	if err != nil {
		return chat.Message{}, nil, err
	}
	if len(out.Item) == 0 || expired(out.Item, s.now()) {
		return chat.Message{}, nil, fmt.Errorf("message %q: %w", messageID, chat.ErrNotFound)
	}
	m, err := decodeMessage(out.Item)
	return m, out.Item, err
}

// MarkDeleted reads the pointer and both summaries, then rewrites the
// message, its pointer and every summary that shows it in one transaction.
// A summary that moved on to a newer message meanwhile cancels it, and the
// three steps run again.
func (s *DynamoStore) MarkDeleted(ctx context.Context, messageID string) (chat.Message, error) {
	for attempt := range maxAttempts {
		if err := s.backoff(ctx, attempt); err != nil {
			return chat.Message{}, fmt.Errorf("mark deleted: %w", err)
		}
		m, item, err := s.readPointer(ctx, messageID)
		if err != nil {
			return chat.Message{}, fmt.Errorf("mark deleted: %w", err)
		}
		if m.Deleted {
			return m, nil
		}
		dm := m
		dm.Deleted, dm.Content, dm.File = true, "", nil
		ws, err := s.deleteWrites(ctx, dm, item[attrTTL])
		if err != nil {
			return chat.Message{}, fmt.Errorf("mark deleted: %w", err)
		}
		err = s.write(ctx, ws...)
		_, pointerGone := failedAt(err, 0)
		_, messageGone := failedAt(err, 1)
		if pointerGone || messageGone {
			return chat.Message{}, fmt.Errorf("message %q: %w", messageID, chat.ErrNotFound)
		}
		if retryable(err) {
			continue
		}
		if err != nil {
			return chat.Message{}, fmt.Errorf("mark deleted: %w", err)
		}
		return dm, nil
	}
	return chat.Message{}, fmt.Errorf("mark deleted: %w", errContention)
}

// deleteWrites rewrite the pointer (first) and the message as dm, and each
// summary that shows it.
func (s *DynamoStore) deleteWrites(ctx context.Context, dm chat.Message, ttl types.AttributeValue) ([]types.TransactWriteItem, error) {
	attrs, err := messageAttributes(dm)
	if err != nil {
		return nil, err
	}
	if ttl != nil {
		attrs[attrTTL] = ttl
	}
	var ws []types.TransactWriteItem
	for _, k := range []map[string]types.AttributeValue{pointerKey(dm.MessageID), messageKey(dm)} {
		w, err := put(withKey(k, attrs), cond(exists(attrPK)))
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	if dm.Kind == chat.KindGroup {
		return ws, nil
	}
	keys := []map[string]types.AttributeValue{summaryKey(dm.From, dm.To)}
	if dm.From != dm.To {
		keys = append(keys, summaryKey(dm.To, dm.From))
	}
	last, err := messageAV(dm)
	if err != nil {
		return nil, err
	}
	err = s.batchGet(ctx, keys, func(item map[string]types.AttributeValue) error {
		_, lastID, err := decodeSummary(item)
		if err != nil || lastID != dm.MessageID {
			return err
		}
		w, err := update(itemKey(item),
			expression.Set(expression.Name("last"), expression.Value(last)),
			cond(expression.Name("last.messageId").Equal(expression.Value(dm.MessageID))))
		if err != nil {
			return err
		}
		ws = append(ws, w)
		return nil
	})
	return ws, err
}

// ListMessages runs one Query on the conversation's partition, bounded by
// the page's message id and size.
func (s *DynamoStore) ListMessages(ctx context.Context, conversationID string, p chat.Page) ([]chat.Message, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPage
	}
	// One more than the largest page: the service asks for it to learn
	// whether another page follows.
	limit = min(limit, maxPage+1)
	pk := expression.Key(attrPK).Equal(expression.Value(prefixConv + conversationID))
	sk := expression.Key(attrSK)
	forward, extra := false, 0
	var kc expression.KeyConditionBuilder
	switch {
	case p.After != "":
		kc, forward = pk.And(sk.GreaterThan(expression.Value(prefixMsg+p.After))), true
	case p.Before != "":
		// BETWEEN includes Before itself, so read one more and drop it.
		kc, extra = pk.And(sk.Between(expression.Value(prefixMsg), expression.Value(prefixMsg+p.Before))), 1
	default:
		kc = pk.And(sk.BeginsWith(prefixMsg))
	}
	e, err := built("list messages", expression.NewBuilder().WithKeyCondition(kc))
	if err != nil {
		return nil, err
	}
	out, err := s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
		ScanIndexForward:          aws.Bool(forward),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + extra)),
	})
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	msgs := make([]chat.Message, 0, len(out.Items))
	for _, item := range out.Items {
		if extra > 0 && skOf(item) == prefixMsg+p.Before {
			continue
		}
		m, err := decodeMessage(item)
		if err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		msgs = append(msgs, m)
	}
	msgs = msgs[:min(len(msgs), limit)]
	if forward {
		slices.Reverse(msgs)
	}
	return msgs, nil
}

// Conversations reads the user's summaries with one Query and orders them
// by their last message, newest first.
func (s *DynamoStore) Conversations(ctx context.Context, userID string) ([]chat.Conversation, error) {
	type conv struct {
		c      chat.Conversation
		lastID string
	}
	var convs []conv
	err := s.queryAll(ctx, prefixUser+userID, prefixConv, func(item map[string]types.AttributeValue) error {
		c, lastID, err := decodeSummary(item)
		if err == nil {
			convs = append(convs, conv{c, lastID})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	slices.SortFunc(convs, func(a, b conv) int {
		if c := b.c.UpdatedAt.Compare(a.c.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.lastID, a.lastID)
	})
	out := make([]chat.Conversation, len(convs))
	for i, c := range convs {
		out[i] = c.c
	}
	return out, nil
}

// MarkRead zeroes the unread count of an existing summary.
func (s *DynamoStore) MarkRead(ctx context.Context, userID, peerID string) error {
	w, err := update(summaryKey(userID, peerID), expression.Set(expression.Name("unread"), expression.Value(0)), cond(exists(attrPK)))
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	err = s.write(ctx, w)
	if _, none := failedAt(err, 0); none {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	return nil
}
