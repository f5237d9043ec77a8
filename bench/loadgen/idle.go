package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The idle scenario: N authenticated connections that send nothing; the
// server's resident memory before, with all of them up, and after they
// have all closed.

type idleConfig struct {
	Conns          int
	Settle         time.Duration // after the last connection is up, before measuring
	After          time.Duration // after all have closed, before measuring again
	ConnectTimeout time.Duration
}

func (c idleConfig) name() string { return fmt.Sprintf("idle %d connections", c.Conns) }

type idleResult struct {
	RSSBefore   int64   `json:"rssBefore"`
	RSSUp       int64   `json:"rssUp"`
	PerConn     float64 `json:"perConnBytes"`
	RSSAfter    int64   `json:"rssAfter"`
	Recovered   bool    `json:"recovered"` // RSSAfter within 20% of RSSBefore
	ConnectSecs float64 `json:"connectSecs"`
	ConnsPerSec float64 `json:"connsPerSec"`
	FDsUp       int     `json:"fdsUp"`
	Dropped     int     `json:"dropped"` // connections the server closed while idle
	PeakRSS     int64   `json:"peakRSS"`
	ServerCPU   float64 `json:"serverCPU"` // while connecting, % of one core
	GenCPU      float64 `json:"genCPU"`
}

func runIdle(ctx context.Context, p proto, srv *server, users []user, cfg idleConfig, onConnect, onUp, onDown func()) (*idleResult, error) {
	if len(users) < cfg.Conns {
		return nil, fmt.Errorf("idle: need %d users, have %d", cfg.Conns, len(users))
	}
	if !sleepUntil(ctx, time.Now().Add(time.Second)) { // let the fresh server settle
		return nil, ctx.Err()
	}
	res := &idleResult{}
	var err error
	if res.RSSBefore, err = rss(srv.pid); err != nil {
		return nil, err
	}
	conns := make([]*conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	if onConnect != nil {
		go onConnect()
	}
	meter := startCPU(srv.pid)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := connectAll(cctx, 32, cfg.Conns, func(ctx context.Context, i int) error {
		c, err := dial(ctx, p, srv.addr, users[i], nil)
		conns[i] = c
		return err
	}); err != nil {
		return nil, fmt.Errorf("idle: %w", err)
	}
	res.ConnectSecs = time.Since(start).Seconds()
	res.ConnsPerSec = float64(cfg.Conns) / res.ConnectSecs
	res.ServerCPU, res.GenCPU, _ = meter.stop()
	if !sleepUntil(ctx, time.Now().Add(cfg.Settle)) {
		return nil, ctx.Err()
	}
	if res.RSSUp, err = rss(srv.pid); err != nil {
		return nil, err
	}
	res.PerConn = float64(res.RSSUp-res.RSSBefore) / float64(cfg.Conns)
	res.FDsUp, _ = openFDs(srv.pid)
	res.PeakRSS, _ = peakRSS(srv.pid)
	if onUp != nil {
		onUp()
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, c := range conns {
		if !c.alive() {
			res.Dropped++
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c.closeGracefully()
		})
		conns[i] = nil
	}
	wg.Wait()
	if !sleepUntil(ctx, time.Now().Add(cfg.After)) {
		return nil, ctx.Err()
	}
	if res.RSSAfter, err = rss(srv.pid); err != nil {
		return nil, err
	}
	res.Recovered = float64(res.RSSAfter) <= 1.2*float64(res.RSSBefore)
	if onDown != nil {
		onDown()
	}
	return res, nil
}
