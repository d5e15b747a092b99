module leasehold.local/pause

go 1.24
