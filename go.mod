module github.com/threadedselect/reactor

go 1.24.0

require golang.org/x/sys v0.36.0 // indirect
