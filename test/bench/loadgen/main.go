// Command loadgen sends GET requests at a fixed rate (open loop) over a fixed pool of kept-alive
// connections and prints every latency in milliseconds as JSON. It runs in its own process so that the
// measured tail is the server's, not the load generator's: latency counts from the instant a request was
// due, so a generator (or server) that falls behind shows up instead of being hidden.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

type result struct {
	LatenciesMs []float64 `json:"latenciesMs"`
	Errors      int       `json:"errors"`
	LateMaxMs   float64   `json:"lateMaxMs"`
}

func main() {
	url := flag.String("url", "", "URL to GET")
	rate := flag.Int("rate", 1000, "requests per second")
	seconds := flag.Float64("seconds", 10, "how long to send")
	connections := flag.Int("connections", 8, "kept-alive connections")
	flag.Parse()
	if *url == "" || *rate <= 0 || *seconds <= 0 || *connections <= 0 {
		fmt.Fprintln(os.Stderr, "usage: loadgen -url URL [-rate N] [-seconds S] [-connections C]")
		os.Exit(2)
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			MaxConnsPerHost:     *connections,
			MaxIdleConnsPerHost: *connections,
			DisableCompression:  true,
		},
	}
	total := int(float64(*rate) * *seconds)
	interval := time.Second / time.Duration(*rate)
	latencies := make([]float64, 0, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errors := 0
	lateMax := time.Duration(0)
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else if -wait > lateMax {
			lateMax = -wait
		}
		wg.Add(1)
		go func(due time.Time) {
			defer wg.Done()
			response, err := client.Get(*url)
			if err == nil {
				_, err = io.Copy(io.Discard, response.Body)
				response.Body.Close()
				if err == nil && response.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", response.StatusCode)
				}
			}
			elapsed := float64(time.Since(due).Microseconds()) / 1000
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errors++
				return
			}
			latencies = append(latencies, elapsed)
		}(due)
	}
	wg.Wait()
	out := result{LatenciesMs: latencies, Errors: errors, LateMaxMs: float64(lateMax.Microseconds()) / 1000}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
