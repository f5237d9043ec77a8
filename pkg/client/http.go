package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// maxErrorBody bounds how much of an HTTP error body is read.
const maxErrorBody = 64 << 10

// HistoryQuery selects a page of history: Before pages back from a
// message id, After pages forward (for catching up); both empty is the
// newest page. Either way a page is newest first. Limit is 1..100 (0: the
// server's default, 50). A cursor must be a message id of that history,
// else the server answers bad-request.
type HistoryQuery struct {
	Before, After string
	Limit         int
}

// Register creates an account and makes the client use its session.
func (c *Client) Register(ctx context.Context, username, password string) (protocol.Session, error) {
	return c.authenticate(ctx, "/api/auth/register", username, password)
}

// Login logs in and makes the client use the session; a client already
// connected uses its new token from its next reconnect.
func (c *Client) Login(ctx context.Context, username, password string) (protocol.Session, error) {
	return c.authenticate(ctx, "/api/auth/login", username, password)
}

func (c *Client) authenticate(ctx context.Context, path, username, password string) (protocol.Session, error) {
	var s protocol.Session
	body := protocol.Credentials{Username: username, Password: password}
	if err := c.call(ctx, http.MethodPost, path, nil, body, &s, false); err != nil {
		return protocol.Session{}, err
	}
	c.SetSession(s)
	return s, nil
}

// Conversations lists this user's conversations, most recent first, with
// the peer (and whether they are online, when last seen), the last
// message, the unread count and both read markers.
func (c *Client) Conversations(ctx context.Context) ([]protocol.ConversationInfo, error) {
	var out []protocol.ConversationInfo
	err := c.call(ctx, http.MethodGet, "/api/conversations", nil, nil, &out, true)
	return out, err
}

// History returns one page of the conversation with peerID, newest first;
// Next is the cursor of the following page in the same direction. Reading
// history marks nothing read: MarkRead does.
func (c *Client) History(ctx context.Context, peerID string, q HistoryQuery) (protocol.MessagePage, error) {
	return c.history(ctx, "/api/conversations/"+url.PathEscape(peerID)+"/messages", q)
}

// RoomHistory returns one page of the messages of room's current epoch,
// like History. Only a user seated in the room may read it (else a
// forbidden *Error); messages are kept at least 24 hours.
func (c *Client) RoomHistory(ctx context.Context, room string, q HistoryQuery) (protocol.MessagePage, error) {
	return c.history(ctx, "/api/rooms/"+url.PathEscape(room)+"/messages", q)
}

func (c *Client) history(ctx context.Context, path string, q HistoryQuery) (protocol.MessagePage, error) {
	v := url.Values{}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var page protocol.MessagePage
	err := c.call(ctx, http.MethodGet, path, v, nil, &page, true)
	return page, err
}

// SearchUsers lists at most 20 users whose name starts with prefix, by
// name, this user included.
func (c *Client) SearchUsers(ctx context.Context, prefix string) ([]protocol.UserInfo, error) {
	var out []protocol.UserInfo
	err := c.call(ctx, http.MethodGet, "/api/users", url.Values{"prefix": {prefix}}, nil, &out, true)
	return out, err
}

// Room returns a room's seats, epoch and version.
func (c *Client) Room(ctx context.Context, room string) (protocol.RoomInfo, error) {
	var out protocol.RoomInfo
	err := c.call(ctx, http.MethodGet, "/api/rooms/"+url.PathEscape(room), nil, nil, &out, true)
	return out, err
}

// ResolveURL turns a link the HTTP API gave relative to itself (an
// avatarUrl, /api/users/{id}/avatar?v=...) into one to fetch: below the
// base URL, as the paths of the API's calls are. An absolute link is
// returned as it is.
func (c *Client) ResolveURL(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if u.IsAbs() || u.Host != "" {
		return ref, nil
	}
	return strings.TrimRight(c.base.String(), "/") + "/" + strings.TrimLeft(ref, "/"), nil
}

// defaultRetryAfter is the wait after a 429 that does not say how long.
const defaultRetryAfter = time.Second

// call makes one HTTP API request; an error answer becomes *Error. A call
// with a token answered 429 is made again after the Retry-After the
// server asked for, as long as ctx allows: a 429 means the request was not
// carried out. Register and login are not: their 429 lasts the rest of a
// minute of failed attempts, which a user would rather be told.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any, auth bool) error {
	// path comes escaped (its segments through url.PathEscape).
	u := *c.base
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
	}
	for {
		wait, err := c.callOnce(ctx, method, u.String(), payload, out, auth)
		if wait == 0 || !auth {
			return err
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return err // the caller cannot wait that long
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// callOnce makes one attempt of call; wait is set when the server
// answered 429, to how long it asked to wait.
func (c *Client) callOnce(ctx context.Context, method, u string, payload []byte, out any, auth bool) (wait time.Duration, err error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, u, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if auth {
		token := c.Session().Token
		if token == "" {
			return 0, ErrNoToken
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.o.httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		err := errorOf(resp)
		if resp.StatusCode == http.StatusTooManyRequests {
			wait = retryAfter(resp.Header.Get("Retry-After"))
		}
		return wait, err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return 0, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return 0, fmt.Errorf("client: %s %s: decode answer: %w", method, req.URL.Path, err)
	}
	return 0, nil
}

// errorOf reads an HTTP error answer as *Error.
func errorOf(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var he protocol.HTTPError
	if json.Unmarshal(b, &he) != nil || he.Code == "" {
		he = protocol.HTTPError{Code: codeOfStatus(resp.StatusCode), Message: strings.TrimSpace(string(b))}
	}
	return &Error{Code: he.Code, Message: he.Message, Status: resp.StatusCode}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return max(time.Duration(s)*time.Second, time.Millisecond)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), time.Millisecond)
	}
	return defaultRetryAfter
}
