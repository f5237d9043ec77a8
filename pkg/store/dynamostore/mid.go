package dynamostore

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Message ids. A message is stored under its conversation (or room and
// epoch) and its seq, so that its key is the seq claim; its id says where
// that is, so that one id leads to one GetItem, with no pointer item to
// write per message. An id is laid out as a UUIDv7 (and validates as one):
//
//	48 bits  milliseconds since the Unix epoch (ids sort by time)
//	 4 bits  version 7
//	74 bits  seq (40 bits) then the scope hash (34 bits), around the
//	         2 variant bits
//
// The scope hash is the low 34 bits of FNV-1a of the conversation id (or
// room#epoch): a conversation's messages share it, and a user's entry of
// the conversation is found by it.
const (
	seqBits  = 40
	hashBits = 34
	maxSeq   = 1<<seqBits - 1
	hashMask = 1<<hashBits - 1
)

func scopeHash(scope string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(scope))
	return h.Sum64() & hashMask
}

// messageID returns the id of message seq of scope, made at ms.
func messageID(ms int64, seq int64, scope string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(ms)<<16)
	hi := uint64(seq) >> (64 - hashBits)           // top 10 bits of the 74
	lo := uint64(seq)<<hashBits | scopeHash(scope) // low 64 bits
	b[6] = 0x70 | byte(hi>>6)&0x0f                 // payload bits 73..70
	b[7] = byte(hi&0x3f)<<2 | byte(lo>>62)         // bits 69..62
	b[8] = 0x80 | byte(lo>>56)&0x3f                // variant, bits 61..56
	binary.BigEndian.PutUint64(b[8:16], lo&(1<<56-1)|uint64(b[8])<<56)
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// parseMessageID returns the seq and scope hash an id names.
func parseMessageID(id string) (seq int64, hash uint64, at time.Time, err error) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0, 0, time.Time{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(id[0:8]+id[9:13]+id[14:18]+id[19:23]+id[24:36])); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	if b[6]>>4 != 7 || b[8]>>6 != 2 {
		return 0, 0, time.Time{}, fmt.Errorf("message id %q: %w", id, chat.ErrNotFound)
	}
	hi := uint64(b[6]&0x0f)<<6 | uint64(b[7]>>2)
	lo := uint64(b[7]&0x03)<<62 | uint64(b[8]&0x3f)<<56 | binary.BigEndian.Uint64(b[8:16])&(1<<56-1)
	seq = int64(hi<<(64-hashBits) | lo>>hashBits)
	ms := int64(binary.BigEndian.Uint64(b[0:8]) >> 16)
	return seq, lo & hashMask, time.UnixMilli(ms), nil
}
