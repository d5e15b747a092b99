module leasehold.local/bench/loadgen

go 1.26.0
