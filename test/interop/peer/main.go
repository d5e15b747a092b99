// Command peer is a client-go leader-election candidate (LeaseLock), the reference Leasehold must
// interoperate with and is measured against. It prints one JSON line per event on stdout and, with
// -record, appends term records in the format of controller/example/recorder.ts; times are
// CLOCK_MONOTONIC nanoseconds, the clock every process on the machine shares.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func monotonicNs() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return fmt.Sprint(ts.Nano())
}

type recorder struct {
	mu      sync.Mutex
	file    *os.File
	replica string
}

func (r *recorder) emit(entry map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entry["replica"] = r.replica
	line, _ := json.Marshal(entry)
	fmt.Println(string(line))
	if r.file != nil {
		r.file.Write(append(line, '\n'))
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig path")
	namespace := flag.String("namespace", "default", "Lease namespace")
	lease := flag.String("lease", "", "Lease name")
	name := flag.String("name", "", "replica name (identity is <name>_<pid>)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "lease duration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "retry period")
	record := flag.String("record", "", "append term records to this file")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	client := kubernetes.NewForConfigOrDie(config)
	identity := fmt.Sprintf("%s_%d", *name, os.Getpid())
	rec := &recorder{replica: *name}
	if *record != "" {
		rec.file, err = os.OpenFile(*record, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var leading sync.Mutex
	isLeading := false
	stop := func(reason string) {
		leading.Lock()
		defer leading.Unlock()
		if isLeading {
			isLeading = false
			rec.emit(map[string]any{"type": "term-end", "epoch": -1, "atNs": monotonicNs(), "why": reason})
		}
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		// Record the end of acting before the context is cancelled, so before client-go releases.
		stop("signal")
		cancel()
	}()

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1ObjectMeta(*lease, *namespace),
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: true,
		Name:            *lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaderCtx context.Context) {
				leading.Lock()
				isLeading = true
				leading.Unlock()
				rec.emit(map[string]any{"type": "term-start", "epoch": -1, "atNs": monotonicNs(), "identity": identity})
				<-leaderCtx.Done()
				stop("context done")
			},
			OnStoppedLeading: func() { stop("stopped leading") },
			OnNewLeader: func(holder string) {
				rec.emit(map[string]any{"type": "new-leader", "holder": holder, "atNs": monotonicNs()})
			},
		},
	})
	rec.emit(map[string]any{"type": "exit", "atNs": monotonicNs()})
}
