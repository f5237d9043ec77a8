package main

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The rooms scenario: R rooms of M seated members, S of whom send in a
// closed loop (send, wait for the sender's own copy — and, on minichat, its
// ack — then send the next). Every message carries its sender, counter and
// send time, so each member counts what it got of whom, and latencies need
// no shared state.

type roomsConfig struct {
	Rooms, Members, Senders int
	Warmup, Duration        time.Duration
	MsgBytes                int
	MsgTimeout              time.Duration // a sender gives up waiting on one message after this
	Drain                   time.Duration // after the last send, how long deliveries may still come
	JoinTimeout             time.Duration
}

func (c roomsConfig) name() string {
	return fmt.Sprintf("rooms %dx%d, %d sender(s)/room", c.Rooms, c.Members, c.Senders)
}

// roomsResult is one run's figures.
type roomsResult struct {
	Confirmed   int            `json:"confirmed"` // in the measured window
	MsgsPerSec  float64        `json:"msgsPerSec"`
	Deliveries  int            `json:"deliveries"` // in the measured window, the senders' own copies included
	DelivPerSec float64        `json:"deliveriesPerSec"`
	EchoMs      pcts           `json:"echoMs"`
	OtherMs     pcts           `json:"otherMs"`
	Sent        int            `json:"sent"`     // whole run
	Accepted    int            `json:"accepted"` // acked (minichat) or echoed (Socket.IO), whole run
	Lost        int            `json:"lost"`     // deliveries of accepted messages that never came
	Duplicates  int            `json:"duplicates"`
	Extra       int            `json:"extra"` // copies of messages not meant for the member, or not ours
	Timeouts    int            `json:"timeouts"`
	Errors      map[string]int `json:"errors,omitempty"` // error frames by code
	Disconnects int            `json:"disconnects"`
	PeakRSS     int64          `json:"peakRSS"`
	ServerCPU   float64        `json:"serverCPU"` // % of one core, measured window
	// ServerWrites is the server's write system calls in the window (socket
	// writes and the store's), -1 if /proc did not say.
	ServerWrites int64      `json:"serverWrites"`
	GenCPU       float64    `json:"genCPU"`
	Machine      machineUse `json:"machine"` // all CPUs, measured window
	JoinSecs     float64    `json:"joinSecs"`
}

// OtherCPU is what the rest of the machine (neither the server nor the
// generator: other processes, the kernel's own threads) used in the window,
// in percent of one core.
func (r *roomsResult) OtherCPU() float64 {
	return max(0, r.Machine.Busy*float64(runtime.NumCPU())-r.ServerCPU-r.GenCPU)
}

// bitset of message counters.
type bitset []uint64

func (b *bitset) set(i int) (wasNew bool) {
	w := i / 64
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	m := uint64(1) << (i % 64)
	if (*b)[w]&m != 0 {
		return false
	}
	(*b)[w] |= m
	return true
}

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(uint64(1)<<(i%64)) != 0
}

type member struct {
	c          *conn
	room, slot int
	sender     int // global sender index, -1 if not a sender

	// Owned by the reader goroutine until it has returned.
	recv        []bitset // per sender slot of the room
	dups, extra int
	delivered   int // in the window
	echoLat     []int32
	otherLat    []int32
	acked       bitset
	errs        map[string]int

	// Signals from the reader to the joining and sending goroutines.
	joinCh               chan string // "" seated, else why not
	echoCh, ackCh, errCh chan int

	// Owned by the sender goroutine.
	sent, confirmed, timeouts int
}

// window is the measured window in µs since the run's t0; before the load
// starts it is empty.
type window struct{ from, to atomic.Int64 }

func (w *window) has(us int64) bool { return us >= w.from.Load() && us < w.to.Load() }

func runRooms(ctx context.Context, p proto, srv *server, users []user, cfg roomsConfig, onMeasure func(time.Duration)) (*roomsResult, error) {
	if cfg.Senders > cfg.Members || cfg.Senders < 1 {
		return nil, fmt.Errorf("rooms: %d senders for %d members", cfg.Senders, cfg.Members)
	}
	n := cfg.Rooms * cfg.Members
	if len(users) < n {
		return nil, fmt.Errorf("rooms: need %d users, have %d", n, len(users))
	}
	t0 := time.Now() // message send times are µs since t0
	var win window
	win.from.Store(math.MaxInt64)
	members := make([]*member, n)
	roomName := func(r int) string { return "r" + strconv.Itoa(r) }
	for i := range members {
		m := &member{room: i / cfg.Members, slot: i % cfg.Members, sender: -1,
			recv: make([]bitset, cfg.Senders), errs: map[string]int{}, joinCh: make(chan string, 1),
			echoCh: make(chan int, 16), ackCh: make(chan int, 16), errCh: make(chan int, 16)}
		if m.slot < cfg.Senders {
			m.sender = m.room*cfg.Senders + m.slot
		}
		members[i] = m
	}
	handler := func(m *member) func(*event) {
		joinReply := func(why string) {
			select {
			case m.joinCh <- why:
			default:
			}
		}
		return func(ev *event) {
			switch ev.kind {
			case evGroup:
				g, k, sentUs, ok := parseTag(ev.text)
				if !ok || g/cfg.Senders != m.room {
					m.extra++
					return
				}
				slot := g % cfg.Senders
				if !m.recv[slot].set(k) {
					m.dups++
					return
				}
				nowUs := ev.at.Sub(t0).Microseconds()
				if win.has(nowUs) {
					m.delivered++
				}
				lat := int32(min(nowUs-sentUs, math.MaxInt32))
				if g == m.sender {
					if win.has(sentUs) {
						m.echoLat = append(m.echoLat, lat)
					}
					select {
					case m.echoCh <- k:
					default:
					}
				} else if win.has(sentUs) {
					m.otherLat = append(m.otherLat, lat)
				}
			case evAck:
				if k, ok := msgCounter(ev.id); ok {
					m.acked.set(k)
					select {
					case m.ackCh <- k:
					default:
					}
				}
			case evError:
				m.errs[ev.code]++
				if k, ok := msgCounter(ev.id); ok {
					select {
					case m.errCh <- k:
					default:
					}
				} else if ev.id == "j" {
					joinReply("error " + ev.code)
				}
			case evUpdate:
				// Socket.IO's update has no request id; the first one a
				// member gets is its own join's (it sees no room before).
				if p == protoSocketIO || ev.id == "j" {
					joinReply("")
				}
			case evFull:
				joinReply("full")
			}
		}
	}
	defer func() {
		for _, m := range members {
			if m.c != nil {
				m.c.close()
			}
		}
	}()

	// Connect everyone, a few at a time, then seat them: one member at a
	// time per room, all rooms at once.
	joinStart := time.Now()
	jctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	if err := connectAll(jctx, 32, n, func(ctx context.Context, i int) error {
		c, err := dial(ctx, p, srv.addr, users[i], handler(members[i]))
		members[i].c = c
		return err
	}); err != nil {
		return nil, fmt.Errorf("rooms: connect: %w", err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Rooms)
	for r := 0; r < cfg.Rooms; r++ {
		wg.Go(func() {
			for s := 0; s < cfg.Members; s++ {
				m := members[r*cfg.Members+s]
				if err := m.c.joinRoom(roomName(r), "j"); err != nil {
					errc <- err
					return
				}
				select {
				case why := <-m.joinCh:
					if why != "" {
						errc <- fmt.Errorf("rooms: %s member %d not seated: %s", roomName(r), s, why)
						return
					}
				case <-m.c.done:
					errc <- fmt.Errorf("rooms: %s member %d: connection lost while joining: %v", roomName(r), s, m.c.err)
					return
				case <-jctx.Done():
					errc <- fmt.Errorf("rooms: %s member %d: no answer to joinroom: %w", roomName(r), s, jctx.Err())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	joinSecs := time.Since(joinStart).Seconds()

	// Load: warm-up, then the measured window.
	start := time.Since(t0)
	win.to.Store((start + cfg.Warmup + cfg.Duration).Microseconds())
	win.from.Store((start + cfg.Warmup).Microseconds())
	warmEnd := t0.Add(start + cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	var (
		cpuSrv, cpuGen float64
		srvWrites      int64
		machine        machineUse
		peak           int64
		measured       sync.WaitGroup
	)
	measured.Go(func() {
		if !sleepUntil(ctx, warmEnd) {
			return
		}
		meter := startCPU(srv.pid)
		if onMeasure != nil {
			go onMeasure(cfg.Duration)
		}
		if !sleepUntil(ctx, end) {
			return
		}
		machine = meter.machineUse()
		srvWrites = meter.serverWrites()
		cpuSrv, cpuGen, _ = meter.stop()
		peak, _ = peakRSS(srv.pid)
	})
	var senders sync.WaitGroup
	for _, m := range members {
		if m.sender >= 0 {
			senders.Go(func() { sendLoop(ctx, m, p, roomName(m.room), cfg, t0, warmEnd, end) })
		}
	}
	senders.Wait()
	measured.Wait()
	if !sleepUntil(ctx, time.Now().Add(cfg.Drain)) {
		return nil, ctx.Err()
	}

	res := &roomsResult{Errors: map[string]int{}, PeakRSS: peak, ServerCPU: cpuSrv, ServerWrites: srvWrites, GenCPU: cpuGen, Machine: machine, JoinSecs: joinSecs}
	for _, m := range members {
		if !m.c.alive() {
			res.Disconnects++
		}
		m.c.close() // its reader has returned: its state is ours now
	}
	var echo, other []int32
	for _, m := range members {
		res.Deliveries += m.delivered
		res.Duplicates += m.dups
		res.Extra += m.extra
		echo = append(echo, m.echoLat...)
		other = append(other, m.otherLat...)
		for k, v := range m.errs {
			res.Errors[k] += v
		}
		if m.sender < 0 {
			continue
		}
		res.Sent += m.sent
		res.Confirmed += m.confirmed
		res.Timeouts += m.timeouts
		// The messages the server took: acked on minichat, echoed back
		// on Socket.IO (which has no ack). Each must reach all members.
		accepted := m.acked
		if p == protoSocketIO {
			accepted = m.recv[m.slot]
		}
		room := members[m.room*cfg.Members : (m.room+1)*cfg.Members]
		for k := 0; k < m.sent; k++ {
			if !accepted.has(k) {
				continue
			}
			res.Accepted++
			for _, o := range room {
				if !o.recv[m.slot].has(k) {
					res.Lost++
				}
			}
		}
	}
	res.MsgsPerSec = float64(res.Confirmed) / cfg.Duration.Seconds()
	res.DelivPerSec = float64(res.Deliveries) / cfg.Duration.Seconds()
	res.EchoMs = percentiles(echo)
	res.OtherMs = percentiles(other)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	return res, nil
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// msgCounter reads the counter of a message request id "g<k>".
func msgCounter(id string) (int, bool) {
	if len(id) < 2 || id[0] != 'g' {
		return 0, false
	}
	k, err := strconv.Atoi(id[1:])
	return k, err == nil
}

// sendLoop is one sender's closed loop until end: a message is confirmed
// when its own copy (and on minichat its ack) came back.
func sendLoop(ctx context.Context, m *member, p proto, room string, cfg roomsConfig, t0, warmEnd, end time.Time) {
	buf := make([]byte, 0, cfg.MsgBytes+32)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := 0; time.Now().Before(end) && ctx.Err() == nil; k++ {
		buf = appendTag(buf[:0], m.sender, k, time.Since(t0).Microseconds(), cfg.MsgBytes)
		if err := m.c.sendGroup(room, buf, "g"+strconv.Itoa(k)); err != nil {
			return
		}
		m.sent = k + 1
		needEcho, needAck := true, p == protoMinichat
		timer.Reset(cfg.MsgTimeout)
	wait:
		for needEcho || needAck {
			select {
			case j := <-m.echoCh:
				needEcho = needEcho && j != k
			case j := <-m.ackCh:
				needAck = needAck && j != k
			case j := <-m.errCh:
				if j == k {
					break wait
				}
			case <-timer.C:
				m.timeouts++
				break wait
			case <-m.c.done:
				return
			case <-ctx.Done():
				return
			}
		}
		if now := time.Now(); !needEcho && !needAck && !now.Before(warmEnd) && now.Before(end) {
			m.confirmed++
		}
	}
}

// connectAll runs connect(i) for i in [0, n) with at most workers at once,
// and returns the first error.
func connectAll(ctx context.Context, workers, n int, connect func(context.Context, int) error) error {
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Go(func() {
			for i := range next {
				if e := connect(ctx, i); e != nil {
					once.Do(func() { err = fmt.Errorf("client %d: %w", i, e); cancel() })
				}
			}
		})
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// pcts are latency percentiles in milliseconds.
type pcts struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(us []int32) pcts {
	if len(us) == 0 {
		return pcts{}
	}
	s := slices.Clone(us)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.999999) - 1 // nearest rank
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / 1000
	}
	return pcts{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: float64(s[len(s)-1]) / 1000}
}
